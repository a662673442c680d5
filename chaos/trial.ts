/**
 * One trial: wait for a healthy tier, start the in-cluster probe, delete the scenario's target pod,
 * wait until the pod is back and the tier healthy again, stop the probe and analyse its history.
 */
import * as k8s from '@kubernetes/client-node';
import { Writable } from 'node:stream';
import { CHAOS_PROBE, COMPONENTS, LABEL, TierDescriptor } from '../contract/index.js';
import { TierHealth, tierHealth } from '../tools/health.js';
import { Kube, UserError, execIn, isNotFound, isReady, sleep, waitFor } from '../tools/kube.js';
import {
  Event, System, SYSTEMS, Verify, leaderTimeline, parseEvents, splitBrain, timeToNewLeader, writeGap,
} from './history.js';
import type { Scenario } from './scenarios/index.js';

export const PROBE_POD = CHAOS_PROBE.pod;

export interface TrialResult {
  scenario: string;
  namespace: string;
  trial: number;
  target: string;
  force: boolean;
  faultAt: number;
  oldLeader: string;
  newLeader: string | null;
  /** ms from the delete call until the component's own view showed a new leader. */
  newLeaderMs: number | null;
  /** ms: the client's longest interval between acknowledged writes around the fault. */
  writeGapMs: number | null;
  writeGapFrom: number | null;
  failedWrites: number;
  /** ms from the delete call until the replacement pod is Ready. */
  podReadyMs: number | null;
  /** ms from the delete call until the tier is healthy again (the pod rejoined: streaming, in sync, member). */
  recoveredMs: number | null;
  lostAcked: Record<System, number>;
  ackedWrites: Record<System, number>;
  verified: Record<System, boolean>;
  splitBrainRounds: number;
  /** Gaps of the other clients, to see the blast radius. */
  otherGapsMs: Partial<Record<System, number | null>>;
  events: Event[];
}

/** Waits until the tier is healthy (the components' own views, no write checks). */
export async function waitHealthy(kube: Kube, tier: TierDescriptor, timeoutMs: number, why: string): Promise<TierHealth> {
  const ns = tier.namespace;
  let last: TierHealth | undefined;
  try {
    return await waitFor(`the tier in ${ns} to be healthy ${why}`, timeoutMs, async () => {
      last = await tierHealth(kube, tier, { writes: false });
      return last.healthy ? last : undefined;
    }, 1000);
  } catch {
    const failing = last?.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('; ') ?? 'no health read';
    throw new UserError(`the tier in ${ns} is not healthy ${why} after ${Math.round(timeoutMs / 1000)}s (${failing}); stopping`);
  }
}

/** Creates the probe pod (a client of the tier, with the Secrets' passwords as env) unless it runs. */
export async function ensureProbe(kube: Kube, tier: TierDescriptor, image: string): Promise<void> {
  const ns = tier.namespace;
  try {
    const pod = await kube.core.readNamespacedPod({ name: PROBE_POD, namespace: ns });
    if (pod.spec?.containers?.[0]?.image === image && isReady(pod)) return;
    await kube.core.deleteNamespacedPod({ name: PROBE_POD, namespace: ns, gracePeriodSeconds: 0 });
    await waitFor(`old ${PROBE_POD} to go`, 60_000, async () => {
      try { await kube.core.readNamespacedPod({ name: PROBE_POD, namespace: ns }); return false; } catch (err) { return isNotFound(err); }
    });
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  const secret = (name: string, key: string): k8s.V1EnvVar['valueFrom'] => ({ secretKeyRef: { name, key } });
  await kube.core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: PROBE_POD, labels: { [LABEL.name]: PROBE_POD, [LABEL.client]: 'true', [LABEL.chaosProbe]: 'true' } },
      spec: {
        securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
        automountServiceAccountToken: false,
        terminationGracePeriodSeconds: 1,
        containers: [{
          name: CHAOS_PROBE.container,
          image,
          imagePullPolicy: 'IfNotPresent',
          env: [
            // The probe learns everything else from the tier's descriptor.
            { name: 'HA_TIER_DESCRIPTOR', value: JSON.stringify(tier) },
            { name: 'PGPASSWORD', valueFrom: secret(COMPONENTS.postgres.secret.name, COMPONENTS.postgres.secret.keys.superuser) },
            { name: 'REDIS_PASSWORD', valueFrom: secret(COMPONENTS.redis.secret.name, COMPONENTS.redis.secret.keys.password) },
          ],
          resources: { requests: { cpu: '100m', memory: '96Mi' }, limits: { memory: '256Mi' } },
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true },
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
        }],
        volumes: [{ name: 'tmp', emptyDir: {} }],
      },
    },
  });
  await waitFor(`${PROBE_POD} to be Ready`, 120_000, async () => {
    const pod = await kube.core.readNamespacedPod({ name: PROBE_POD, namespace: ns });
    return pod.status?.phase === 'Running' ? pod : undefined;
  });
}

/** Runs the probe for one trial, streaming its JSON lines into `events`. */
export function startProbe(kube: Kube, ns: string, id: string, events: Event[]): { done: Promise<void>; ready: Promise<void> } {
  let buffer = '';
  let resolveReady!: () => void;
  const ready = new Promise<void>((r) => { resolveReady = r; });
  const stdout = new Writable({
    write(chunk, _enc, cb) {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const { events: parsed } = parseEvents(line);
        for (const e of parsed) {
          events.push(e);
          if (e.k === 'ready') resolveReady();
        }
      }
      cb();
    },
  });
  let stderr = '';
  const errs = new Writable({ write(chunk, _enc, cb) { stderr += chunk.toString(); cb(); } });
  const done = new Promise<void>((resolve, reject) => {
    new k8s.Exec(kube.kc)
      .exec(ns, PROBE_POD, CHAOS_PROBE.container, ['node', '/app/lib/probe.cjs', '--id', id, '--stop-file', `/tmp/stop-${id}`, '--max-seconds', '600'],
        stdout, errs, null, false, (status) => {
          if (status.status === 'Success') resolve();
          else reject(new Error(`probe exited: ${status.message ?? ''} ${stderr.slice(-500)}`));
        })
      .catch(reject);
  });
  return { done, ready };
}

export async function deleteAndWaitBack(kube: Kube, ns: string, pod: string, force: boolean, t0: number, timeoutMs: number): Promise<number> {
  const before = await kube.core.readNamespacedPod({ name: pod, namespace: ns });
  await kube.core.deleteNamespacedPod({ name: pod, namespace: ns, ...(force ? { gracePeriodSeconds: 0 } : {}) });
  await waitFor(`a new ${pod} to be Ready`, timeoutMs, async () => {
    const p = await kube.core.readNamespacedPod({ name: pod, namespace: ns }).catch(() => undefined);
    return p && p.metadata?.uid !== before.metadata?.uid && isReady(p) ? p : undefined;
  }, 250);
  return Date.now() - t0;
}

export async function runTrial(kube: Kube, tier: TierDescriptor, scenario: Scenario, trial: number, opts: { recoverTimeoutMs: number }): Promise<TrialResult> {
  const ns = tier.namespace;
  const health = await waitHealthy(kube, tier, opts.recoverTimeoutMs, `before ${scenario.name} trial ${trial}`);
  const target = scenario.target(health);
  const oldLeader = scenario.view === 'patroni' ? health.facts.patroniLeader! : scenario.view === 'sentinel' ? health.facts.redisMaster! : health.facts.etcdLeader!;
  const id = `${scenario.name}-${trial}-${Date.now().toString(36)}`.toLowerCase();
  const events: Event[] = [];
  const probe = startProbe(kube, ns, id, events);
  probe.done.catch(() => {});
  await Promise.race([probe.ready, probe.done.then(() => { throw new Error('probe ended before it was ready'); }), sleep(90_000).then(() => { throw new Error('probe not ready within 90s'); })]);
  await sleep(3000);

  const t0 = Date.now();
  let podReadyMs: number | null = null;
  let recoveredMs: number | null = null;
  try {
    podReadyMs = await deleteAndWaitBack(kube, ns, target, scenario.force, t0, opts.recoverTimeoutMs);
    await waitHealthy(kube, tier, opts.recoverTimeoutMs, `after deleting ${target}`);
    recoveredMs = Date.now() - t0;
    await sleep(2000);
  } finally {
    await execIn(kube, ns, PROBE_POD, CHAOS_PROBE.container, ['touch', `/tmp/stop-${id}`]).catch(() => undefined);
  }
  const tStop = Date.now();
  await Promise.race([probe.done, sleep(120_000).then(() => { throw new Error(`probe ${id} did not finish its verification within 120s`); })]);

  const verifies = new Map(events.filter((e): e is Verify => e.k === 'verify').map((v) => [v.s, v]));
  const gap = writeGap(events, scenario.system, t0, tStop);
  const leader = timeToNewLeader(leaderTimeline(events, scenario.view), oldLeader, t0);
  const bySystem = <T>(f: (s: System) => T) => Object.fromEntries(SYSTEMS.map((s) => [s, f(s)])) as Record<System, T>;
  return {
    scenario: scenario.name,
    namespace: ns,
    trial,
    target,
    force: scenario.force,
    faultAt: t0,
    oldLeader,
    newLeader: leader.leader,
    newLeaderMs: leader.ms,
    writeGapMs: gap.gapMs,
    writeGapFrom: gap.from,
    failedWrites: gap.errors,
    podReadyMs,
    recoveredMs,
    lostAcked: bySystem((s) => verifies.get(s)?.missing.length ?? 0),
    ackedWrites: bySystem((s) => verifies.get(s)?.acked ?? 0),
    verified: bySystem((s) => verifies.get(s)?.complete ?? false),
    splitBrainRounds: splitBrain(events).rounds.length,
    otherGapsMs: Object.fromEntries(SYSTEMS.filter((s) => s !== scenario.system).map((s) => [s, writeGap(events, s, t0, tStop).gapMs])),
    events,
  };
}
