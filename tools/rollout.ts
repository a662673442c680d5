/**
 * Leader-aware rolling updates (tools/rollout.ts [--namespace NS] [--restart]; run by `npm run up`).
 * `--restart` replaces every member, not only the outdated ones (to load renewed certificates or
 * changed passwords: docs/security.md).
 *
 * The tier's StatefulSets use the OnDelete update strategy: Kubernetes' own RollingUpdate replaces pods
 * by falling ordinal, and when the leader is not the lowest ordinal it is replaced before the others
 * and then again after handing over to a member that is itself still to be replaced: two leader changes
 * per rollout. Here (as PostgreSQL operators do it) the members that lead nothing go first, one at a
 * time, each waited for until the tier is healthy again; the leader goes last, through an ordinary
 * delete, so its preStop hand-over (Patroni switchover, Redis SENTINEL FAILOVER) or etcd's leadership
 * transfer on SIGTERM moves the lead to a member that already runs the new revision: one leader change.
 */
import { parseArgs } from 'node:util';
import { COMPONENTS, DEFAULT_NAMESPACE, MemberComponent, TierDescriptor, selectorOf } from '../contract/index.js';
import { TierHealth, tierHealth } from './health.js';
import { Kube, UserError, connect, isReady, listPods, waitFor } from './kube.js';
import { loadTier } from './tier.js';

/** The order members are replaced in: non-leaders by falling ordinal, then the leader. */
export function rolloutOrder(outdated: string[], leader: string | undefined): string[] {
  const ordinal = (p: string) => Number(p.slice(p.lastIndexOf('-') + 1));
  const rest = outdated.filter((p) => p !== leader).sort((a, b) => ordinal(b) - ordinal(a));
  return leader && outdated.includes(leader) ? [...rest, leader] : rest;
}

const leaderOf = (h: TierHealth, c: MemberComponent): string | undefined =>
  c === 'postgres' ? h.facts.patroniLeader : c === 'redis' ? h.facts.redisMaster : c === 'etcd' ? h.facts.etcdLeader : undefined;

async function waitHealthy(kube: Kube, tier: TierDescriptor, timeoutMs: number, why: string): Promise<TierHealth> {
  let last: TierHealth | undefined;
  try {
    return await waitFor(`a healthy tier ${why}`, timeoutMs, async () => {
      last = await tierHealth(kube, tier, { writes: false });
      return last.healthy ? last : undefined;
    }, 1000);
  } catch {
    throw new UserError(`the tier did not become healthy ${why} within ${timeoutMs / 1000}s: ${last?.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('; ')}`);
  }
}

/**
 * Replaces the outdated pods of `component` (every pod with `restart`), leader last; returns the pods
 * replaced.
 */
export async function rollout(kube: Kube, tier: TierDescriptor, component: MemberComponent, log: (m: string) => void, timeoutMs = 600_000, restart = false,
  onReplace?: (pod: string, leader: boolean) => void): Promise<string[]> {
  const ns = tier.namespace;
  const name = COMPONENTS[component].workload;
  const replaced: string[] = [];
  for (;;) {
    // The controller computes the new revision after a template change: until it has seen the
    // StatefulSet's latest generation, status.updateRevision is still the old one and every pod looks
    // up to date (a change applied a moment ago would be skipped).
    const sts = await waitFor(`the StatefulSet controller to see ${name}'s latest spec`, timeoutMs, async () => {
      const s = await kube.apps.readNamespacedStatefulSet({ name, namespace: ns });
      return (s.status?.observedGeneration ?? 0) >= (s.metadata?.generation ?? 0) ? s : undefined;
    }, 200);
    const revision = sts.status?.updateRevision;
    const pods = await listPods(kube, ns, selectorOf(component));
    const outdated = pods
      .filter((p) => (restart ? !replaced.includes(p.metadata!.name!) : p.metadata?.labels?.['controller-revision-hash'] !== revision))
      .map((p) => p.metadata!.name!);
    if (!revision || outdated.length === 0) return replaced;
    const health = await waitHealthy(kube, tier, timeoutMs, `before replacing a ${component} member`);
    const pod = rolloutOrder(outdated, leaderOf(health, component))[0];
    const before = pods.find((p) => p.metadata?.name === pod)!;
    const leader = pod === leaderOf(health, component);
    log(`${component}: replacing ${pod}${leader ? ' (the leader, last: it hands over)' : ''} (${outdated.length} outdated)`);
    onReplace?.(pod, leader);
    await kube.core.deleteNamespacedPod({ name: pod, namespace: ns });
    await waitFor(`${pod} to come back Ready at revision ${revision}`, timeoutMs, async () => {
      const p = await kube.core.readNamespacedPod({ name: pod, namespace: ns }).catch(() => undefined);
      return p && p.metadata?.uid !== before.metadata?.uid && isReady(p) && p.metadata?.labels?.['controller-revision-hash'] === revision ? p : undefined;
    }, 500);
    replaced.push(pod);
  }
}

/** Rolls every member component that has outdated pods (all with `restart`), then waits until the tier is healthy. */
export async function rolloutAll(kube: Kube, tier: TierDescriptor, log: (m: string) => void, restart = false): Promise<void> {
  for (const c of ['etcd', 'postgres', 'redis', 'sentinel'] as const) {
    const done = await rollout(kube, tier, c, log, 600_000, restart);
    if (done.length) log(`${c}: ${done.length} pod(s) now at the new revision (${done.join(', ')})`);
  }
  await waitHealthy(kube, tier, 600_000, 'after the rollout');
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { namespace: { type: 'string', default: process.env.HA_TIER_NAMESPACE ?? DEFAULT_NAMESPACE }, restart: { type: 'boolean', default: false } },
  });
  const kube = connect();
  const tier = await loadTier(kube, values.namespace!);
  await rolloutAll(kube, tier, (m) => process.stderr.write(`    ${m}\n`), values.restart);
}

if (process.argv[1]?.endsWith('rollout.ts')) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`rollout: ${err instanceof UserError ? err.message : (err as Error).stack ?? err}`);
    process.exitCode = 2;
  });
}
