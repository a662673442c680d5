/**
 * A Redis server that starts as a replica is no candidate for promotion until it has synced with its
 * master (images/redis/redis-start, redis-health): after a full restart, a server that fell behind
 * must not become the master the others resynchronise from.
 *
 * The test holds both replicas unsynced on purpose: the master's `replication` ACL user is switched
 * off, both replica pods are deleted, and their successors cannot authenticate to sync. Then:
 *   - each says replica-priority 0, and the sentinels see priority 0;
 *   - `SENTINEL FAILOVER` is refused (NOGOODSLAVE): no unsynced server can be made master;
 * and once the user is back, both sync and get their priority back without anyone touching them.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { waitHealthy } from '../../chaos/trial.js';
import { COMPONENTS, REDIS_USERS, TierDescriptor } from '../../contract/index.js';
import { loadTier } from '../../tools/tier.js';
import { Kube, connect, execIn, progress, waitFor } from './kube.js';

const NS = 'ha-tier';
const CONTAINER = COMPONENTS.redis.container;
const LIB = 'source /usr/local/lib/ha-tier/redis-lib.sh';

interface Ctx { kube: Kube; tier: TierDescriptor }
const Hold = suite<Ctx>('redis priority hold', {} as Ctx);

Hold.before(async (ctx) => {
  ctx.kube = connect();
  ctx.tier = await loadTier(ctx.kube, NS);
});

/** A shell line with redis-lib.sh's helpers (rcli, scli, sentinel_master) in a Redis pod. */
async function sh(kube: Kube, pod: string, line: string): Promise<string> {
  const res = await execIn(kube, NS, pod, CONTAINER, ['bash', '-c', `${LIB}; ${line}`], 30_000);
  return res.stdout.trim();
}

Hold('replicas that have not synced are never promoted, and become candidates once synced', async ({ kube, tier }) => {
  await waitHealthy(kube, tier, 300_000, 'before the priority-hold test');
  const pods = [...tier.members.redis.pods];
  const answer = await sh(kube, pods[0], 'sentinel_master');
  const [masterHost, , sentinel] = answer.split(' ');
  const master = masterHost.split('.')[0];
  const replicas = pods.filter((p) => p !== master);
  assert.is(replicas.length, pods.length - 1, `the master ${masterHost} is one of ${pods.join(', ')}`);
  progress(`master ${master}; holding ${replicas.join(', ')} unsynced (ACL user ${REDIS_USERS.replication} off on the master)`);
  const userOn = () => sh(kube, master, `rcli ACL SETUSER ${REDIS_USERS.replication} on`);
  try {
    assert.is(await sh(kube, master, `rcli ACL SETUSER ${REDIS_USERS.replication} off`), 'OK');
    const uids = new Map<string, string | undefined>();
    for (const p of replicas) {
      uids.set(p, (await kube.core.readNamespacedPod({ name: p, namespace: NS })).metadata?.uid);
      await kube.core.deleteNamespacedPod({ name: p, namespace: NS });
    }
    for (const p of replicas) {
      const priority = await waitFor(`${p}'s successor to run as a held replica`, 240_000, async () => {
        const pod = await kube.core.readNamespacedPod({ name: p, namespace: NS }).catch(() => undefined);
        if (!pod || pod.metadata?.uid === uids.get(p) || pod.status?.phase !== 'Running') return undefined;
        const out = await sh(kube, p, 'rcli CONFIG GET replica-priority | sed -n 2p; rcli INFO replication | grep -E "^(role|master_link_status):"').catch(() => '');
        return /role:slave/.test(out) ? out : undefined;
      }, 2000);
      progress(`${p}: ${priority.replace(/\s+/g, ' ')}`);
      assert.match(priority, /^0\s/, `${p} starts with replica-priority 0`);
      assert.match(priority, 'master_link_status:down', `${p} could not sync`);
    }
    // What the sentinels see of the held replicas, then what they do when asked to fail over.
    const seen = await waitFor('the sentinels to see both replicas at priority 0', 60_000, async () => {
      const out = await sh(kube, master, `scli ${sentinel} SENTINEL replicas "$MASTER_NAME" | paste -sd' '`);
      const priorities = [...out.matchAll(/slave-priority (\d+)/g)].map((m) => m[1]);
      return priorities.length >= replicas.length && priorities.every((p) => p === '0') ? out : undefined;
    }, 2000);
    assert.ok(seen);
    const failover = await sh(kube, master, `scli ${sentinel} SENTINEL FAILOVER "$MASTER_NAME"`);
    progress(`SENTINEL FAILOVER with both replicas held: ${failover}`);
    assert.match(failover, 'NOGOODSLAVE');
  } finally {
    await userOn();
  }
  // Released by their own health checks once synced.
  for (const p of replicas) {
    const out = await waitFor(`${p} to sync and get its priority back`, 120_000, async () => {
      const o = await sh(kube, p, 'rcli CONFIG GET replica-priority | sed -n 2p; rcli INFO replication | grep -E "^master_link_status:"');
      return /^100\s/.test(o) && /master_link_status:up/.test(o) ? o : undefined;
    }, 2000);
    progress(`${p}: ${out.replace(/\s+/g, ' ')}`);
  }
  const still = (await sh(kube, replicas[0], 'sentinel_master')).split(' ')[0];
  assert.is(still, masterHost, 'the master never changed');
  await waitHealthy(kube, tier, 300_000, 'after the priority-hold test');
});

Hold.run();
