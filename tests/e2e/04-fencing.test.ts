/**
 * Fencing: at most one PostgreSQL on a data directory, however Kubernetes replaces a pod. The leader
 * is force-deleted again and again (Kubernetes may start its replacement while the old container is
 * still stopping, on the same volume). Two witnesses per round:
 *   - the node: its processes are sampled every ~100 ms for postmasters (only one Patroni pod runs per
 *     node, so two postmasters there means two on one volume);
 *   - the containers' own logs: the old container's last line comes before the new postmaster took
 *     its lock (images/patroni/postgres-fenced), and a new container that found the old one alive says
 *     it waited (images/patroni/patroni-start).
 */
import * as k8s from '@kubernetes/client-node';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { KindNodes } from '../../chaos/nodes.js';
import { waitHealthy } from '../../chaos/trial.js';
import { COMPONENTS, TierDescriptor } from '../../contract/index.js';
import { loadTier } from '../../tools/tier.js';
import { CLUSTER_NAME, Kube, connect, isReady, progress, sleep, waitFor } from './kube.js';

const ROUNDS = Number(process.env.HA_TIER_E2E_FENCING_ROUNDS ?? 5);
const NS = 'ha-tier';
const CONTAINER = COMPONENTS.postgres.container;
/** A postmaster (or single-user backend) as its command line reads on the node. */
const POSTMASTER = '^/usr/lib/postgresql/15/bin/postgres (-D|--single)';
/**
 * Calls that only print something and exit, starting no server and touching no lock file (Patroni
 * asks `postgres -C archive_command` while it stops, for instance); postgres-fenced lets them through.
 */
const INFORMATIONAL = / (-C|--describe-config|--version|-V)( |$)/;

interface Ctx { kube: Kube; tier: TierDescriptor; nodes: KindNodes }
const Fencing = suite<Ctx>('fencing', {} as Ctx);

Fencing.before(async (ctx) => {
  ctx.kube = connect();
  ctx.tier = await loadTier(ctx.kube, NS);
  ctx.nodes = await KindNodes.find(CLUSTER_NAME, ctx.kube.context, 'fencing test');
});

/** Follows a container's log with the kubelet's timestamps until the container goes away. */
function follow(kube: Kube, pod: string): { lines: string[]; stop(): void } {
  const lines: string[] = [];
  let buffer = '';
  const sink = new Writable({ write(chunk, _e, cb) { buffer += chunk.toString(); const parts = buffer.split('\n'); buffer = parts.pop()!; lines.push(...parts); cb(); } });
  let controller: AbortController | undefined;
  new k8s.Log(kube.kc).log(NS, pod, CONTAINER, sink, { follow: true, timestamps: true, tailLines: 5 }).then((c) => { controller = c; }).catch(() => undefined);
  return { lines, stop: () => controller?.abort() };
}

/**
 * Counts postmasters on a node every ~100 ms until stopped; returns the highest count, and the
 * processes (pid, parent, age, command line) of the sample that had it, as evidence.
 */
function sampleNode(nodes: KindNodes, node: string): { stop(): Promise<{ max: number; samples: number; evidence: string }> } {
  let running = true;
  let max = 0;
  let samples = 0;
  let evidence = '';
  const loop = (async () => {
    while (running) {
      const out = await nodes.exec(node, ['ps', '-eo', 'pid,ppid,etimes,args']).catch(() => '');
      const procs = out.split('\n').slice(1).map((l) => l.trim().split(/\s+/)).filter((f) => f.length > 3)
        .map(([pid, ppid, age, ...args]) => ({ pid, ppid, line: `${pid} ${ppid} ${age} ${args.join(' ')}`, args: args.join(' ') }));
      // A child the postmaster just forked carries its command line until it sets its own title: a
      // postmaster is a postgres process whose parent is not one.
      const postgres = new Set(procs.filter((p) => /^(\/usr\/lib\/postgresql\/15\/bin\/postgres|postgres:)/.test(p.args)).map((p) => p.pid));
      let found = procs.filter((p) => new RegExp(POSTMASTER).test(p.args) && !INFORMATIONAL.test(p.args) && !postgres.has(p.ppid));
      if (found.length > 1) {
        // Two in the same container are one postmaster and a child that lost its parent while the
        // container dies; what counts is postmasters in different containers (cgroups).
        const containers = new Map<string, typeof found[number]>();
        for (const p of found) {
          const cgroup = await nodes.exec(node, ['cat', `/proc/${p.pid}/cgroup`]).catch(() => `gone-${p.pid}`);
          containers.set(/[0-9a-f]{64}/.exec(cgroup)?.[0] ?? cgroup.trim(), { ...p, line: `${p.line} [cgroup ${/[0-9a-f]{64}/.exec(cgroup)?.[0]?.slice(0, 12) ?? '?'}]` });
        }
        found = [...containers.values()];
      }
      if (found.length > max) { max = found.length; evidence = found.map((p) => p.line.trim().slice(0, 200)).join('\n'); }
      samples++;
      await sleep(50);
    }
  })();
  return { stop: async () => { running = false; await loop; return { max, samples, evidence }; } };
}

const stamp = (line: string) => Date.parse(line.split(' ')[0]);

Fencing(`${ROUNDS} force deletes of the Patroni leader: never two postmasters on its volume`, async ({ kube, tier, nodes }) => {
  let waited = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    const health = await waitHealthy(kube, tier, 300_000, `before fencing round ${round}`);
    const leader = health.facts.patroniLeader!;
    const before = await kube.core.readNamespacedPod({ name: leader, namespace: NS });
    const node = before.spec!.nodeName!;
    const old = follow(kube, leader);
    const sampler = sampleNode(nodes, node);
    await sleep(1500);
    progress(`round ${round}: force-deleting the leader ${leader} on ${node}`);
    await kube.core.deleteNamespacedPod({ name: leader, namespace: NS, gracePeriodSeconds: 0 });
    await waitFor(`a new ${leader} to be Ready`, 300_000, async () => {
      const p = await kube.core.readNamespacedPod({ name: leader, namespace: NS }).catch(() => undefined);
      return p && p.metadata?.uid !== before.metadata?.uid && isReady(p) ? p : undefined;
    }, 500);
    await sleep(2000);
    const seen = await sampler.stop();
    old.stop();
    assert.ok(seen.samples > 20, `the node was sampled (${seen.samples} samples)`);
    assert.is(seen.max, 1, `round ${round}: ${seen.max} postmasters at once on ${node}:\n${seen.evidence}`);

    const fresh = String(await kube.core.readNamespacedPodLog({ name: leader, namespace: NS, container: CONTAINER, timestamps: true })).split('\n');
    const lockTaken = fresh.find((l) => l.includes('postgres-fenced: postmaster lock taken'));
    assert.ok(lockTaken, `round ${round}: the new container's postmaster took the fence lock`);
    const oldLines = old.lines.filter((l) => l.trim());
    assert.ok(oldLines.length > 0, `round ${round}: the old container's log was followed`);
    const oldLast = Math.max(...oldLines.map(stamp).filter(Number.isFinite));
    assert.ok(oldLast <= stamp(lockTaken!), `round ${round}: the old container logged at ${new Date(oldLast).toISOString()}, after the new postmaster started at ${lockTaken!.split(' ')[0]}`);
    const wait = fresh.find((l) => l.includes('patroni-start: patroni lock') && l.includes('waiting up to'));
    if (wait) waited++;
    progress(`round ${round}: max ${seen.max} postmaster on ${node} over ${seen.samples} samples; old container's last line ${new Date(oldLast).toISOString()}, new postmaster ${lockTaken!.split(' ')[0]}${wait ? '; the new container waited for the old one\'s lock' : ''}`);
  }
  progress(`${waited} of ${ROUNDS} replacements started while the old container still held the lock, and waited`);
});

Fencing.run();
