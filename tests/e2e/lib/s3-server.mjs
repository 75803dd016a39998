// A real S3-compatible server for tests: s3rver (an S3 emulator on the local file system)
// on 127.0.0.1, behind a small proxy that adds what s3rver lacks:
//   - it checks every request's AWS Signature V4 with a third-party signer
//     (@smithy/signature-v4, the AWS SDK's) and the body against x-amz-content-sha256,
//     answering 403 SignatureDoesNotMatch otherwise (s3rver accepts any V4 signature);
//   - with --conditional-writes, PUT with If-None-Match: * answers 412 when the object
//     exists, as AWS S3 does (s3rver ignores the header on PUT).
// Both listen on ports the kernel picks. s3rver's ListObjectsV2 continuation tokens use DES,
// which OpenSSL 3 has only in its legacy provider: run node with --openssl-legacy-provider.
// Run as a program:
//   node --openssl-legacy-provider s3-server.mjs --dir DIR --port-file FILE [--bucket NAME]... [--conditional-writes]
//        [--tls-cert CERT.pem --tls-key KEY.pem]
// (with --tls-*, the proxy speaks HTTPS with that certificate: S3 over TLS) writes the proxy's port to FILE (atomically) once both listen; stops on SIGTERM/SIGINT
// or when its standard input closes. Used by tests/e2e/audit-s3.test.mjs and the C++
// S3 tests (src/net/s3_test_server.h). Credentials: S3RVER / S3RVER; region us-east-1;
// virtual-host-style names are <bucket>.s3.localhost.
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { createHash, createHmac } from 'node:crypto';
import { writeFileSync, renameSync } from 'node:fs';
import S3rver from 's3rver';
import { SignatureV4 } from '@smithy/signature-v4';

export const ACCESS_KEY_ID = 'S3RVER';
export const SECRET_ACCESS_KEY = 'S3RVER';
export const REGION = 'us-east-1';

class Sha256 {
  constructor(secret) { this.h = secret ? createHmac('sha256', secret) : createHash('sha256'); }
  update(data) { this.h.update(typeof data === 'string' ? Buffer.from(data) : data); }
  async digest() { return new Uint8Array(this.h.digest()); }
}

const signer = new SignatureV4({
  credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET_ACCESS_KEY },
  region: REGION, service: 's3', sha256: Sha256, uriEscapePath: false, applyChecksum: true,
});

function s3Error(res, status, code, message) {
  // The backend may fail after its answer started (headers already forwarded): then the
  // client sees a cut connection, never a crashed test server.
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`);
}

// The Authorization header a third-party signer computes for this request, signing the
// headers the request says it signed.
async function expectedAuthorization(req, body) {
  const auth = req.headers.authorization || '';
  const m = /SignedHeaders=([^,]+)/.exec(auth);
  if (!m) return undefined;
  const headers = {};
  for (const name of m[1].split(';')) {
    if (req.headers[name] === undefined) return undefined;
    headers[name] = req.headers[name];
  }
  const url = new URL(req.url, 'http://placeholder');
  const query = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const amzDate = req.headers['x-amz-date'] || '';
  const d = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!d) return undefined;
  const signingDate = new Date(Date.UTC(+d[1], +d[2] - 1, +d[3], +d[4], +d[5], +d[6]));
  const rawPath = req.url.split('?')[0];
  const signed = await signer.sign({
    method: req.method, protocol: 'http:', hostname: (req.headers.host || '').split(':')[0],
    path: rawPath, query, headers, body,
  }, { signingDate });
  return signed.headers.authorization;
}

export async function startS3Server({ dir, buckets = ['audit'], conditionalWrites = false, tls = null }) {
  const backend = new S3rver({
    address: '127.0.0.1', port: 0, silent: true, directory: dir,
    serviceEndpoint: 'localhost', configureBuckets: buckets.map((name) => ({ name })),
  });
  const { port: backendPort } = await backend.run();
  const forward = (req, body, res) => {
    // A connection of its own per request (agent: false): a reused keep-alive connection
    // to s3rver once failed to parse, mid-answer, in CI.
    const out = http.request({
      host: '127.0.0.1', port: backendPort, method: req.method, path: req.url,
      headers: req.headers, agent: false,
    }, (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
    out.on('error', (e) => s3Error(res, 502, 'BadGateway', String(e)));
    out.end(body);
  };
  const handler = (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks);
      try {
        const want = await expectedAuthorization(req, body);
        if (!want || want !== req.headers.authorization) {
          return s3Error(res, 403, 'SignatureDoesNotMatch',
            `expected ${want} got ${req.headers.authorization}`);
        }
        const declared = req.headers['x-amz-content-sha256'];
        if (declared !== 'UNSIGNED-PAYLOAD' &&
            declared !== createHash('sha256').update(body).digest('hex')) {
          return s3Error(res, 400, 'XAmzContentSHA256Mismatch', 'the body does not match x-amz-content-sha256');
        }
      } catch (e) {
        return s3Error(res, 400, 'InvalidRequest', String(e));
      }
      if (conditionalWrites && req.method === 'PUT' && req.headers['if-none-match'] === '*') {
        // Does the object exist? Ask the backend (s3rver answers anonymous requests).
        const probe = http.request({
          host: '127.0.0.1', port: backendPort, method: 'HEAD', path: req.url,
          headers: { host: req.headers.host },
        }, (r) => {
          r.resume();
          if (r.statusCode === 200) {
            return s3Error(res, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
          }
          forward(req, body, res);
        });
        probe.on('error', (e) => s3Error(res, 502, 'BadGateway', String(e)));
        probe.end();
        return;
      }
      forward(req, body, res);
    });
  };
  const proxy = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
  await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: proxy.address().port,
    endpoint: `${tls ? 'https' : 'http'}://127.0.0.1:${proxy.address().port}`,
    async close() {
      await new Promise((resolve) => proxy.close(resolve));
      await backend.close();
    },
  };
}

// Run as a program.
if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  const args = process.argv.slice(2);
  let dir, portFile, tlsCert, tlsKey, conditionalWrites = false;
  const buckets = [];
  for (let i = 0; i < args.length; ++i) {
    if (args[i] === '--dir') dir = args[++i];
    else if (args[i] === '--port-file') portFile = args[++i];
    else if (args[i] === '--bucket') buckets.push(args[++i]);
    else if (args[i] === '--conditional-writes') conditionalWrites = true;
    else if (args[i] === '--tls-cert') tlsCert = args[++i];
    else if (args[i] === '--tls-key') tlsKey = args[++i];
    else { console.error(`unknown argument ${args[i]}`); process.exit(2); }
  }
  if (!dir || !portFile) { console.error('usage: s3-server.mjs --dir DIR --port-file FILE'); process.exit(2); }
  if (!tlsCert !== !tlsKey) { console.error('--tls-cert and --tls-key go together'); process.exit(2); }
  const tls = tlsCert ? { cert: readFileSync(tlsCert), key: readFileSync(tlsKey) } : null;
  const server = await startS3Server({ dir, buckets: buckets.length ? buckets : ['audit'], conditionalWrites, tls });
  writeFileSync(`${portFile}.tmp`, `${server.port}\n`);
  renameSync(`${portFile}.tmp`, portFile);
  const stop = async () => { await server.close(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}
