/**
 * The tier's credentials (tools/credentials.ts [--namespace NS | --descriptor dist/descriptor/tier.json]
 * [--renew]; run by `npm run up` before it applies the manifests): what the synthesized tier says it mounts, made in Secrets through the
 * API, never through a command line, a ConfigMap or a log.
 *
 *   - Passwords: every key of every credentials Secret of the descriptor (`secrets`), 32 random
 *     characters. A Secret that exists keeps its values; keys a newer version added are filled in.
 *   - Certificates: the tier's own CA (Secret `ha-tier-ca`: ECDSA P-256, 10 years), made once; every
 *     certificate of the descriptor (`certificates`) issued from it (P-256, 1 year) into a Secret of
 *     type kubernetes.io/tls with `tls.crt`, `tls.key` and `ca.crt`. A certificate is issued again
 *     when its Secret is missing, its names or usage changed, it was not issued by the current CA, or
 *     it expires within 30 days; `--renew` issues every one again.
 *
 * Keys are made by openssl in a private temporary directory (mode 0700) that is removed afterwards; a
 * key only ever travels as a file or in the API request that stores it.
 * After `--renew`, restart the members to load the new certificates: `npx tsx tools/rollout.ts
 * --restart` (leader last). Rotating the CA itself is a procedure: docs/security.md.
 */
import * as k8s from '@kubernetes/client-node';
import { X509Certificate, createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CA_SECRET, CertificateSpec, DEFAULT_NAMESPACE, LABEL, PART_OF, TLS_FILES, TierDescriptor } from '../contract/index.js';
import { Kube, UserError, connect, isNotFound } from './kube.js';
import { loadTier } from './tier.js';

const DAY = 86_400_000;
/** Certificates are issued again when they expire within this long. */
export const RENEW_BEFORE_DAYS = 30;
const CA_DAYS = 3650;
const LEAF_DAYS = 365;
/** The annotation recording what a certificate Secret was issued for (a hash of its spec). */
const SPEC_ANNOTATION = 'ha-tier.dev/certificate-spec';

const labels = { [LABEL.partOf]: PART_OF };
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64').toString('utf8') : '');

/** A password for a credentials Secret: 32 characters of [A-Za-z0-9_-]. */
export function newPassword(): string {
  return randomBytes(24).toString('base64url');
}

/** The hash recorded on a certificate Secret: its spec, so that a change of names or usage reissues it. */
export function specHash(spec: CertificateSpec): string {
  return createHash('sha256').update(JSON.stringify([spec.commonName ?? null, [...spec.dnsNames].sort(), [...spec.ipAddresses].sort(), spec.usage])).digest('hex').slice(0, 16);
}

/** The subject of a certificate: its common name, or O=ha-tier, OU=<secret> for one that must name no etcd user. */
export function subjectOf(spec: CertificateSpec): string {
  return spec.commonName ? `/O=${PART_OF}/CN=${spec.commonName}` : `/O=${PART_OF}/OU=${spec.secret}`;
}

/** The openssl extension section of a leaf certificate. */
export function extensionsOf(spec: CertificateSpec): string {
  const san = [...spec.dnsNames.map((d) => `DNS:${d}`), ...spec.ipAddresses.map((ip) => `IP:${ip}`)];
  return [
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    // Servers are clients too: etcd members of each other, Sentinels of the Redis servers.
    `extendedKeyUsage = ${spec.usage === 'server' ? 'serverAuth, clientAuth' : 'clientAuth'}`,
    ...(san.length ? [`subjectAltName = ${san.join(', ')}`] : []),
    'subjectKeyIdentifier = hash',
    'authorityKeyIdentifier = keyid',
    '',
  ].join('\n');
}

/** Why the certificate in a Secret must be issued again, or undefined when it is good. */
export function reissueReason(secret: k8s.V1Secret | undefined, spec: CertificateSpec, caPem: string, now = Date.now()): string | undefined {
  if (!secret) return 'missing';
  if (secret.metadata?.annotations?.[SPEC_ANNOTATION] !== specHash(spec)) return 'names or usage changed';
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(unb64(secret.data?.[TLS_FILES.cert]));
  } catch {
    return 'unreadable';
  }
  const ca = new X509Certificate(caPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey) || unb64(secret.data?.[TLS_FILES.ca]).trim() !== caPem.trim()) return 'not issued by the current CA';
  const left = Date.parse(cert.validTo) - now;
  if (left < RENEW_BEFORE_DAYS * DAY) return `expires ${cert.validTo}`;
  return undefined;
}

/** A self-contained openssl request configuration (the subject comes from -subj): no system openssl.cnf is read. */
const REQ_CONFIG = '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nO = ha-tier\n';

class Openssl {
  readonly dir = mkdtempSync(join(tmpdir(), 'ha-tier-certs-'));
  run(args: string[]): void {
    try {
      execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      const e = err as { code?: string; stderr?: Buffer };
      if (e.code === 'ENOENT') throw new UserError('openssl is needed to make the tier\'s certificates; install it (e.g. apt-get install openssl) and run this again');
      throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString().trim().split('\n').pop() ?? err}`);
    }
  }
  file(name: string): string { return join(this.dir, name); }
  read(name: string): string { return readFileSync(this.file(name), 'utf8'); }
  write(name: string, text: string): void { writeFileSync(this.file(name), text, { mode: 0o600 }); }
  key(name: string): void { this.run(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name]); }
  close(): void { rmSync(this.dir, { recursive: true, force: true }); }
}

/** A new CA: its certificate and key (PEM). */
export function makeCa(namespace: string): { cert: string; key: string } {
  const ssl = new Openssl();
  try {
    ssl.key('ca-key.pem');
    ssl.write('ca.cnf', `${REQ_CONFIG}[ca]\nbasicConstraints = critical, CA:TRUE, pathlen:0\nkeyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n`);
    ssl.run(['req', '-new', '-x509', '-config', 'ca.cnf', '-extensions', 'ca', '-key', 'ca-key.pem', '-subj', `/O=${PART_OF}/CN=${PART_OF} CA (${namespace})`,
      '-days', String(CA_DAYS), '-sha256', '-out', 'ca.pem']);
    return { cert: ssl.read('ca.pem'), key: ssl.read('ca-key.pem') };
  } finally {
    ssl.close();
  }
}

/** A leaf certificate for `spec`, issued by the CA: certificate and key (PEM). */
export function issue(spec: CertificateSpec, ca: { cert: string; key: string }): { cert: string; key: string } {
  const ssl = new Openssl();
  try {
    ssl.write('ca.pem', ca.cert);
    ssl.write('ca-key.pem', ca.key);
    ssl.write('leaf.ext', extensionsOf(spec));
    ssl.key('leaf-key.pem');
    ssl.write('req.cnf', REQ_CONFIG);
    ssl.run(['req', '-new', '-config', 'req.cnf', '-key', 'leaf-key.pem', '-subj', subjectOf(spec), '-out', 'leaf.csr']);
    ssl.run(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-set_serial', `0x${randomBytes(16).toString('hex')}`,
      '-days', String(LEAF_DAYS), '-sha256', '-extfile', 'leaf.ext', '-out', 'leaf.pem']);
    return { cert: ssl.read('leaf.pem'), key: ssl.read('leaf-key.pem') };
  } finally {
    ssl.close();
  }
}

async function readSecret(kube: Kube, namespace: string, name: string): Promise<k8s.V1Secret | undefined> {
  try {
    return await kube.core.readNamespacedSecret({ name, namespace });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Creates `body`, or replaces the existing Secret (at its resourceVersion: a concurrent change fails). */
async function writeSecret(kube: Kube, namespace: string, existing: k8s.V1Secret | undefined, body: k8s.V1Secret): Promise<void> {
  if (!existing) {
    await kube.core.createNamespacedSecret({ namespace, body });
    return;
  }
  if (existing.type && body.type && existing.type !== body.type) {
    // The type of a Secret cannot change: replace it.
    await kube.core.deleteNamespacedSecret({ name: body.metadata!.name!, namespace });
    await kube.core.createNamespacedSecret({ namespace, body });
    return;
  }
  await kube.core.replaceNamespacedSecret({
    name: body.metadata!.name!, namespace, body: { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion } },
  });
}

/** Makes every password Secret of the tier, or fills in the keys it lacks; returns what it did. */
export async function ensurePasswords(kube: Kube, tier: TierDescriptor): Promise<string[]> {
  const done: string[] = [];
  for (const { name, keys } of tier.secrets) {
    const existing = await readSecret(kube, tier.namespace, name);
    const missing = keys.filter((k) => !existing?.data?.[k]);
    if (!missing.length) {
      done.push(`secret ${name}: present`);
      continue;
    }
    const data = { ...(existing?.data ?? {}), ...Object.fromEntries(missing.map((k) => [k, b64(newPassword())])) };
    await writeSecret(kube, tier.namespace, existing, {
      metadata: { name, namespace: tier.namespace, labels: { ...labels, ...(existing?.metadata?.labels ?? {}) }, annotations: existing?.metadata?.annotations },
      type: existing?.type ?? 'Opaque',
      data,
    });
    done.push(existing ? `secret ${name}: added ${missing.join(', ')} (generated, not shown)` : `secret ${name}: created (passwords generated, not shown)`);
  }
  return done;
}

/** Makes the CA once and every certificate that is missing, changed, foreign or expiring (all with `renew`). */
export async function ensureCertificates(kube: Kube, tier: TierDescriptor, renew = false): Promise<string[]> {
  const ns = tier.namespace;
  const done: string[] = [];
  let caSecret = await readSecret(kube, ns, CA_SECRET);
  let ca = caSecret ? { cert: unb64(caSecret.data?.[TLS_FILES.cert]), key: unb64(caSecret.data?.[TLS_FILES.key]) } : undefined;
  if (!ca?.cert || !ca.key) {
    ca = makeCa(ns);
    caSecret = { metadata: { name: CA_SECRET, namespace: ns, labels }, type: 'kubernetes.io/tls', data: { [TLS_FILES.cert]: b64(ca.cert), [TLS_FILES.key]: b64(ca.key) } };
    await kube.core.createNamespacedSecret({ namespace: ns, body: caSecret });
    done.push(`CA ${CA_SECRET}: created (valid ${CA_DAYS / 365} years)`);
  }
  for (const spec of tier.certificates) {
    const existing = await readSecret(kube, ns, spec.secret);
    const why = renew ? 'renewal asked' : reissueReason(existing, spec, ca.cert);
    if (!why) continue;
    const leaf = issue(spec, ca);
    await writeSecret(kube, ns, existing, {
      metadata: { name: spec.secret, namespace: ns, labels, annotations: { [SPEC_ANNOTATION]: specHash(spec) } },
      type: 'kubernetes.io/tls',
      data: { [TLS_FILES.cert]: b64(leaf.cert), [TLS_FILES.key]: b64(leaf.key), [TLS_FILES.ca]: b64(ca.cert) },
    });
    done.push(`certificate ${spec.secret}: issued (${why})`);
  }
  if (!done.length) done.push(`${tier.certificates.length} certificates valid for ${RENEW_BEFORE_DAYS}+ days`);
  return done;
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      namespace: { type: 'string', default: process.env.HA_TIER_NAMESPACE ?? DEFAULT_NAMESPACE },
      descriptor: { type: 'string' },
      renew: { type: 'boolean', default: false },
    },
  });
  const kube = connect();
  // Before the first apply the namespace does not yet say which tier it holds: `npm run up` passes the
  // descriptor it just synthesized.
  const tier = values.descriptor ? JSON.parse(readFileSync(values.descriptor, 'utf8')) as TierDescriptor : await loadTier(kube, values.namespace!);
  for (const line of [...await ensurePasswords(kube, tier), ...await ensureCertificates(kube, tier, values.renew)]) process.stderr.write(`    ${line}\n`);
}

if (process.argv[1]?.endsWith('credentials.ts')) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`credentials: ${err instanceof UserError ? err.message : (err as Error).stack ?? err}`);
    process.exitCode = 2;
  });
}
