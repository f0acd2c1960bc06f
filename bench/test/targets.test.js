'use strict';
// The targets of issue 15 computed from one run's figures, and the report rendering them (met / missed)
// with the cost table.
const test = require('node:test');
const assert = require('node:assert/strict');
const { targetsOf } = require('../lib/targets.js');
const { costRows, COST_COLUMNS, cpuRatio } = require('../lib/cost.js');
const { renderText, renderMarkdown } = require('../lib/report.js');
const { summarize } = require('../lib/stats.js');

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const pull = (ms, ttfbMs, upstreamBytesRatio = 1) => ({ ms, ttfbMs, manifestMs: 40, mibPerSec: 512 / (ms / 1000), getsPerBlobMax: 1, upstreamBytesRatio });
const cost = (kind, image, temperature, round, cpu) => ({ kind, image, temperature, round, bytes: GiB, cpu });
const herdRound = (wallMs, directMs, frontend, hydrator) => ({ wallMs, directMs, getsPerBlobMax: 1, bytes: 2 * GiB, cpu: { frontend: 1, hydrator: 0.5, 'redis-server': 0.5 }, memory: { frontend: { peakRss: frontend * MiB }, hydrator: { peakRss: hydrator * MiB } } });

function run() {
  const cfg = { manifestConnections: [10, 50] };
  const manifests = { 10: { reference: [{ rps: 400, p99: 30 }], pullthrough: [{ rps: 20000, p99: 1 }] }, 50: { reference: [{ rps: 400, p99: 140 }], pullthrough: [{ rps: 20000, p99: 4 }] } };
  const samples = {
    'cold-big': { reference: [800, 900], pullthrough: [880, 850] },
    'warm-big': { reference: [2000, 2000], pullthrough: [2400, 2200] },
    store: { ceiling: [1000, 900] },
    loopback: { ceiling: [2600] },
  };
  const loopback = {
    upstream: { 'cold-big': { pullthrough: [{ upstreamBytesRatio: 1.0 }, { upstreamBytesRatio: 1.25 }] } },
    cost: [
      cost('reference', 'big', 'warm', 0, { registry: 1.0 }),
      { ...cost('pullthrough', 'big', 'warm', 0, { frontend: 0.5, hydrator: 0.1, 'redis-server': 0.1 }), first: cost('pullthrough', 'big', 'warm', 0, { frontend: 0.9, hydrator: 0, 'redis-server': 0 }) },
      cost('reference', 'big', 'cold', 0, { registry: 2.0 }),
      cost('pullthrough', 'big', 'cold', 0, { frontend: 3.0, hydrator: 0.5, 'redis-server': 0.1 }),
    ],
    peak: [{ kind: 'pullthrough', round: 0, memory: { frontend: 100 * MiB, hydrator: 80 * MiB, 'redis-server': 10 * MiB } }, { kind: 'reference', round: 0, memory: { registry: 60 * MiB } }],
  };
  const shaped = {
    samples: {
      big: { direct: [pull(5400, 60), pull(5500, 62)], reference: [pull(5600, 90), pull(5700, 95)], pullthrough: [pull(5500, 63), pull(5600, 70)] },
      layers: { direct: [pull(2000, 60)], reference: [pull(4000, 80)], pullthrough: [pull(2500, 61)] },
    },
  };
  const herd = { direct: [500, 520], reference: [], pullthrough: [herdRound(520, 500, 120, 70), herdRound(540, 520, 105, 85)] };
  return { samples, loopback, shaped, herd, herd3: [], manifests, cfg, link: { bytesPerSecond: 100 * MiB, rttMs: 20 } };
}

test('issue 15 targets come from the same run, paired by round, met or missed', () => {
  const byName = Object.fromEntries(targetsOf(run()).map((t) => [t.name.replace(/^shaped link \([^)]*\)/, 'shaped link'), t]));
  const t = (prefix) => Object.entries(byName).find(([name]) => name.startsWith(prefix))?.[1];
  // Rounds: 5400/5500 = 0.98, 5500/5600 = 0.98: met. Layers 2000/2500 = 0.80: missed.
  assert.deepEqual([t('shaped link: cold pull, pullthrough / direct through the link (big image)').actual, t('shaped link: cold pull, pullthrough / direct through the link (big image)').met], ['0.98', true]);
  assert.deepEqual([t('shaped link: cold pull, pullthrough / direct through the link (60 layers)').actual, t('shaped link: cold pull, pullthrough / direct through the link (60 layers)').met], ['0.80', false]);
  // TTFB differences 3 and 8 ms: median 5.5 ms > 5: missed.
  assert.deepEqual([t('shaped link: time to first byte, pullthrough - direct (big image)').actual, t('shaped link: time to first byte, pullthrough - direct (big image)').met], ['5.5 ms', false]);
  assert.equal(t('shaped link: time to first byte, pullthrough - direct (60 layers)').met, true);
  // Herd: 520/500 = 1.04, 540/520 = 1.04.
  assert.deepEqual([t('shaped link: herd').actual, t('shaped link: herd').met], ['1.04', true]);
  // Loopback cold vs reference: 1.10 and 0.94, median 1.02; upstream bytes worst round 1.25: missed.
  assert.deepEqual([t('loopback: cold pull, pullthrough / reference').actual, t('loopback: cold pull, pullthrough / reference').met], ['1.02', true]);
  assert.deepEqual([t('loopback: upstream bytes').actual, t('loopback: upstream bytes').met], ['1.25', false]);
  // 865 / 950 = 0.91.
  assert.deepEqual([t('loopback: cold pull, pullthrough / write-through ceiling').actual, t('loopback: cold pull, pullthrough / write-through ceiling').met], ['0.91', true]);
  // CPU: warm 0.7 / 1.0, cold 3.6 / 2.0 = 1.8 > 1.5; no layers figures: missed with '–'.
  assert.deepEqual([t('CPU s/GiB, pullthrough / reference (warm, big image').actual, t('CPU s/GiB, pullthrough / reference (warm, big image').met], ['0.70', true]);
  assert.deepEqual([t('CPU s/GiB, pullthrough / reference (cold, big image').actual, t('CPU s/GiB, pullthrough / reference (cold, big image').met], ['1.80', false]);
  // The first warm pull alone (kept as `first` by an entry of several): 0.9 / 1.0.
  assert.equal(byName['CPU s/GiB, pullthrough / reference (warm, big image, the first warm pull of each proxy only, paired by round)'].actual, '0.90');
  assert.deepEqual([t('CPU s/GiB, pullthrough / reference (warm, 60 layers').actual, t('CPU s/GiB, pullthrough / reference (warm, 60 layers').met], ['–', false]);
  // RSS: the worst round counts.
  assert.deepEqual([t('peak RSS in the herd, frontend').actual, t('peak RSS in the herd, frontend').met], ['120 MiB', false]);
  assert.deepEqual([t('peak RSS in the herd, hydrator').actual, t('peak RSS in the herd, hydrator').met], ['85.0 MiB', true]);
  assert.equal(t('herd: upstream GETs per blob').met, true);
  assert.equal(t('manifest hits requests/s').met, true);
});

test('with a write-through ceiling stored in each pulls round, the loopback cold target is paired by round, the ceiling phase\'s as context', () => {
  const input = run();
  // The ceiling phase: 865 / 950 = 0.91 (ratio of medians). The rounds' own ceilings: 880 / 920 = 0.96, 850 / 880 = 0.97.
  input.samples['cold-big'].store = [920, 880];
  input.samples['cold-big'].verifying = [900, 800];
  const rows = targetsOf(input);
  const at = rows.findIndex((r) => r.name.startsWith('loopback: cold pull, pullthrough / write-through ceiling'));
  assert.deepEqual(rows[at], { name: 'loopback: cold pull, pullthrough / write-through ceiling (big image, paired by round)', target: '>= 0.9', actual: '0.96', met: true });
  assert.deepEqual(rows.slice(at + 1, at + 4).map((r) => [r.name.slice(0, 50), r.actual, r.context]), [
    ['loopback: cold pull, pullthrough / write-through c', '0.91', true],
    // 900 / 950.
    ['write-through ceiling, pulls rounds / ceiling phas', '0.95', true],
    // 900 / 920 = 0.98, 800 / 880 = 0.91: median of two is their mean, 0.94.
    ['verifying write-through proxy with client / write-', '0.94', true],
  ]);
  // A paired ceiling the proxy does not reach is missed, whatever the ceiling phase says.
  input.samples['cold-big'].store = [1100, 1250]; // 0.80, 0.68
  const missed = targetsOf(input).find((r) => r.name.startsWith('loopback: cold pull, pullthrough / write-through ceiling'));
  assert.deepEqual([missed.actual, missed.met], ['0.74', false]);
});

test('the manifest ceiling (a bare node server) stands next to the p99 target as context, from the same rounds', () => {
  const input = run();
  input.manifests[50].ceiling = [{ rps: 30000, p99: 11 }, { rps: 29000, p99: 9 }, { rps: 31000, p99: 12 }];
  const rows = targetsOf(input);
  const at = rows.findIndex((r) => r.name === 'manifest hits p99 latency, pullthrough (50 connections)');
  assert.ok(at >= 0);
  assert.deepEqual({ ...rows[at + 1], name: rows[at + 1].name.slice(0, 71) }, { name: 'manifest p99 latency, bare node server answering one fixed manifest (50', target: '', actual: '11.0 ms', met: false, context: true });
  // Without ceiling figures (the 10-connection case here) there is no context row.
  assert.ok(!rows.some((r) => r.name.includes('bare node server') && r.name.includes('(10 connections')));
});

test('cost rows: CPU s/GiB per process and for all processes, peak RSS per process', () => {
  const input = run();
  assert.ok(Math.abs(cpuRatio(input.loopback.cost, 'cold-big') - 1.8) < 1e-9);
  const rows = costRows(input.loopback, input.herd);
  const row = (target, process) => rows.find((r) => r.target === target && r.process === process);
  assert.equal(row('pullthrough', 'frontend').cells['cold-big'].median, 3.0);
  assert.ok(Math.abs(row('pullthrough', 'all processes').cells['cold-big'].median - 3.6) < 1e-9);
  assert.equal(row('reference', 'registry').cells['warm-big'].median, 1.0);
  assert.equal(row('pullthrough', 'frontend').cells['rss-pulls'].median, 100);
  assert.equal(row('pullthrough', 'hydrator').cells['rss-herd'].max, 85);
  assert.equal(row('reference', 'registry').cells['cold-layers'].n, 0);
  assert.equal(row('pullthrough', 'frontend').cells['cpu-herd'].median, 0.5);
  assert.equal(row('pullthrough', 'all processes').cells['cpu-herd'].median, 1);
  assert.equal(row('reference', 'all processes').cells['cpu-herd'].n, 0);
});

test('the report renders the cost table and the targets, met and missed', () => {
  const input = run();
  const results = {
    meta: { date: '2026-12-02T00:00:00Z', machine: '2 cores', node: 'v20', command: 'npm run bench', rounds: 2, parallel: 3, quick: true, notes: [], sizes: 'small' },
    rows: [{ scenario: 'loopback: cold pull', metric: 'throughput', unit: 'MiB/s', reference: summarize([800, 900]), pullthrough: summarize([880, 850]) }],
    cost: { columns: COST_COLUMNS, rows: costRows(input.loopback, input.herd) },
    targets: targetsOf(input),
    info: [],
  };
  const text = renderText(results);
  assert.match(text, /cost per GiB served and peak RSS, per process/);
  assert.match(text, /pullthrough\s+frontend\s+3\.00\s+0\.50\s+–\s+–\s+0\.50\s+100\s+113 \(105–120\)/);
  assert.match(text, /\[met \] shaped link \(100 MiB\/s, 20 ms RTT\): cold pull, pullthrough \/ direct through the link \(big image\): 0\.98 \(target >= 0\.95\)/);
  assert.match(text, /\[MISS\] peak RSS in the herd, frontend \(worst round\): 120 MiB \(target <= 110 MiB\)/);
  const md = renderMarkdown(results);
  assert.match(md, /## Cost per GiB served and peak RSS, per process/);
  assert.match(md, /\| reference \| registry \| 2\.00 \| 1\.00 \| – \| – \| – \| 60\.0 \| – \|/);
  assert.match(md, /\| CPU s\/GiB, pullthrough \/ reference \(cold, big image, all processes\) \| <= 1\.5 \| 1\.80 \| \*\*missed\*\* \|/);
  assert.match(md, /\| loopback: upstream bytes \/ image size, pullthrough cold pull \(big image, worst round\) \| <= 1\.1 \| 1\.25 \| \*\*missed\*\* \|/);
});

test('context rows set the loopback cold and herd targets against the ceilings of the same run', () => {
  const input = run();
  input.samples.verify = { ceiling: [700, 800, 900] };
  input.herd.fanout = [{ wallMs: 650, directMs: 500 }, { wallMs: 624, directMs: 520 }];
  const targets = targetsOf(input);
  const context = targets.filter((t) => t.context);
  const find = (prefix) => context.find((t) => t.name.startsWith(prefix));
  // Medians: pullthrough 865, reference 850, ceiling 800.
  assert.equal(find('cold pull (big image), pullthrough / verifying write-through proxy').actual, '1.08');
  assert.equal(find('cold pull (big image), reference / verifying write-through proxy').actual, '1.06');
  // 650/500 = 1.30, 624/520 = 1.20: median 1.25; pullthrough / fan-out 520/650 = 0.80, 540/624 = 0.87.
  assert.equal(find('herd fan-out ceiling').actual, '1.25');
  assert.equal(find('herd all done, pullthrough / herd fan-out ceiling').actual, '0.83');
  // Next to the targets they are about; never counted as met.
  const names = targets.map((t) => t.name);
  assert.equal(names.indexOf(find('herd fan-out ceiling').name), names.findIndex((n) => n.startsWith('shaped link: herd of 20')) + 1);
  assert.equal(names.indexOf(find('cold pull (big image), pullthrough / verifying').name), names.indexOf('loopback: cold pull, pullthrough / reference (big image)') + 1);
  assert.ok(context.every((t) => t.met === false));
  const results = { meta: { date: 'd', machine: 'm', node: 'v20', command: 'c', rounds: 2, parallel: 3, quick: true, notes: [], sizes: 's' }, rows: [], targets, info: [] };
  assert.match(renderText(results), /\[ctx \] herd fan-out ceiling \(one fetch per blob fanned out, no hash, no store\) all done \/ one direct pull[^:]*: 1\.25\n/);
  assert.match(renderMarkdown(results), /\| herd all done, pullthrough \/ herd fan-out ceiling \(paired by round\) \|  \| 0\.83 \| context \|/);
  // Without the ceilings' figures (a run without them) the only context row is the first warm pull's CPU.
  assert.deepEqual(targetsOf(run()).filter((t) => t.context).map((t) => t.name), ['CPU s/GiB, pullthrough / reference (warm, big image, the first warm pull of each proxy only, paired by round)']);
  // With a pull through the ceiling in each round of the pulls phase, paired by round: pullthrough
  // 880/1000, 850/800: median 0.97; reference 800/1000, 900/800: median 0.96.
  input.samples['cold-big'].verifying = [1000, 800];
  const paired = targetsOf(input).filter((t) => t.context);
  assert.deepEqual(
    paired.filter((t) => t.name.includes('verifying')).map((t) => [t.name.slice(0, 40), t.actual, /\(paired by round/.test(t.name)]),
    [['cold pull (big image), pullthrough / ver', '0.97', true], ['cold pull (big image), reference / verif', '0.96', true]],
  );
});

test('the verifying herd ceiling says whether the herd target is within reach for a cache that verifies and stores', () => {
  const input = run();
  input.herd.fanout = [{ wallMs: 500, directMs: 500 }, { wallMs: 520, directMs: 520 }];
  input.herd.fanoutVerifying = [{ wallMs: 600, directMs: 500 }, { wallMs: 572, directMs: 520 }];
  const targets = targetsOf(input);
  const find = (prefix) => targets.find((t) => t.context && t.name.startsWith(prefix));
  // 600/500 = 1.20, 572/520 = 1.10: median 1.15; pullthrough / verifying 520/600 = 0.87, 540/572 = 0.94.
  assert.equal(find('herd verifying fan-out ceiling').actual, '1.15');
  assert.match(find('herd verifying fan-out ceiling').name, /out of reach on this machine for a cache that verifies and stores/);
  assert.equal(find('herd all done, pullthrough / herd verifying fan-out ceiling').actual, '0.91');
  assert.equal(find('herd verifying fan-out ceiling').met, false);
  // Right after the plain fan-out ceiling's rows.
  const names = targets.map((t) => t.name);
  assert.equal(names.indexOf(find('herd verifying fan-out ceiling').name), names.indexOf(find('herd all done, pullthrough / herd fan-out ceiling').name) + 1);
  // A run without it has neither row.
  delete input.herd.fanoutVerifying;
  assert.equal(targetsOf(input).filter((t) => t.name.includes('verifying fan-out')).length, 0);
});

test("the warm pulls' client CPU shows beside the warm throughput target, per proxy, as context", () => {
  const input = run();
  input.samples['warm-big-client'] = { reference: [1.02, 0.98, 1.1], pullthrough: [1.05, 0.9] };
  const targets = targetsOf(input);
  const names = targets.map((t) => t.name);
  const warm = names.indexOf('warm blob throughput, pullthrough / reference (big image)');
  const rows = targets.slice(warm + 1, warm + 3);
  assert.deepEqual(rows.map((t) => [t.name.match(/through the (\w+)/)[1], t.actual, t.context, t.met]), [['reference', '1.02', true, false], ['pullthrough', '0.98', true, false]]);
  // A proxy without samples has no row.
  delete input.samples['warm-big-client'].reference;
  assert.equal(targetsOf(input).filter((t) => /the bench client's CPU/.test(t.name)).length, 1);
});
