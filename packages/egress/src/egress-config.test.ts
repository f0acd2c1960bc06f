import { z } from 'zod';
import { egressAllowSetting } from './egress-config.js';
import { EgressPolicy } from './egress-policy.js';

const schema = z.object({ PULLTHROUGH_EGRESS_ALLOW: egressAllowSetting });

test('the config field gives the entries as written, and the policy built from them allows what they list', () => {
  const config = schema.parse({ PULLTHROUGH_EGRESS_ALLOW: ' 127.0.0.1:5100, registry.internal ,10.0.0.0/8 ' });
  expect(config.PULLTHROUGH_EGRESS_ALLOW).toEqual(['127.0.0.1:5100', 'registry.internal', '10.0.0.0/8']);
  const policy = new EgressPolicy({ allow: config.PULLTHROUGH_EGRESS_ALLOW });
  expect(policy.decide('127.0.0.1', '127.0.0.1', 5100)).toEqual({ allowed: true });
  expect(policy.decide('127.0.0.1', '127.0.0.1', 5101)).toMatchObject({ allowed: false, refusal: 'loopback' });
  expect(schema.parse({}).PULLTHROUGH_EGRESS_ALLOW).toEqual([]);
});

test('a bad entry fails with the field path and names the entry', () => {
  const parsed = schema.safeParse({ PULLTHROUGH_EGRESS_ALLOW: '127.0.0.1,10.0.0.0/40' });
  expect(parsed.success).toBe(false);
  expect(parsed.error!.issues).toEqual([expect.objectContaining({ path: ['PULLTHROUGH_EGRESS_ALLOW'], message: expect.stringContaining('10.0.0.0/40') })]);
});
