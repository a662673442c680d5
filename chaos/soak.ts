/**
 * Soak mode: one long probe run while a random pod of the tier is deleted every so often. Each fault
 * is reported like a trial (write gap of the client it concerns, time back); the lost-write and
 * split-brain checks cover the whole run.
 */
import { CHAOS_PROBE, TierDescriptor } from '../contract/index.js';
import { tierHealth } from '../tools/health.js';
import { Kube, execIn, sleep } from '../tools/kube.js';
import { Event, System, SYSTEMS, Verify, splitBrain, writeGap } from './history.js';
import { PROBE_POD, TrialResult, deleteAndWaitBack, startProbe, waitHealthy } from './trial.js';

const systemOf = (pod: string): System => (pod.startsWith('postgres') ? 'pg' : pod.startsWith('etcd') ? 'etcd' : 'redis');

export async function soak(kube: Kube, tier: TierDescriptor, durationMs: number, everyMs: number, recoverTimeoutMs: number) {
  const ns = tier.namespace;
  const id = `soak-${Date.now().toString(36)}`;
  const events: Event[] = [];
  const probe = startProbe(kube, ns, id, events);
  probe.done.catch(() => {});
  await Promise.race([probe.ready, probe.done.then(() => { throw new Error('probe ended before it was ready'); }),
    sleep(90_000).then(() => { throw new Error('probe not ready within 90s'); })]);
  const faults: { pod: string; t0: number; podReadyMs: number | null; recoveredMs: number | null }[] = [];
  const end = Date.now() + durationMs;
  try {
    while (Date.now() + everyMs < end) {
      await sleep(everyMs);
      const h = await tierHealth(kube, tier, { writes: false });
      const pods = h.rows.map((r) => r.pod);
      const pod = pods[Math.floor(Math.random() * pods.length)];
      const t0 = Date.now();
      const podReadyMs = await deleteAndWaitBack(kube, ns, pod, false, t0, recoverTimeoutMs).catch(() => null);
      await waitHealthy(kube, tier, recoverTimeoutMs, `after deleting ${pod} in the soak`);
      faults.push({ pod, t0, podReadyMs, recoveredMs: Date.now() - t0 });
      process.stderr.write(`  soak: deleted ${pod}; back ${podReadyMs === null ? '–' : (podReadyMs / 1000).toFixed(1)}s, healthy ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
    }
  } finally {
    await execIn(kube, ns, PROBE_POD, CHAOS_PROBE.container, ['touch', `/tmp/stop-${id}`]).catch(() => undefined);
  }
  await probe.done;
  const verifies = new Map(events.filter((e): e is Verify => e.k === 'verify').map((v) => [v.s, v]));
  const lost = Object.fromEntries(SYSTEMS.map((s) => [s, verifies.get(s)?.missing.length ?? 0])) as Record<System, number>;
  const split = splitBrain(events).rounds.length;
  const results: TrialResult[] = faults.map((f, i) => {
    const s = systemOf(f.pod);
    const until = faults[i + 1]?.t0 ?? Date.now();
    const gap = writeGap(events, s, f.t0, until);
    return {
      scenario: `soak:${f.pod.replace(/-\d+$/, '')}`, namespace: ns, trial: i + 1, target: f.pod, force: false, faultAt: f.t0,
      oldLeader: '-', newLeader: null, newLeaderMs: null, writeGapMs: gap.gapMs, writeGapFrom: gap.from, failedWrites: gap.errors,
      podReadyMs: f.podReadyMs, recoveredMs: f.recoveredMs,
      lostAcked: i === faults.length - 1 ? lost : { pg: 0, redis: 0, etcd: 0 },
      ackedWrites: { pg: 0, redis: 0, etcd: 0 }, verified: { pg: true, redis: true, etcd: true },
      splitBrainRounds: i === faults.length - 1 ? split : 0, otherGapsMs: {}, events: i === 0 ? events : [],
    };
  });
  return { results, lost, splitBrainRounds: split };
}
