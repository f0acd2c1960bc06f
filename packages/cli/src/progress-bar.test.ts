import { Writable } from 'node:stream';
import { Output } from './output.js';
import { ProgressBar } from './progress-bar.js';

function stream(isTTY: boolean): Writable & { isTTY: boolean; columns: number; text: string } {
  const s = new Writable({
    write(chunk: Buffer, _enc, done) {
      s.text += chunk.toString('utf8');
      done();
    },
  }) as Writable & { isTTY: boolean; columns: number; text: string };
  s.text = '';
  s.isTTY = isTTY;
  s.columns = 100;
  return s;
}

const flush = () => new Promise((r) => setImmediate(r));

test('on a terminal one line is redrawn in place with \\r, then ended', async () => {
  const err = stream(true);
  const bar = new ProgressBar(new Output({ stdout: stream(false), stderr: err }));
  bar.update({ state: 'queued' });
  bar.update({ state: 'running', progress: { blobsDone: 1, blobsTotal: 4, bytesDone: 2048 } });
  bar.update({ state: 'hydrated', progress: { blobsDone: 4, blobsTotal: 4, bytesDone: 3 * 1024 * 1024 } });
  bar.finish();
  await flush();
  const frames = err.text.split('\r').slice(1);
  expect(frames.map((f) => f.trimEnd())).toEqual([
    `[${'.'.repeat(30)}] queued`,
    `[${'#'.repeat(8)}${'.'.repeat(22)}] running 1/4 blobs, 2.0 KiB`,
    `[${'#'.repeat(30)}] hydrated 4/4 blobs, 3.0 MiB`,
  ]);
  expect(err.text.endsWith('\n')).toBe(true);
});

test('elsewhere, a plain line each time the state or progress changes', async () => {
  const err = stream(false);
  const bar = new ProgressBar(new Output({ stdout: stream(false), stderr: err }));
  bar.update({ state: 'running', progress: { blobsDone: 0, blobsTotal: 2, bytesDone: 0 } });
  bar.update({ state: 'running', progress: { blobsDone: 0, blobsTotal: 2, bytesDone: 0 } });
  bar.update({ state: 'running', progress: { blobsDone: 2, blobsTotal: 2, bytesDone: 10 } });
  bar.finish();
  await flush();
  expect(err.text).toBe('running 0/2 blobs, 0 B\nrunning 2/2 blobs, 10 B\n');
});

test('a redacted secret never reaches the streams', async () => {
  const out = stream(false);
  const err = stream(false);
  const output = new Output({ stdout: out, stderr: err });
  output.redact('secret-token-123');
  output.print('token=secret-token-123');
  output.error('Bearer secret-token-123 failed');
  await flush();
  expect(out.text + err.text).toBe('token=[redacted]\nBearer [redacted] failed\n');
});
