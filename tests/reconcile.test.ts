/** What `npm run up` changes in the components' own state (tools/reconcile.ts): etcd permissions, Patroni's configuration. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { configPatch, permissionChanges, prefixRangeEnd } from '../tools/reconcile.js';

const b64 = (s: string) => Buffer.from(s, 'latin1').toString('base64');

const Etcd = suite('etcd permissions');
Etcd('a prefix ends where etcd says it does (its last byte plus one)', () => {
  assert.is(prefixRangeEnd('/service/postgres/'), '/service/postgres0');
  assert.is(prefixRangeEnd('chaos/'), 'chaos0');
});
Etcd('grants what is missing and revokes what is not asked for', () => {
  const user = { name: 'router', grants: [{ prefix: '/service/postgres/', permission: 'read' as const }] };
  const current = [
    { permType: 2, key: b64('/service/postgres/'), range_end: b64('/service/postgres0') }, // readwrite: too much
    { permType: 0, key: b64('/other/'), range_end: b64('/other0') },
  ];
  const { grant, revoke } = permissionChanges(user, current);
  assert.equal(grant, user.grants);
  assert.equal(revoke, [{ key: '/service/postgres/', rangeEnd: '/service/postgres0' }, { key: '/other/', rangeEnd: '/other0' }]);
});
Etcd('nothing to do when the role holds exactly the grants', () => {
  const user = { name: 'patroni', grants: [{ prefix: '/service/postgres/', permission: 'readwrite' as const }] };
  assert.equal(permissionChanges(user, [{ permType: 2, key: b64('/service/postgres/'), range_end: b64('/service/postgres0') }]), { grant: [], revoke: [] });
});
Etcd.run();

const Patroni = suite('Patroni configuration');
Patroni('only what differs is patched, nested objects included', () => {
  assert.equal(configPatch({ ttl: 20, postgresql: { parameters: { ssl: 'on', max_connections: 100 } } },
    { ttl: 30, loop_wait: 10, postgresql: { parameters: { ssl: 'on', max_connections: 50 } } }),
  { ttl: 20, postgresql: { parameters: { max_connections: 100 } } });
  assert.is(configPatch({ ttl: 20 }, { ttl: 20 }), undefined);
});
Patroni.run();
