/**
 * The transport limit of the large-object benchmark: a bare node:http (HTTP/1.1) server that
 * discards uploaded bytes and produces downloads from one shared buffer, run as its own process
 * (`node dist/bench/http-sink.js`; it prints `http-sink listening <url>`).
 *
 * It answers just enough of S3's shape for the same load generator (bench/s3-load.ts: same
 * client, same signing, same pool) to drive it like the real servers: HEAD/PUT/DELETE of a
 * bucket succeed, PUT of an object counts and drops the body and remembers only its size, GET
 * and HEAD answer that size, a listing is empty. No signature checks, no disk, no parsing
 * beyond the URL: what remains is HTTP over loopback.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';

const CHUNK = randomBytes(1024 * 1024);
const EMPTY_LIST = '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>';

/** Object sizes by path: a few numbers, never the bytes. */
const sizes = new Map<string, number>();

/** Writes `size` bytes from the shared chunk, waiting for 'drain' when the socket is full. */
async function produce(res: ServerResponse, size: number): Promise<void> {
  for (let left = size; left > 0;) {
    const n = Math.min(left, CHUNK.length);
    left -= n;
    if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
      await new Promise<void>((resolve) => {
        const done = (): void => { res.off('drain', done); res.off('close', done); resolve(); };
        res.once('drain', done).once('close', done);
      });
      if (res.destroyed) return;
    }
  }
  res.end();
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://sink');
  const isObject = url.pathname.indexOf('/', 1) > 0;
  const method = req.method ?? 'GET';
  if (method === 'PUT' && isObject) {
    let n = 0;
    req.on('data', (c: Buffer) => { n += c.length; });
    req.on('end', () => {
      sizes.set(url.pathname, n);
      res.writeHead(200, { etag: '"sink"', 'content-length': 0 }).end();
    });
    return;
  }
  req.resume();
  const size = sizes.get(url.pathname);
  if (!isObject) {
    if (method === 'GET') res.writeHead(200, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(EMPTY_LIST) }).end(EMPTY_LIST);
    else res.writeHead(method === 'DELETE' ? 204 : 200, { 'content-length': 0 }).end();
  } else if (method === 'DELETE') {
    sizes.delete(url.pathname);
    res.writeHead(204).end();
  } else if (size === undefined) {
    res.writeHead(404, { 'content-length': 0 }).end();
  } else if (method === 'HEAD') {
    res.writeHead(200, { 'content-length': size }).end();
  } else {
    res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
    void produce(res, size);
  }
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  process.stdout.write(`http-sink listening http://127.0.0.1:${port}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
