/** `npm run down` deletes the tier of the namespace it is given, and nothing of another (tools/down.ts). */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tierObjects } from '../tools/down.js';

test('the objects deleted for a namespace all live in that namespace (never the main tier\'s)', () => {
  const objects = tierObjects('kind', 'ha-tier-elsewhere');
  assert.ok(objects.length > 20);
  assert.equal([...new Set(objects.map((o) => o.metadata.namespace))], ['ha-tier-elsewhere']);
  assert.not.ok(objects.some((o) => o.kind === 'Namespace'), 'the Namespace (and with it the volumes and Secrets) stays');
});
test('every StatefulSet, Service and the router are among them', () => {
  const names = tierObjects('minimal', 'x').map((o) => `${o.kind}/${o.metadata.name}`);
  for (const n of ['StatefulSet/etcd', 'StatefulSet/postgres', 'StatefulSet/redis', 'StatefulSet/sentinel', 'Deployment/postgres-router', 'Service/postgres-primary']) {
    assert.ok(names.includes(n), n);
  }
});
test.run();
