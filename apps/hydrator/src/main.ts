import pino from 'pino';
import { loadHydratorConfig } from './config.js';
import { startHydrator } from './hydrator.js';

async function main(): Promise<void> {
  const config = loadHydratorConfig(process.env);
  const logger = pino({ level: config.PULLTHROUGH_LOG_LEVEL, base: { app: 'hydrator' } });
  const hydrator = await startHydrator(config, logger, process.env);
  logger.info({ concurrency: config.PULLTHROUGH_HYDRATION_CONCURRENCY, probes: hydrator.probeUrl }, 'hydrator running');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'closing workers');
    await hydrator.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`hydrator failed to start: ${(err as Error).message}\n`);
  process.exit(1);
});
