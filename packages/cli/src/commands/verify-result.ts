import type { CommandContext } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { renderTable } from '../table.js';

interface VerifyBody {
  status?: string;
  failedStep?: string;
  steps?: Array<{ step?: string; status?: string; message?: string; category?: string }>;
}

/** A verify answer: each step with its result and message; exit 6 when the check failed. */
export function printVerify(ctx: CommandContext, body: unknown): number {
  const v = (body ?? {}) as VerifyBody;
  if (ctx.output === 'json') ctx.out.json(body);
  else {
    ctx.out.print(renderTable(['step', 'result', 'message'], (v.steps ?? []).map((s) => [s.step, s.category ? `${s.status} (${s.category})` : s.status, s.message])));
    ctx.out.print(v.status === 'ok' ? 'verify: ok' : `verify: failed at ${v.failedStep ?? 'an unnamed step'}`);
  }
  return v.status === 'ok' ? EXIT.ok : EXIT.failed;
}
