import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AddressInUseError, withFreePort } from './free-port.js';
import { listensOn } from './port-owner.js';
import { cleanEnv, startProcess } from './managed-process.js';
import { registryConfig, type RegistryAuthConfig } from './registry-config.js';
import { runCommand } from './run-command.js';
import { createSigningKey } from './signing-key.js';
import { tempDir, type TempDir } from './temp-dir.js';
import { startTokenServer, type AcrAuthOptions, type TokenServer } from './token-server.js';
import { waitUntil } from './wait-until.js';

export type RegistryAuthMode = 'none' | 'token' | 'basic';

export interface RegistryOptions {
  auth?: RegistryAuthMode;
  /** Defaults to `tester` (ignored when auth is 'none'). */
  username?: string;
  /** Defaults to `tester-password` (ignored when auth is 'none'). */
  password?: string;
  /** Token mode: the token server grants `pull` to anonymous clients, like Docker Hub. */
  anonymousPull?: boolean;
  /** Token mode: the token server is also an emulated ACR auth endpoint (`/oauth2/exchange`, `/oauth2/token`). */
  acr?: AcrAuthOptions;
}

export interface UpstreamRegistry {
  /** `127.0.0.1:<port>` of the registry itself. */
  readonly host: string;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly auth: RegistryAuthMode;
  readonly username?: string;
  readonly password?: string;
  /** Present in token mode. */
  readonly tokenServer?: TokenServer;
  /** docker-registry's log (stdout + stderr). */
  readonly logPath: string;
  /** docker-registry's process id (the bench reads its CPU from /proc). */
  readonly pid: number;
  /** The filesystem storage root (`docker/registry/v2/...` lives under it). */
  readonly storageDir: string;
  /** Kill the registry (and token server), remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

const SERVICE = 'pullthrough-test-registry';
const ISSUER = 'pullthrough-test-token-issuer';

/** Debian's `docker-registry` (CNCF distribution 2.8) on loopback with filesystem storage. */
export async function startRegistry(options: RegistryOptions = {}): Promise<UpstreamRegistry> {
  const mode = options.auth ?? 'none';
  const username = mode === 'none' ? undefined : (options.username ?? 'tester');
  const password = mode === 'none' ? undefined : (options.password ?? 'tester-password');
  const dir = await tempDir('registry-');
  let tokenServer: TokenServer | undefined;
  try {
    const storageDir = join(dir.path, 'storage');
    await mkdir(storageDir);
    let auth: RegistryAuthConfig = { kind: 'none' };
    if (mode === 'basic') {
      const htpasswdPath = join(dir.path, 'htpasswd');
      const { stdout } = await runCommand('htpasswd', ['-Bbn', username!, password!]);
      await writeFile(htpasswdPath, stdout.toString('utf8').trim() + '\n');
      auth = { kind: 'basic', htpasswdPath };
    } else if (mode === 'token') {
      const signingKey = await createSigningKey(dir.path);
      tokenServer = await startTokenServer({
        signingKey,
        service: SERVICE,
        issuer: ISSUER,
        username: username!,
        password: password!,
        anonymousPull: options.anonymousPull ?? false,
        ...(options.acr ? { acr: options.acr } : {}),
      });
      auth = { kind: 'token', realm: tokenServer.realm, service: SERVICE, issuer: ISSUER, rootCertBundle: signingKey.certPath };
    }
    const started = await withFreePort((port) => launch(dir, port, storageDir, auth));
    const host = `127.0.0.1:${started.port}`;
    const server = tokenServer;
    let stopped: Promise<void> | undefined;
    return {
      host,
      url: `http://${host}`,
      auth: mode,
      username,
      password,
      tokenServer: server,
      logPath: started.logPath,
      pid: started.pid,
      storageDir,
      stop: () =>
        (stopped ??= (async () => {
          await started.stop();
          await server?.stop();
          await dir.remove();
        })()),
    };
  } catch (err) {
    await tokenServer?.stop();
    await dir.remove();
    throw err;
  }
}

async function launch(dir: TempDir, port: number, storageDir: string, auth: RegistryAuthConfig) {
  const configPath = join(dir.path, `config-${port}.yml`);
  const logPath = join(dir.path, 'registry.log');
  await writeFile(configPath, registryConfig({ port, storageDir, auth }));
  const proc = await startProcess({
    command: 'docker-registry',
    args: ['serve', configPath],
    logPath,
    ownedDir: dir.path,
    // distribution maps REGISTRY_* variables onto its config (skopeo's REGISTRY_AUTH_FILE would break it).
    env: cleanEnv(['REGISTRY_']),
  });
  try {
    await waitUntil(
      async () => {
        const res = await fetch(`http://127.0.0.1:${port}/v2/`, { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        return (res.status === 200 || res.status === 401) && listensOn(proc.pid, port); // ours, not another test's
      },
      {
        what: `docker-registry on port ${port}`,
        abort: () => (proc.exitStatus() ? new Error(`docker-registry exited (${proc.exitStatus()}): ${proc.logTail()}`) : undefined),
      },
    );
  } catch (err) {
    await proc.stop();
    if (/address already in use/i.test(proc.logTail())) throw new AddressInUseError(port, err);
    throw err;
  }
  return { port, logPath, pid: proc.pid, stop: () => proc.stop() };
}
