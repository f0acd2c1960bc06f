import pino from 'pino';
import { resolveAdminToken } from './admin-token.js';
import { loadFrontendConfig } from './config.js';
import { startFrontend } from './frontend.js';

async function main(): Promise<void> {
  const config = loadFrontendConfig(process.env);
  const logger = pino({ level: config.PULLTHROUGH_LOG_LEVEL, base: { app: 'frontend' } });
  const admin = await resolveAdminToken(config.PULLTHROUGH_ADMIN_TOKEN, config.PULLTHROUGH_DATA_DIR);
  if (admin.generated) {
    // Shown once, on the terminal only (never through the structured logs).
    process.stderr.write(`\nAdmin API token generated (saved to ${admin.path}, mode 0600):\n  ${admin.token}\n\n`);
  }
  const frontend = await startFrontend({ config, logger, adminToken: admin.token, secretEnv: process.env });
  logger.info({ data: frontend.dataUrl, admin: frontend.adminUrl, rules: frontend.rules.rules.size }, 'frontend listening');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining');
    await frontend.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`frontend failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
