/**
 * How the tier's own programs (the router, the chaos probe) connect to its components: TLS material
 * and passwords read from mounted Secret files, never from the environment's values or argv.
 *
 *   - etcd: gRPC over TLS with a client certificate whose common name is the etcd user;
 *   - Patroni's REST API: HTTPS verified against the tier's CA (GETs need no credentials);
 *   - PostgreSQL: TLS with the server's name verified (`verify-full`);
 *   - Redis and Sentinel: TLS with the server's name verified, ACL user and password.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { TLS_FILES } from '../contract/index.js';

/** The files of a certificate Secret mounted at `dir` (`tls.crt`, `tls.key`, `ca.crt`). */
export interface TlsFiles {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export function readTlsDir(dir: string): TlsFiles {
  const read = (f: keyof typeof TLS_FILES) => {
    try {
      return readFileSync(join(dir, TLS_FILES[f]));
    } catch (err) {
      throw new Error(`cannot read ${join(dir, TLS_FILES[f])}: ${(err as Error).message}`);
    }
  };
  return { ca: read('ca'), cert: read('cert'), key: read('key') };
}

/** A password from a mounted Secret file (one trailing newline, if any, is not part of it). */
export function readSecretFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new Error(`cannot read the secret file ${path}: ${(err as Error).message}`);
  }
}

/** The `credentials` option of the etcd3 client for a client certificate. */
export function etcdCredentials(tls: TlsFiles): { rootCertificate: Buffer; certChain: Buffer; privateKey: Buffer } {
  return { rootCertificate: tls.ca, certChain: tls.cert, privateKey: tls.key };
}

/** TLS options that verify the server against `ca`, by the name the client connects to. */
export function verifiedTls(ca: Buffer): ConnectionOptions {
  return { ca, rejectUnauthorized: true };
}

/**
 * GET `url` over HTTPS verified against `ca` and parse the JSON body; rejects on a timeout, a status
 * other than 2xx/503 (Patroni answers 503 with a body for a member that is not what was asked), or a
 * body that is not JSON.
 */
export function httpsGetJson<T>(url: string, ca: Buffer, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => req.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)), timeoutMs);
    const done = (err: Error | null, value?: T) => { clearTimeout(timer); if (err) reject(err); else resolve(value as T); };
    const req = request(url, { method: 'GET', ca, rejectUnauthorized: true }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { body += chunk; });
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        if (!((code >= 200 && code < 300) || code === 503)) return done(new Error(`GET ${url}: HTTP ${code}`));
        try {
          done(null, JSON.parse(body) as T);
        } catch {
          done(new Error(`GET ${url}: the body is not JSON`));
        }
      });
      res.on('error', (err) => done(err));
    });
    req.on('error', (err) => done(err));
    req.end();
  });
}
