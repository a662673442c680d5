/**
 * `HA_TIER_NAMESPACE=<other> npm run down` touches only <other>: it used to delete the objects of
 * dist/ha-tier.k8s.yaml, i.e. the main tier, whatever namespace it was told.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { LABEL } from '../../contract/index.js';
import { Kube, connect, deleteNamespace, progress } from './kube.js';

const OTHER = 'ha-tier-elsewhere';
interface Ctx { kube: Kube }
const Down = suite<Ctx>('npm run down in another namespace', {} as Ctx);
Down.before((ctx) => { ctx.kube = connect(); });
Down.after(async ({ kube }) => { await deleteNamespace(kube, OTHER); });

Down('leaves the main tier alone', async ({ kube }) => {
  const snapshot = async () => (await kube.apps.listNamespacedStatefulSet({ namespace: 'ha-tier' })).items.map((s) => `${s.metadata?.name}@${s.metadata?.uid}`).sort();
  const before = await snapshot();
  assert.is(before.length, 4, 'the main tier runs');
  await kube.core.createNamespace({ body: { metadata: { name: OTHER, labels: { [LABEL.profile]: 'kind' } } } });
  progress(`HA_TIER_NAMESPACE=${OTHER} npm run down`);
  const res = spawnSync('bash', ['kind/teardown.sh'], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, HA_TIER_NAMESPACE: OTHER } });
  assert.is(res.status, 0, res.stderr);
  assert.match(res.stderr, `in ${OTHER}`);
  assert.equal(await snapshot(), before, 'no StatefulSet of the main tier was deleted or replaced');
});

Down.run();
