import type { Logger } from '@pullthrough/pull-through';
import { AuditLog } from './audit-log.js';

function capture(): { logger: Logger; lines: Array<{ obj: Record<string, unknown>; msg?: string }> } {
  const lines: Array<{ obj: Record<string, unknown>; msg?: string }> = [];
  const logger: Logger = {
    debug: () => undefined,
    info: (obj, msg) => lines.push({ obj: obj as Record<string, unknown>, msg }),
    warn: () => undefined,
    error: () => undefined,
    child: () => logger,
  };
  return { logger, lines };
}

test('a data-plane denial: the documented shape, marked as audit', () => {
  const { logger, lines } = capture();
  new AuditLog(logger).denied({
    plane: 'data',
    actor: { kind: 'user', subject: 'ci-bot' },
    method: 'GET',
    route: '/v2/:name/manifests/:reference',
    action: 'pull',
    target: 'team-a/app',
    address: '10.0.0.7',
    status: 403,
    reason: 'insufficient-scope',
    requestId: 'r-1',
  });
  expect(lines).toEqual([
    {
      msg: 'access denied',
      obj: {
        audit: true,
        event: 'access.denied',
        at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        plane: 'data',
        actor: { kind: 'user', subject: 'ci-bot' },
        method: 'GET',
        route: '/v2/:name/manifests/:reference',
        action: 'pull',
        target: 'team-a/app',
        address: '10.0.0.7',
        status: 403,
        outcome: 'denied',
        reason: 'insufficient-scope',
        requestId: 'r-1',
      },
    },
  ]);
});

test('a change: outcome from the status; long names are clipped', () => {
  const { logger, lines } = capture();
  const audit = new AuditLog(logger);
  const base = { plane: 'admin' as const, actor: { kind: 'admin-token' as const, subject: 'admin-token', role: 'admin' }, method: 'PUT', route: '/api/v1/cache-rules/:name', action: 'cache-rule.put', address: '127.0.0.1' };
  audit.change({ ...base, target: 'x'.repeat(1000), status: 201 });
  audit.change({ ...base, target: 'r', status: 422 });
  expect(lines.map((l) => [l.obj.event, l.obj.outcome, (l.obj.target as string).length])).toEqual([
    ['admin.change', 'succeeded', 201],
    ['admin.change', 'failed', 1],
  ]);
});
