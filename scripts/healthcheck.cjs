#!/usr/bin/env node
// Container healthcheck (no curl in the image): exits 0 when URL answers 2xx, 1 otherwise.
//   node scripts/healthcheck.cjs http://127.0.0.1:9000/-/health       gateway (HTTP/1.1)
//   node scripts/healthcheck.cjs --h2 http://127.0.0.1:7001/-/health  brick (cleartext HTTP/2, h2c)
'use strict';
const args = process.argv.slice(2);
const h2 = args[0] === '--h2';
const url = new URL(h2 ? args[1] : args[0]);
const TIMEOUT_MS = Number(process.env.HEALTHCHECK_TIMEOUT_MS || 4000);
const fail = (why) => { process.stderr.write(`unhealthy: ${url.href}: ${why}\n`); process.exit(1); };
setTimeout(() => fail(`no answer in ${TIMEOUT_MS} ms`), TIMEOUT_MS).unref();

if (h2) {
  const session = require('node:http2').connect(url.origin);
  session.on('error', (e) => fail(e.message));
  const req = session.request({ ':method': 'GET', ':path': url.pathname + url.search });
  req.on('response', (headers) => {
    const status = Number(headers[':status']);
    req.resume();
    req.on('end', () => { session.close(); status >= 200 && status < 300 ? process.exit(0) : fail(`status ${status}`); });
  });
  req.on('error', (e) => fail(e.message));
  req.end();
} else {
  require('node:http').get(url, (res) => {
    res.resume();
    res.on('end', () => (res.statusCode >= 200 && res.statusCode < 300 ? process.exit(0) : fail(`status ${res.statusCode}`)));
  }).on('error', (e) => fail(e.message));
}
