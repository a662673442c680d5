/** `npm run down` removes the tier but keeps volumes and secrets; `-- --volumes` removes those too. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { Kube, connect, isNotFound, progress } from './kube.js';

const NS = 'ha-tier';
interface Ctx { kube: Kube }
const Down = suite<Ctx>('npm run down', {} as Ctx);
Down.before((ctx) => { ctx.kube = connect(); });

Down('down deletes the workloads and keeps the volumes and secrets', async ({ kube }) => {
  progress('npm run down');
  const res = spawnSync('bash', ['kind/teardown.sh'], { encoding: 'utf8', timeout: 300_000 });
  assert.is(res.status, 0, res.stderr);
  assert.is((await kube.apps.listNamespacedStatefulSet({ namespace: NS })).items.length, 0);
  assert.ok((await kube.core.listNamespacedPersistentVolumeClaim({ namespace: NS })).items.length >= 9, 'PVCs kept');
  assert.ok((await kube.core.listNamespacedSecret({ namespace: NS })).items.some((s) => s.metadata?.name === 'postgres-credentials'));
});

Down('down --volumes deletes the namespace with its volumes', async ({ kube }) => {
  progress('npm run down -- --volumes');
  const res = spawnSync('bash', ['kind/teardown.sh', '--volumes'], { encoding: 'utf8', timeout: 300_000 });
  assert.is(res.status, 0, res.stderr);
  try {
    await kube.core.readNamespace({ name: NS });
    assert.unreachable('namespace still exists');
  } catch (err) {
    assert.ok(isNotFound(err), String(err));
  }
});

Down.run();
