/**
 * One trial of a scenario: wait for a healthy tier, resolve the target, start the in-cluster probe and
 * the runner's API watches, inject the fault, heal it after the scenario's duration, wait until the
 * tier is healthy again, read every acknowledged write back, and analyse the history.
 */
import * as k8s from '@kubernetes/client-node';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import {
  CHAOS_PROBE, COMPONENTS, LABEL, LeaderView, MemberComponent, ROUTED_SLICES, SYSTEMS, System, TLS_FILES, TierDescriptor, etcdClientSecret,
} from '../contract/index.js';
import { TierHealth, tierHealth } from '../tools/health.js';
import { Kube, UserError, execIn, isNotFound, isReady, sleep, waitFor } from '../tools/kube.js';
import type { Injection, Target } from './faults/types.js';
import { PROBE_FILES, PROBE_SECRETS_DIR } from './probe/files.js';
import {
  Event, Op, Present, leaderChanges, leaderTimeline, lostWrites, parseEvents, routingDisagreement, splitBrain, timeToNewLeader, writeGap,
} from './history.js';
import type { KindNodes } from './nodes.js';
import { Phase, phases, predictedBounds } from './phases.js';
import type { Scenario } from './scenarios.js';

export const PROBE_POD = CHAOS_PROBE.pod;

export interface TrialResult {
  scenario: string;
  fault: string;
  namespace: string;
  trial: number;
  /** The pod hit (null for faults on the whole tier) and its node. */
  target: string | null;
  targetNode: string | null;
  /** What the fault did, in its own words. */
  detail: string;
  system: System;
  view: LeaderView;
  faultAt: number;
  oldLeader: string | null;
  newLeader: string | null;
  /** ms from the fault until the component's own view showed a new leader. */
  newLeaderMs: number | null;
  /** ms: the headline client's longest interval between acknowledged writes around the fault. */
  writeGapMs: number | null;
  writeGapFrom: number | null;
  failedWrites: number;
  /** ms until the target pod was back Ready (pod-level faults), null otherwise. */
  podReadyMs: number | null;
  /** ms from the fault until the tier is healthy again (the fault healed, every member rejoined). */
  recoveredMs: number | null;
  lostAcked: Record<System, number>;
  ackedWrites: Record<System, number>;
  verified: Record<System, boolean>;
  /** Sampling rounds with two PostgreSQL primaries able to acknowledge commits / two Redis masters accepting writes. */
  splitBrainRounds: number;
  redisSplitRounds: number;
  /** For information: rounds with two PostgreSQL servers out of recovery (one of which could not acknowledge). */
  twoPrimariesRounds: number;
  /** Leader changes of each view from the fault on. */
  leaderChanges: Record<LeaderView, number>;
  /** ms the routed postgres-primary listed more than one pod / a pod that was not the writable primary. */
  primaryMultiMs: number;
  primaryStaleMs: number;
  /** ms from the new PostgreSQL leader answering writable until postgres-primary listed exactly it. */
  routingLagMs: number | null;
  phases: Phase[];
  /**
   * The fault took etcd's leader with its node (a node frozen or stopped that hosted it), which
   * lengthens a silent Patroni leader's key (chaos/phases.ts, BoundContext). Absent in records made
   * before the runner looked.
   */
  dcsLeaderLost?: boolean;
  /**
   * ms the fault's `inject()` took to return: a partition's rules installed, a node paused under load,
   * a rollout done. Every phase is timed from its start, so for a fault that takes effect at its end
   * (a partition, a pause) this much of each phase is the fault being put in place. Absent in records
   * made before the runner kept it.
   */
  injectMs?: number;
  /**
   * For a fault that reaches the leader late (a rollout, a drain): ms from the fault's start until the
   * leader's own part began. The phases are timed from then (and judged against the settings' bounds
   * from then). Absent when the fault never reached the leader, and in records made before.
   */
  failoverAfterMs?: number;
  /** Gaps of the other clients, to see the blast radius. */
  otherGapsMs: Partial<Record<System, number | null>>;
  /** The probe's sampling period (0: off, to measure the probe's own effect). */
  sampleMs: number;
  /** In a kept record (chaos/matrix.ts), which leaves the events out: how many there were. */
  eventCount?: number;
  /**
   * Log lines of the target's containers (the one hit, followed until it went away, then its
   * replacement) that show a known failure (LOG_FINDINGS): an interrupted switchover, a second
   * postmaster on the volume, a fenced start.
   */
  logFindings: string[];
  events: Event[];
}

/** Lines that must not appear in a Patroni or Redis container's log after a fault, and what they mean. */
export const LOG_FINDINGS: { pattern: RegExp; meaning: string; faults?: string[] }[] = [
  { pattern: /patroni-prestop: .*requesting a switchover/, meaning: 'a switchover was started by a pod that was being force-deleted', faults: ['pod-delete-force'] },
  { pattern: /No such process/, meaning: 'pg_ctl found no postmaster it expected (a second PostgreSQL on the data directory)' },
  { pattern: /lock file "postmaster\.pid" contains wrong PID|another server might be running/, meaning: 'PostgreSQL found another server on its data directory' },
  { pattern: /FENCED/, meaning: 'a start was refused by the fence (an older container still held the volume)' },
];

export interface TrialOptions {
  recoverTimeoutMs: number;
  short: boolean;
  sampleMs: number;
  nodes?: KindNodes;
  /** Where the hit container's own log is kept, one file per trial (when the nodes are reachable). */
  logDir?: string;
  log(message: string): void;
}

/** Waits until the tier is healthy (the components' own views, no write checks); API errors are waited out. */
export async function waitHealthy(kube: Kube, tier: TierDescriptor, timeoutMs: number, why: string): Promise<TierHealth> {
  let last: TierHealth | undefined;
  try {
    return await waitFor(`the tier in ${tier.namespace} to be healthy ${why}`, timeoutMs, async () => {
      last = await tierHealth(kube, tier, { writes: false });
      return last.healthy ? last : undefined;
    }, 1000);
  } catch {
    const failing = last?.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join('; ') ?? 'no health read';
    throw new UserError(`the tier in ${tier.namespace} is not healthy ${why} after ${Math.round(timeoutMs / 1000)}s (${failing}); stopping`);
  }
}

/**
 * Creates the probe pod (a client of the tier, with the Secrets' passwords as env) unless it runs. It
 * prefers the control-plane node, so that faults on the workers' nodes do not take it down.
 */
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
  // Only the keys it needs, as files: the application's and the monitoring passwords, and its own etcd
  // client certificate (with the CA, which verifies every server of the tier).
  const pgKeys = COMPONENTS.postgres.secret.keys;
  const redisKeys = COMPONENTS.redis.secret.keys;
  const secretItems: k8s.V1VolumeProjection[] = [
    { secret: { name: COMPONENTS.postgres.secret.name, items: [{ key: pgKeys.app, path: PROBE_FILES.pgApp }, { key: pgKeys.monitor, path: PROBE_FILES.pgMonitor }] } },
    { secret: { name: COMPONENTS.redis.secret.name, items: [{ key: redisKeys.app, path: PROBE_FILES.redisApp }, { key: redisKeys.monitor, path: PROBE_FILES.redisMonitor }] } },
    { secret: { name: etcdClientSecret(CHAOS_PROBE.etcdUser), items: Object.values(TLS_FILES).map((f) => ({ key: f, path: `${PROBE_FILES.etcdDir}/${f}` })) } },
  ];
  const controlPlane = 'node-role.kubernetes.io/control-plane';
  await kube.core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: PROBE_POD, labels: { [LABEL.name]: PROBE_POD, [LABEL.client]: 'true', [LABEL.chaosProbe]: 'true' } },
      spec: {
        securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
        automountServiceAccountToken: false,
        enableServiceLinks: false,
        terminationGracePeriodSeconds: 1,
        tolerations: [{ key: controlPlane, operator: 'Exists', effect: 'NoSchedule' }],
        affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, preference: { matchExpressions: [{ key: controlPlane, operator: 'Exists' }] } }] } },
        containers: [{
          name: CHAOS_PROBE.container,
          image,
          imagePullPolicy: 'IfNotPresent',
          command: ['sleep', 'infinity'],
          env: [
            // The probe learns everything else from the tier's descriptor.
            { name: 'HA_TIER_DESCRIPTOR', value: JSON.stringify(tier) },
            { name: 'PROBE_SECRETS_DIR', value: PROBE_SECRETS_DIR },
          ],
          resources: { requests: { cpu: '100m', memory: '96Mi' }, limits: { memory: '256Mi' } },
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true },
          volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, { name: 'secrets', mountPath: PROBE_SECRETS_DIR, readOnly: true }],
        }],
        volumes: [{ name: 'tmp', emptyDir: {} }, { name: 'secrets', projected: { sources: secretItems, defaultMode: 0o440 } }],
      },
    },
  });
  await waitFor(`${PROBE_POD} to be Ready`, 120_000, async () => {
    const pod = await kube.core.readNamespacedPod({ name: PROBE_POD, namespace: ns });
    return pod.status?.phase === 'Running' ? pod : undefined;
  });
}

/** Runs the probe in its pod, streaming its JSON lines into `events`. */
export function startProbe(kube: Kube, ns: string, id: string, events: Event[], args: string[] = []): { done: Promise<void>; ready: Promise<void> } {
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
        for (const e of parseEvents(line).events) {
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
      .exec(ns, PROBE_POD, CHAOS_PROBE.container, ['node', '/app/lib/probe.cjs', '--id', id, '--stop-file', `/tmp/stop-${id}`, '--max-seconds', '900', ...args],
        stdout, errs, null, false, (status) => {
          if (status.status === 'Success') resolve();
          else reject(new Error(`probe exited: ${status.message ?? ''} ${stderr.slice(-500)}`));
        })
      .then((ws) => { ws.on('close', () => reject(new Error('the probe\'s stream closed'))); })
      .catch(reject);
  });
  return { done, ready };
}

/** Follows a pod's container log until stopped (or the container goes away). */
function followLog(kube: Kube, ns: string, pod: string, container: string): { lines: string[]; stop(): void } {
  const lines: string[] = [];
  let buffer = '';
  const sink = new Writable({ write(chunk, _e, cb) { buffer += chunk.toString(); const parts = buffer.split('\n'); buffer = parts.pop()!; lines.push(...parts); cb(); } });
  let controller: AbortController | undefined;
  new k8s.Log(kube.kc).log(ns, pod, container, sink, { follow: true, tailLines: 0 }).then((c) => { controller = c; }).catch(() => undefined);
  return { lines, stop: () => controller?.abort() };
}

/** Known failures in log lines after fault `fault` (LOG_FINDINGS), one sentence each. */
export function logFindings(lines: string[], where: string, fault: string): string[] {
  return lines.flatMap((line) => LOG_FINDINGS.filter((f) => (!f.faults || f.faults.includes(fault)) && f.pattern.test(line))
    .map((f) => `${where}: ${f.meaning}: ${line.trim().slice(0, 160)}`));
}

/** Watches the routed primary EndpointSlice and the nodes, pushing SliceEvents and NodeEvents. */
async function startWatches(kube: Kube, ns: string, events: Event[]): Promise<() => void> {
  const watch = new k8s.Watch(kube.kc);
  const requests: { abort(): void }[] = [];
  const keep = (r: unknown) => { if (r && typeof (r as { abort?: unknown }).abort === 'function') requests.push(r as { abort(): void }); };
  const slicePath = `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`;
  keep(await watch.watch(slicePath, { fieldSelector: `metadata.name=${ROUTED_SLICES.primary}` }, (_type, obj: k8s.V1EndpointSlice) => {
    events.push({ k: 'slice', t: Date.now(), pods: (obj.endpoints ?? []).map((e) => e.targetRef?.name ?? e.addresses.join(',')).sort() });
  }, () => undefined));
  const readyOf = (n: k8s.V1Node) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  const last = new Map<string, boolean>();
  keep(await watch.watch('/api/v1/nodes', {}, (_type, obj: k8s.V1Node) => {
    const name = obj.metadata?.name ?? '?';
    const ready = readyOf(obj);
    if (last.get(name) !== ready) events.push({ k: 'node', t: Date.now(), node: name, ready });
    last.set(name, ready);
  }, () => undefined));
  return () => { for (const r of requests) r.abort(); };
}

const leaderOfView = (h: TierHealth, view: LeaderView): string | null =>
  (view === 'patroni' ? h.facts.patroniLeader : view === 'sentinel' ? h.facts.redisMaster : h.facts.etcdLeader) ?? null;

/** The scenario's target pod, from the tier's health. */
export async function resolveTarget(kube: Kube, tier: TierDescriptor, scenario: Scenario, health: TierHealth, override?: string): Promise<Target | undefined> {
  const spec = scenario.target;
  if (!spec) return undefined;
  const component: MemberComponent = spec.component;
  const viewLeader = component === 'sentinel' ? null : leaderOfView(health, scenario.view);
  let pod = override;
  if (!pod && spec.pick === 'leader' && component !== 'sentinel') {
    if (!viewLeader) throw new UserError(`the tier reports no ${scenario.view} leader`);
    pod = viewLeader;
  }
  if (!pod) {
    const pods = tier.members[component].pods.filter((p) => p !== viewLeader);
    if (pods.length === 0) throw new UserError(`no ${component} pod besides the leader: ${scenario.name} needs an HA layout`);
    // The follower left alone longest (its pod oldest and its container not ended since), so that
    // trials spread over the followers; among equals the highest ordinal.
    const ended = new Map(await Promise.all(pods.map(async (name) => [name, undisturbedMsAgo(
      await kube.core.readNamespacedPod({ name, namespace: tier.namespace }), COMPONENTS[component].container)] as const)));
    pod = [...pods].sort((a, b) => (ended.get(a)! - ended.get(b)!) || a.localeCompare(b, 'en', { numeric: true })).at(-1)!;
  }
  const p = await kube.core.readNamespacedPod({ name: pod, namespace: tier.namespace });
  return { component, pod, node: p.spec?.nodeName ?? '?', leader: pod === viewLeader };
}

/** How long ago the pod's container last ended (Infinity when it never did). */
export function containerEndedMsAgo(pod: k8s.V1Pod, container: string, now = Date.now()): number {
  const finished = pod.status?.containerStatuses?.find((c) => c.name === container)?.lastState?.terminated?.finishedAt;
  return finished ? now - new Date(finished).getTime() : Infinity;
}

/**
 * How long the pod has been left alone: since its container last ended, or since the pod was made
 * (a deleted pod's replacement has no ended container, and is as fresh as its creation).
 */
export function undisturbedMsAgo(pod: k8s.V1Pod, container: string, now = Date.now()): number {
  const created = pod.metadata?.creationTimestamp;
  return Math.min(containerEndedMsAgo(pod, container, now), created ? now - new Date(created).getTime() : Infinity);
}

/** The kubelet forgets a container's crash back-off after it has run this long. */
const KUBELET_BACKOFF_RESET_MS = 10 * 60_000;

/** Waits until the target pod is Ready again with a new container (a pod-level fault), and returns when. */
async function podBack(kube: Kube, ns: string, pod: string, before: k8s.V1Pod, timeoutMs: number): Promise<number> {
  const restarts = (p: k8s.V1Pod) => (p.status?.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0);
  await waitFor(`${pod} to be back Ready`, timeoutMs, async () => {
    const p = await kube.core.readNamespacedPod({ name: pod, namespace: ns }).catch(() => undefined);
    return p && (p.metadata?.uid !== before.metadata?.uid || restarts(p) > restarts(before)) && isReady(p) ? p : undefined;
  }, 250);
  return Date.now();
}

export async function runTrial(kube: Kube, tier: TierDescriptor, scenario: Scenario, trial: number, opts: TrialOptions): Promise<TrialResult> {
  const ns = tier.namespace;
  let health = await waitHealthy(kube, tier, opts.recoverTimeoutMs, `before ${scenario.name} trial ${trial}`);
  const ctx = { kube, tier, health, nodes: opts.nodes, log: (m: string) => opts.log(`    ${m}`) };
  const override = scenario.setup ? (await scenario.setup(ctx)) ?? undefined : undefined;
  if (scenario.setup) {
    await sleep(5000);
    health = await waitHealthy(kube, tier, opts.recoverTimeoutMs, `after ${scenario.name}'s setup`);
    ctx.health = health;
  }
  let target = await resolveTarget(kube, tier, scenario, health, override);
  for (let attempt = 0; target && scenario.fault.freshContainer && attempt < 3; attempt++) {
    const pod = await kube.core.readNamespacedPod({ name: target.pod, namespace: ns });
    const ago = containerEndedMsAgo(pod, COMPONENTS[target.component].container);
    if (ago >= KUBELET_BACKOFF_RESET_MS) break;
    ctx.log(`setup: ${target.pod}'s container ended ${Math.round(ago / 1000)} s ago (the kubelet's back-off is still armed): replacing the pod first`);
    await kube.core.deleteNamespacedPod({ name: target.pod, namespace: ns });
    await podBack(kube, ns, target.pod, pod, opts.recoverTimeoutMs);
    await sleep(5000);
    health = await waitHealthy(kube, tier, opts.recoverTimeoutMs, `after replacing ${target.pod}`);
    ctx.health = health;
    target = await resolveTarget(kube, tier, scenario, health, override);
  }
  const oldLeader = leaderOfView(health, scenario.view);
  const etcdLeader = leaderOfView(health, 'etcd');
  const dcsLeaderNode = etcdLeader
    ? (await kube.core.readNamespacedPod({ name: etcdLeader, namespace: ns }).catch(() => undefined))?.spec?.nodeName
    : undefined;
  const id = `${scenario.name}-${trial}-${Date.now().toString(36)}`.toLowerCase();
  const events: Event[] = [];
  const probe = startProbe(kube, ns, id, events, ['--sample-ms', String(opts.sampleMs)]);
  let probeError: Error | undefined;
  probe.done.catch((err) => { probeError = err as Error; });
  await Promise.race([probe.ready, probe.done.then(() => { throw new Error('probe ended before it was ready'); }), sleep(90_000).then(() => { throw new Error('probe not ready within 90s'); })]);
  const stopWatches = await startWatches(kube, ns, events);
  await sleep(3000);

  const durationMs = opts.short ? scenario.shortDurationMs ?? scenario.durationMs : scenario.durationMs;
  const before = target ? await kube.core.readNamespacedPod({ name: target.pod, namespace: ns }) : undefined;
  const container = target ? COMPONENTS[target.component].container : '';
  const oldLog = target && before && opts.nodes?.nodes.includes(target.node)
    ? opts.nodes.followLog(target.node, before, container)
    : target ? followLog(kube, ns, target.pod, container) : undefined;
  const t0 = Date.now();
  let podReadyMs: number | null = null;
  let recoveredMs: number | null = null;
  let detail = '';
  let probeLost = false;
  let node: string | undefined;
  let injection: Injection | undefined;
  let injectMs: number | undefined;
  let failoverAfterMs: number | undefined;
  let healed = false;
  try {
    injection = await scenario.fault.inject(ctx, target, durationMs);
    injectMs = Date.now() - t0;
    if (injection.failoverAt !== undefined) failoverAfterMs = injection.failoverAt - t0;
    detail = injection.detail;
    probeLost = !!injection.probeLost;
    node = injection.node;
    const backWatch = target && before && ['pod-delete', 'pod-delete-force', 'crash'].includes(scenario.fault.name)
      ? podBack(kube, ns, target.pod, before, opts.recoverTimeoutMs).then((t) => { podReadyMs = t - t0; }).catch(() => undefined)
      : Promise.resolve();
    const remaining = t0 + durationMs - Date.now();
    if (remaining > 0) await sleep(remaining);
    await injection.heal();
    healed = true;
    if (durationMs > 0) opts.log(`    healed after ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    await backWatch;
    await waitHealthy(kube, tier, opts.recoverTimeoutMs, `after ${scenario.name}`);
    recoveredMs = Date.now() - t0;
    await sleep(2000);
  } finally {
    // A trial that failed between the fault and its heal (or in the heal) tries the heal once more:
    // a node must not stay frozen or stopped after the runner has gone.
    if (injection && !healed) {
      await injection.heal().then(
        () => opts.log('    healed after an error in the trial'),
        (err) => opts.log(`    could not heal the fault: ${(err as Error).message}`),
      );
    }
    stopWatches();
    oldLog?.stop();
    if (oldLog && target && opts.logDir) {
      await mkdir(opts.logDir, { recursive: true });
      await writeFile(join(opts.logDir, `${scenario.name}-${trial}-${target.pod}.log`), oldLog.lines.join('\n') + '\n');
    }
    await execIn(kube, ns, PROBE_POD, CHAOS_PROBE.container, ['touch', `/tmp/stop-${id}`]).catch(() => undefined);
  }
  // The target's log: what it wrote while the fault hit it, and the whole log of its container now.
  const newLog = target ? String(await kube.core.readNamespacedPodLog({ name: target.pod, namespace: ns, container }).catch(() => '')).split('\n') : [];
  // Kept beside the hit container's: after a crash or a restart it is another container, the one
  // that came back (how it rejoined, what it campaigned for).
  if (target && opts.logDir && newLog.some((l) => l.trim())) {
    await mkdir(opts.logDir, { recursive: true });
    await writeFile(join(opts.logDir, `${scenario.name}-${trial}-${target.pod}.now.log`), newLog.join('\n'));
  }
  const fault = scenario.fault.name;
  const findings = target ? [...logFindings(oldLog?.lines ?? [], `${target.pod} (hit)`, fault), ...logFindings(newLog, `${target.pod} (now)`, fault)] : [];
  const tStop = Date.now();
  await Promise.race([probe.done.catch(() => undefined), sleep(180_000)]);
  if (probeLost || probeError || !events.some((e) => e.k === 'present')) {
    // The probe died with the fault (or its stream broke): a new one reads the acknowledged writes back.
    opts.log(`    the probe's run did not finish (${probeError?.message.slice(0, 80) ?? 'killed by the fault'}); reading the writes back with a new one`);
    await ensureProbeAfterRestart(kube, tier);
    const verify = startProbe(kube, ns, id, events, ['--verify-only']);
    await Promise.race([verify.done, sleep(240_000).then(() => { throw new Error(`the read-back of ${id} did not finish within 240s`); })]);
  }
  return analyse(events, { scenario, tier, trial, target, detail, t0, tStop, oldLeader, podReadyMs, recoveredMs, node, dcsLeaderNode, injectMs, failoverAfterMs, sampleMs: opts.sampleMs, findings: [...new Set(findings)] });
}

/** After a full restart the probe pod comes back on its own (restartPolicy Always); wait for it. */
async function ensureProbeAfterRestart(kube: Kube, tier: TierDescriptor): Promise<void> {
  await waitFor(`${PROBE_POD} to run again`, 300_000, async () => {
    const pod = await kube.core.readNamespacedPod({ name: PROBE_POD, namespace: tier.namespace });
    return isReady(pod) ? pod : undefined;
  }, 2000);
}

interface TrialFacts {
  scenario: Scenario;
  tier: TierDescriptor;
  trial: number;
  target: Target | undefined;
  detail: string;
  t0: number;
  tStop: number;
  oldLeader: string | null;
  podReadyMs: number | null;
  recoveredMs: number | null;
  node?: string;
  /** The node etcd's leader ran on when the fault came. */
  dcsLeaderNode?: string;
  injectMs?: number;
  failoverAfterMs?: number;
  sampleMs: number;
  findings: string[];
}

/** Everything a trial's history says, in numbers. */
export function analyse(events: Event[], f: TrialFacts): TrialResult {
  const { scenario, t0, tStop } = f;
  const present = new Map<System, Present>();
  for (const e of events) if (e.k === 'present') present.set(e.s, e);
  const acked = (s: System) => events.filter((e): e is Op => e.k === 'op' && e.s === s && e.ok).map((e) => e.seq);
  const bySystem = <T>(fn: (s: System) => T) => Object.fromEntries(SYSTEMS.map((s) => [s, fn(s)])) as Record<System, T>;
  const gap = writeGap(events, scenario.system, t0, tStop);
  const leader = timeToNewLeader(leaderTimeline(events, scenario.view), f.oldLeader ?? '', t0);
  const views: LeaderView[] = ['patroni', 'sentinel', 'etcd'];
  const dcsLeaderLost = !!f.node && f.node === f.dcsLeaderNode;
  const bounds = predictedBounds(f.tier, scenario.fault.failover, { dcsLeaderLost });
  // A late failover (rollout, drain) is timed from the leader's own part: before it, other members'
  // restarts would pass for its phases (a replica's +sdown for the master's).
  const ph = phases(events, t0 + (f.failoverAfterMs ?? 0), tStop, scenario.view, f.oldLeader, bounds, { node: f.node });
  const promoted = ph.find((p) => p.name === 'promoted')?.ms ?? null;
  const routed = ph.find((p) => p.name === 'routed')?.ms ?? null;
  const routing = routingDisagreement(events, t0, tStop);
  return {
    scenario: scenario.name,
    fault: scenario.fault.name,
    namespace: f.tier.namespace,
    trial: f.trial,
    target: f.target?.pod ?? null,
    targetNode: f.target?.node ?? null,
    detail: f.detail,
    system: scenario.system,
    view: scenario.view,
    faultAt: t0,
    oldLeader: f.oldLeader,
    newLeader: leader.leader,
    newLeaderMs: leader.ms,
    writeGapMs: gap.gapMs,
    writeGapFrom: gap.from,
    failedWrites: gap.errors,
    podReadyMs: f.podReadyMs,
    recoveredMs: f.recoveredMs,
    lostAcked: bySystem((s) => (present.get(s)?.complete ? lostWrites(acked(s), present.get(s)!.seqs).length : 0)),
    ackedWrites: bySystem((s) => acked(s).length),
    verified: bySystem((s) => present.get(s)?.complete ?? false),
    splitBrainRounds: splitBrain(events).rounds.length,
    redisSplitRounds: splitBrain(events, 'redis-writable').rounds.length,
    twoPrimariesRounds: splitBrain(events, 'pg-primary').rounds.length,
    leaderChanges: Object.fromEntries(views.map((v) => [v, leaderChanges(leaderTimeline(events, v), t0).count])) as Record<LeaderView, number>,
    primaryMultiMs: routing.multiMs,
    primaryStaleMs: routing.staleMs,
    routingLagMs: promoted !== null && routed !== null ? routed - promoted : null,
    phases: ph,
    dcsLeaderLost,
    injectMs: f.injectMs,
    failoverAfterMs: f.failoverAfterMs,
    otherGapsMs: Object.fromEntries(SYSTEMS.filter((s) => s !== scenario.system).map((s) => [s, writeGap(events, s, t0, tStop).gapMs])),
    sampleMs: f.sampleMs,
    logFindings: f.findings,
    events,
  };
}
