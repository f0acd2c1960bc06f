import { randomBytes } from 'node:crypto';
import type { ControlStore } from './control-store.js';

const KIND = 'deployment';
const NAME = 'id';

/**
 * This deployment's id, shared by every process that uses the same storage: made once (random,
 * no meaning) and kept in the control area. The apps put it in their upstream User-Agent, so a
 * request that comes back to this deployment through some forwarder (a rule pointing at a Service
 * address of the cache itself) is recognised and refused instead of looping.
 */
export async function deploymentId(control: Pick<ControlStore, 'getControl' | 'putControl' | 'createControl'>): Promise<string> {
  const stored = await control.getControl<{ id?: unknown }>(KIND, NAME);
  if (validId(stored)) return stored.id;
  // Processes starting at once on an empty store: only the first id is written, and all read it back.
  const made = { id: randomBytes(8).toString('hex') };
  if (stored === undefined) await control.createControl(KIND, NAME, made);
  else await control.putControl(KIND, NAME, made);
  const written = await control.getControl<{ id?: unknown }>(KIND, NAME);
  if (!validId(written)) throw new Error('deployment id: could not be stored');
  return written.id;
}

const validId = (stored: { id?: unknown } | undefined): stored is { id: string } => typeof stored?.id === 'string' && /^[0-9a-f]{16}$/.test(stored.id);

/** The User-Agent our upstream requests carry: product, and the deployment it came from. */
export function upstreamUserAgent(id: string): string {
  return `pullthrough (deployment ${id})`;
}

/** Did this request come from this very deployment (its User-Agent carries our id)? */
export function cameFromDeployment(userAgent: string | undefined, id: string): boolean {
  return userAgent !== undefined && userAgent.includes(`(deployment ${id})`);
}
