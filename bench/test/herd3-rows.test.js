'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { herd3Rows } = require('../lib/assemble.js');
const { renderText } = require('../lib/report.js');

const MiB = 1024 * 1024;
const round = (wallMs, gets) => ({ wallMs, clientsDone: 60, leaderTtfbMs: 40, followerTtfbP50Ms: 900, followerTtfbP95Ms: 4000, getsPerBlob: gets, getsPerBlobMax: Math.max(...gets), followersAfterUpstreamEnd: 0.5 });

test('herd3 rows: this cache only, one row per figure, medians over the rounds', () => {
  const rows = herd3Rows({ herd3Clients: 60, link: { bytesPerSecond: 100 * MiB, rttMs: 20 } }, [round(5000, [1, 1]), round(7000, [1, 2])], { herd: { totalBytes: 4 * MiB } });
  assert.deepEqual(
    rows.map((r) => r.metric),
    ['all clients done', 'time to first byte, leader (median of blobs)', 'time to first byte, followers p50', 'time to first byte, followers p95', 'upstream GETs per blob (max)', 'followers whose first byte came after the upstream body ended'],
  );
  assert.equal(rows[0].scenario, 'herd3: 60 clients over 3 frontends + 2 hydrators, uncached 4.00 MiB, shaped link 100 MiB/s, 20 ms RTT');
  assert.equal(rows[0].pullthrough.median, 6000);
  assert.equal(rows[4].pullthrough.max, 2);
  assert.equal(rows[5].pullthrough.median, 50);
  assert.ok(rows.every((r) => r.noRatio && r.reference === undefined));
  const text = renderText({ rows, targets: [] });
  assert.match(text, /herd3: 60 clients .* all clients done \(ms\)\s+6000 \(5000–7000\)/);
});

test('no herd3 rounds (the phase did not run): no rows', () => {
  assert.deepEqual(herd3Rows({ herd3Clients: 60, link: { bytesPerSecond: 100 * MiB, rttMs: 20 } }, [], {}), []);
});
