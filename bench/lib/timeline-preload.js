'use strict';
// `node --require bench/lib/timeline-preload.js` (bench/profile-shaped.js): records, for every request
// whose path names a sha256 digest (key: its first 12 hex) or a manifest (key: `manifest:<repository>`),
// when the frontend got it, when its upstream request was created, sent and answered (undici's
// diagnostics channels), and when its response head and first body bytes went out; plus the event loop's utilization and delay every 500 ms. Writes them as lines
// `<epoch ms> <key> <event>` / `<epoch ms> loop <elu> <mean ms> <p99 ms> <max ms>`
// to $PULLTHROUGH_TIMELINE_FILE every second and at exit. A diagnostic only: no product code reads it.
const dc = require('node:diagnostics_channel');
const http = require('node:http');
const { writeFileSync } = require('node:fs');
const { performance, monitorEventLoopDelay } = require('node:perf_hooks');

const file = process.env.PULLTHROUGH_TIMELINE_FILE;
if (file) {
  const lines = [];
  const now = () => (performance.timeOrigin + performance.now()).toFixed(3);
  const mark = (event, path) => {
    // A blob by its digest's first 12 hex; a manifest as `manifest:<repository>`.
    const digest = /sha256:([0-9a-f]{12})/.exec(path ?? '')?.[1];
    const repository = /\/v2\/(.+)\/manifests\//.exec(path ?? '')?.[1];
    const key = digest ?? (repository && `manifest:${repository}`);
    if (key) lines.push(`${now()} ${key} ${event}`);
  };
  dc.subscribe('http.server.request.start', ({ request }) => mark('in', request.url));
  dc.subscribe('undici:request:create', ({ request }) => mark('upstream-create', request.path));
  dc.subscribe('undici:client:sendHeaders', ({ request }) => mark('upstream-sent', request.path));
  dc.subscribe('undici:request:headers', ({ request }) => mark('upstream-headers', request.path));
  const writeHead = http.ServerResponse.prototype.writeHead;
  http.ServerResponse.prototype.writeHead = function timelineWriteHead(...args) {
    mark('head-out', this.req?.originalUrl ?? this.req?.url);
    return writeHead.apply(this, args);
  };
  const end = http.ServerResponse.prototype.end;
  http.ServerResponse.prototype.end = function timelineEnd(...args) {
    mark('end-called', this.req?.originalUrl ?? this.req?.url);
    return end.apply(this, args);
  };
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  let elu = performance.eventLoopUtilization();
  const flush = () => writeFileSync(file, `${lines.join('\n')}\n`);
  setInterval(() => {
    const used = performance.eventLoopUtilization(elu);
    elu = performance.eventLoopUtilization();
    if (delay.count > 0) lines.push(`${now()} loop ${used.utilization.toFixed(3)} ${(delay.mean / 1e6).toFixed(2)} ${(delay.percentile(99) / 1e6).toFixed(1)} ${(delay.max / 1e6).toFixed(1)}`);
    delay.reset();
  }, 500).unref();
  setInterval(flush, 1000).unref();
  process.on('exit', flush);
}
