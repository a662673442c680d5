/**
 * Network partitions, made with the target node's netfilter: a chain in the filter table's FORWARD
 * (every packet of a pod passes its node's FORWARD with the ptp CNI) drops all packets, established
 * connections included, between the target pod and the pods of the components it is cut from.
 * Clients (the chaos probe) still reach it: the sharpest case for a stale primary or master.
 * - partition: cut from every other pod of the tier;
 * - cut from etcd: the Patroni leader alone loses its DCS (failsafe mode keeps it primary);
 * - cut from the sentinels: the Redis master keeps its clients and replicas but the sentinels see it
 *   down and fail over; what it accepted meanwhile is lost when it rejoins (bounded by
 *   min-replicas-to-write / min-replicas-max-lag).
 */
import { COMPONENT_KEYS, ComponentKey, selectorOf } from '../../contract/index.js';
import { listPods } from '../../tools/kube.js';
import { Fault } from './types.js';

const CHAIN = 'HA-TIER-CHAOS';

function partition(name: string, title: string, from: readonly ComponentKey[]): Fault {
  return {
    name,
    title,
    needsNodes: true,
    failover: 'silent',
    async inject(ctx, target) {
      if (!target || !ctx.nodes) throw new Error('a partition needs a target pod and the nodes');
      const ns = ctx.tier.namespace;
      const self = await ctx.kube.core.readNamespacedPod({ name: target.pod, namespace: ns });
      const ip = self.status?.podIP;
      if (!ip) throw new Error(`${target.pod} has no IP`);
      const peers = (await Promise.all(from.map((c) => listPods(ctx.kube, ns, selectorOf(c)))))
        .flat().map((p) => p.status?.podIP).filter((x): x is string => !!x && x !== ip);
      const rules = [`:${CHAIN} - [0:0]`, `-F ${CHAIN}`, ...peers.flatMap((p) => [`-A ${CHAIN} -s ${ip} -d ${p} -j DROP`, `-A ${CHAIN} -s ${p} -d ${ip} -j DROP`])];
      const nodes = ctx.nodes;
      await nodes.execInput(target.node, ['iptables-restore', '--noflush'], `*filter\n${rules.join('\n')}\nCOMMIT\n`);
      await nodes.exec(target.node, ['iptables', '-I', 'FORWARD', '1', '-j', CHAIN]);
      return {
        detail: `${target.pod} (${ip}) cut from ${peers.length} pods of ${from.join(', ')} on ${target.node}`,
        heal: async () => {
          await nodes.exec(target.node, ['iptables', '-D', 'FORWARD', '-j', CHAIN]).catch(() => undefined);
          await nodes.exec(target.node, ['iptables', '-F', CHAIN]);
          await nodes.exec(target.node, ['iptables', '-X', CHAIN]);
        },
      };
    },
  };
}

export const isolate = partition('partition', 'the target cut from every other pod of the tier (clients still reach it)', COMPONENT_KEYS);
export const cutFromEtcd = partition('etcd-cut', 'the target cut from the etcd members only', ['etcd']);
export const cutFromSentinels = partition('sentinel-cut', 'the target cut from the sentinels only (clients and replicas still reach it)', ['sentinel']);
