/** The router's decisions, from Patroni's keys in etcd (router/routing.ts). */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { desiredRouting, failsafeCandidate, mayWrite, parseDcs, sameEndpoints, sliceEndpoints } from '../router/routing.js';

const PREFIX = '/service/postgres/';
const member = (name: string, ip: string, role: string, extra: Record<string, unknown> = {}) => ({
  key: `${PREFIX}members/${name}`,
  value: JSON.stringify({ conn_url: `postgres://${ip}:5432/postgres`, api_url: `http://${ip}:8008/patroni`, state: 'running', role, ...extra }),
});
const streaming = { replication_state: 'streaming', timeline: 3 };
const healthy = [
  { key: `${PREFIX}leader`, value: 'postgres-1' },
  member('postgres-0', '10.244.1.5', 'replica', streaming),
  member('postgres-1', '10.244.2.7', 'primary'),
  member('postgres-2', '10.244.3.9', 'replica', streaming),
  { key: `${PREFIX}config`, value: '{"ttl":10}' },
  { key: '/service/other/leader', value: 'someone-else' },
];

const Parse = suite('parseDcs');
Parse('reads the leader key and every member\'s address, role and state; ignores other clusters', () => {
  const s = parseDcs(PREFIX, healthy, 42n);
  assert.is(s.leader, 'postgres-1');
  assert.is(s.revision, 42n);
  assert.equal(s.members.map((m) => [m.name, m.host, m.role, m.apiBase]), [
    ['postgres-0', '10.244.1.5', 'replica', 'http://10.244.1.5:8008'],
    ['postgres-1', '10.244.2.7', 'primary', 'http://10.244.2.7:8008'],
    ['postgres-2', '10.244.3.9', 'replica', 'http://10.244.3.9:8008'],
  ]);
});
Parse('a member key that is not JSON is left out rather than routed to', () => {
  const s = parseDcs(PREFIX, [...healthy, { key: `${PREFIX}members/postgres-3`, value: 'not json' }], 1n);
  assert.is(s.members.length, 3);
});
Parse.run();

const Route = suite('desiredRouting');
Route('the primary is the leader key\'s holder; replicas are the other running, streaming members', () => {
  const r = desiredRouting(parseDcs(PREFIX, healthy, 1n));
  assert.is(r.primary?.name, 'postgres-1');
  assert.equal(r.replicas.map((m) => m.name), ['postgres-0', 'postgres-2']);
});
Route('a leader that lost its key (frozen, partitioned, lost node) leaves the primary route even though its member key still says primary', () => {
  const r = desiredRouting(parseDcs(PREFIX, healthy.filter((kv) => !kv.key.endsWith('/leader')), 2n));
  assert.is(r.primary, null);
  assert.match(r.reason, 'no member holds the leader key');
  assert.equal(r.replicas.map((m) => m.name), ['postgres-0', 'postgres-2']);
});
Route('a new leader is routed as soon as it holds the key, before its member key says it was promoted', () => {
  const kvs = healthy.map((kv) => (kv.key.endsWith('/leader') ? { ...kv, value: 'postgres-2' } : kv));
  const r = desiredRouting(parseDcs(PREFIX, kvs, 3n));
  assert.is(r.primary?.name, 'postgres-2');
  assert.equal(r.replicas.map((m) => m.name), ['postgres-0'], 'the new leader is no longer a read replica; the old leader is not a replica yet');
});
Route('a replica that is starting, stopped or not streaming is not read from', () => {
  const kvs = [
    { key: `${PREFIX}leader`, value: 'postgres-1' },
    member('postgres-0', '10.244.1.5', 'replica', { state: 'starting' }),
    member('postgres-1', '10.244.2.7', 'primary'),
    member('postgres-2', '10.244.3.9', 'replica', { replication_state: 'in archive recovery' }),
  ];
  assert.equal(desiredRouting(parseDcs(PREFIX, kvs, 4n)).replicas, []);
});
Route('failsafe: with no leader key, a member that says it runs as primary in failsafe mode keeps the route', () => {
  const state = parseDcs(PREFIX, healthy.filter((kv) => !kv.key.endsWith('/leader')), 5n);
  assert.is(failsafeCandidate(state, 'postgres-1'), 'postgres-1');
  assert.is(failsafeCandidate(parseDcs(PREFIX, healthy, 5n), 'postgres-1'), null, 'only asked when the key is gone');
  const r = desiredRouting(state, 'postgres-1');
  assert.is(r.primary?.name, 'postgres-1');
  assert.match(r.reason, 'failsafe');
});
Route.run();

const Write = suite('slice writes');
Write('endpoints carry the pod\'s address and name; comparison ignores order', () => {
  const state = parseDcs(PREFIX, healthy, 1n);
  const eps = sliceEndpoints(state.members.filter((m) => m.role === 'replica'), 'ha-tier');
  assert.equal(eps[0], { addresses: ['10.244.1.5'], conditions: { ready: true, serving: true, terminating: false }, targetRef: { kind: 'Pod', namespace: 'ha-tier', name: 'postgres-0' } });
  assert.ok(sameEndpoints([...eps].reverse(), eps));
  assert.not.ok(sameEndpoints(eps.slice(0, 1), eps));
  assert.not.ok(sameEndpoints([{ addresses: ['10.244.9.9'], targetRef: { name: 'postgres-0' } }, eps[1]], eps), 'a new address is a change');
  assert.ok(sameEndpoints(undefined, []));
});
Write('a writer never replaces a view newer than its own', () => {
  assert.ok(mayWrite(undefined, 5n), 'an unwritten slice');
  assert.ok(mayWrite('5', 5n));
  assert.ok(mayWrite('4', 5n));
  assert.not.ok(mayWrite('6', 5n), 'a router that was frozen must not write back its older view');
  assert.not.ok(mayWrite('18446744073709551615', 5n), 'compared as integers, not strings or doubles');
});
Write.run();
