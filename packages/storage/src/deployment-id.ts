import { randomBytes } from 'node:crypto';
import { controlMadeOnce, type ControlStore } from './control-store.js';

const KIND = 'deployment';
const NAME = 'id';

/**
 * This deployment's id, shared by every process that uses the same storage: made once (random,
 * no meaning) and kept in the control area. The apps put it in their upstream User-Agent, so a
 * request that comes back to this deployment through some forwarder (a rule pointing at a Service
 * address of the cache itself) is recognised and refused instead of looping.
 */
export async function deploymentId(control: Pick<ControlStore, 'getControl' | 'putControl' | 'createControl'>): Promise<string> {
  const made = await controlMadeOnce(control, 'deployment id', { kind: KIND, name: NAME }, validId, () => ({ id: randomBytes(8).toString('hex') }));
  return made.id;
}

function validId(stored: unknown): stored is { id: string } {
  const id = (stored as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' && /^[0-9a-f]{16}$/.test(id);
}

/** The User-Agent our upstream requests carry: product, and the deployment it came from. */
export function upstreamUserAgent(id: string): string {
  return `pullthrough (deployment ${id})`;
}

/** Did this request come from this very deployment (its User-Agent carries our id)? */
export function cameFromDeployment(userAgent: string | undefined, id: string): boolean {
  return userAgent !== undefined && userAgent.includes(`(deployment ${id})`);
}
