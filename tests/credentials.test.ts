/** The tier's certificates (tools/credentials.ts), made by the real openssl and read back with node:crypto. */
import { X509Certificate } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { CertificateSpec } from '../contract/index.js';
import { issue, makeCa, newPassword, reissueReason, specHash, subjectOf } from '../tools/credentials.js';

const ca = makeCa('test');
const caCert = new X509Certificate(ca.cert);
const server: CertificateSpec = {
  secret: 'etcd-tls', commonName: 'etcd', dnsNames: ['*.etcd-headless.ns.svc.cluster.local', 'localhost'], ipAddresses: ['127.0.0.1'], usage: 'server',
};
const gatewayClient: CertificateSpec = { secret: 'etcd-client-patroni', dnsNames: [], ipAddresses: [], usage: 'client' };
const b64 = (s: string) => Buffer.from(s).toString('base64');
const secretOf = (spec: CertificateSpec, leaf: { cert: string }, caPem = ca.cert) =>
  ({ metadata: { annotations: { 'ha-tier.dev/certificate-spec': specHash(spec) } }, data: { 'tls.crt': b64(leaf.cert), 'ca.crt': b64(caPem) } });

const Certs = suite('certificates');
Certs('the CA is a CA, limited to signing leaves', () => {
  assert.ok(caCert.ca);
  assert.match(caCert.subject, /CN=ha-tier CA \(test\)/);
  assert.ok(Date.parse(caCert.validTo) - Date.now() > 9 * 365 * 86_400_000, 'valid about 10 years');
});
Certs('a server certificate: its names, server and client use, issued by the CA', () => {
  const leaf = new X509Certificate(issue(server, ca).cert);
  assert.is(leaf.subjectAltName, 'DNS:*.etcd-headless.ns.svc.cluster.local, DNS:localhost, IP Address:127.0.0.1');
  assert.equal(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.not.ok(leaf.ca);
  assert.ok(leaf.checkIssued(caCert) && leaf.verify(caCert.publicKey));
  assert.ok(Date.parse(leaf.validTo) - Date.now() < 366 * 86_400_000, 'valid one year');
});
Certs('a client certificate of an etcd gateway user names no etcd user (no common name)', () => {
  const leaf = new X509Certificate(issue(gatewayClient, ca).cert);
  assert.not.match(leaf.subject, /CN=/);
  assert.is(subjectOf(gatewayClient), '/O=ha-tier/OU=etcd-client-patroni');
  assert.equal(leaf.keyUsage, ['1.3.6.1.5.5.7.3.2']);
});
Certs('a certificate is issued again when missing, changed, foreign or about to expire, and only then', () => {
  const leaf = issue(server, ca);
  assert.is(reissueReason(secretOf(server, leaf), server, ca.cert), undefined);
  assert.is(reissueReason(undefined, server, ca.cert), 'missing');
  assert.is(reissueReason(secretOf(server, leaf), { ...server, dnsNames: [...server.dnsNames, 'etcd.ns.svc'] }, ca.cert), 'names or usage changed');
  assert.is(reissueReason(secretOf(server, leaf), server, makeCa('other').cert), 'not issued by the current CA');
  assert.match(reissueReason(secretOf(server, leaf), server, ca.cert, Date.now() + 340 * 86_400_000) ?? '', /^expires /);
});
Certs('passwords are 32 characters and differ', () => {
  const a = newPassword();
  assert.match(a, /^[A-Za-z0-9_-]{32}$/);
  assert.is.not(a, newPassword());
});
Certs.run();
