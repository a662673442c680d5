/**
 * `npm run up` on the lab: from a cluster without the tier to healthy, then again (nothing changes).
 * Times and memory are recorded in results/bench/up.json (a benchmark, not asserted).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { tierHealth } from '../../tools/health.js';
import { loadTier } from '../../tools/tier.js';
import { tierMemory } from '../../tools/memory.js';
import { Kube, connect, deleteNamespace, progress } from './kube.js';

const NS = 'ha-tier';
interface Ctx { kube: Kube; bench: Record<string, unknown> }
const Up = suite<Ctx>('npm run up', { bench: {} } as Ctx);

function run(args: string[], timeoutMs: number) {
  const started = Date.now();
  const res = spawnSync('bash', args, { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, HA_TIER_LAB: '1' } });
  return { ...res, seconds: (Date.now() - started) / 1000, output: `${res.stdout}${res.stderr}` };
}

Up.before(async (ctx) => {
  ctx.kube = connect();
  progress('removing any previous tier (namespace and volumes) to start from an empty cluster');
  await deleteNamespace(ctx.kube, NS);
});

Up.after((ctx) => {
  mkdirSync('results/bench', { recursive: true });
  writeFileSync('results/bench/up.json', `${JSON.stringify({ at: new Date().toISOString(), ...ctx.bench }, null, 2)}\n`);
});

Up('brings the tier from nothing to healthy, as the components see it', async (ctx) => {
  progress('npm run up (first run)');
  const first = run(['kind/bootstrap.sh'], 900_000);
  assert.is(first.status, 0, first.output.slice(-3000));
  assert.match(first.stderr, 'tier healthy');
  const applyToHealthy = /(\d+)s after apply/.exec(first.stderr)?.[1];
  ctx.bench.firstUpSeconds = first.seconds;
  ctx.bench.applyToHealthySeconds = applyToHealthy ? Number(applyToHealthy) : null;
  progress(`first up: ${first.seconds.toFixed(0)}s, apply to healthy ${applyToHealthy}s`);
  const tier = await loadTier(ctx.kube, NS);
  const health = await tierHealth(ctx.kube, tier);
  assert.ok(health.healthy, JSON.stringify(health.checks.filter((c) => !c.ok)));
  assert.equal(Object.values(tier.members).map((m) => m.replicas), [3, 3, 3, 3]);
});

Up('a second run changes nothing: no StatefulSet spec generation, no pod replaced', async (ctx) => {
  const snapshot = async () => {
    const sets = (await ctx.kube.apps.listNamespacedStatefulSet({ namespace: NS })).items.map((s) => `${s.metadata?.name}@${s.metadata?.generation}`);
    const pods = (await ctx.kube.core.listNamespacedPod({ namespace: NS })).items.map((p) => `${p.metadata?.name}@${p.metadata?.uid}`);
    const secrets = (await ctx.kube.core.listNamespacedSecret({ namespace: NS })).items.map((s) => `${s.metadata?.name}@${s.metadata?.resourceVersion}`);
    return { sets: sets.sort(), pods: pods.sort(), secrets: secrets.sort() };
  };
  const before = await snapshot();
  progress('npm run up (second run)');
  const second = run(['kind/bootstrap.sh'], 600_000);
  assert.is(second.status, 0, second.output.slice(-3000));
  assert.match(second.stderr, 'secret postgres-credentials: present', 'the passwords were kept, not made again');
  assert.equal(await snapshot(), before);
  ctx.bench.warmUpSeconds = second.seconds;
  progress(`second up: ${second.seconds.toFixed(0)}s`);
});

Up('status prints the table and exits 0 when healthy; --json for machines', async (ctx) => {
  const table = spawnSync('npx', ['--no-install', 'tsx', 'tools/status.ts'], { encoding: 'utf8' });
  assert.is(table.status, 0, table.stderr);
  assert.match(table.stdout, /^COMPONENT\s+POD\s+ROLE\s+STATE\s+LAG$/m);
  assert.match(table.stdout, /^postgres\s+postgres-\d\s+leader/m);
  const json = spawnSync('npx', ['--no-install', 'tsx', 'tools/status.ts', '--json', '--no-writes'], { encoding: 'utf8' });
  assert.is(json.status, 0, json.stderr);
  assert.is(JSON.parse(json.stdout).healthy, true);
  const memory = await tierMemory(ctx.kube, NS);
  ctx.bench.memoryBytes = memory.totalBytes;
  ctx.bench.memoryByPod = memory.byPod;
  progress(`tier memory (sum of working sets): ${(memory.totalBytes / 2 ** 20).toFixed(0)} MiB`);
  const tier = await loadTier(ctx.kube, NS);
  const pods = Object.values(tier.members).reduce((n, m) => n + m.replicas, 0) + tier.routerReplicas;
  assert.is(Object.keys(memory.byPod).filter((p) => p !== 'chaos-probe').length, pods);
});

Up.run();
