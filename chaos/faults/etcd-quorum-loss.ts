/**
 * etcd quorum loss: two of the three members gone (the StatefulSet scaled to one; the members keep
 * their volumes and rejoin when it is scaled back). Patroni cannot renew its leader key: with
 * failsafe_mode the primary stays writable as long as it reaches every Patroni member.
 */
import { COMPONENTS } from '../../contract/index.js';
import { Fault } from './types.js';

export const etcdQuorumLoss: Fault = {
  name: 'etcd-quorum-loss',
  title: 'two of three etcd members gone (scaled to one), then back',
  needsNodes: false,
  failover: 'none',
  async inject(ctx, _target) {
    const ns = ctx.tier.namespace;
    const name = COMPONENTS.etcd.workload;
    const replicas = ctx.tier.members.etcd.replicas;
    const scale = (n: number) => ctx.kube.apps.replaceNamespacedStatefulSetScale({ name, namespace: ns, body: { metadata: { name, namespace: ns }, spec: { replicas: n } } });
    const keep = Math.floor(replicas / 2);
    await scale(keep);
    return { detail: `etcd scaled from ${replicas} to ${keep}: quorum lost`, heal: async () => { await scale(replicas); } };
  },
};
