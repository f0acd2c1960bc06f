'use strict';
// The shaped link as its own process (so its CPU is not the client's and is measured apart):
// `node shaping-proxy-child.js <targetUrl> <port> <bytesPerSecond> <rttMs>` (bench/lib/link-shaper.js).
const { createShapingServer } = require('./link-shaper.js');

const [targetUrl, port, bytesPerSecond, rttMs] = process.argv.slice(2);
const { server } = createShapingServer(targetUrl, { bytesPerSecond: Number(bytesPerSecond), rttMs: Number(rttMs) });
server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
