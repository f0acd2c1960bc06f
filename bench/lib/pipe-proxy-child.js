'use strict';
// A bare node reverse proxy (http.request + pipe, keep-alive): what any node proxy on this machine
// can move without hashing or storing. Run as its own process: `node pipe-proxy-child.js <targetUrl> <port>`.
const http = require('node:http');
const { passThroughTo } = require('./pass-through.js');

const [targetUrl, port] = process.argv.slice(2);
http.createServer(passThroughTo(new URL(targetUrl), new http.Agent({ keepAlive: true }))).listen(Number(port), '127.0.0.1');
