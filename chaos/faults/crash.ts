/**
 * Process crash: SIGKILL of the container's main process from the node, with no hook and no SIGTERM,
 * as when a process dies or the OOM killer strikes. Kubernetes restarts the container in the same pod.
 */
import { COMPONENTS } from '../../contract/index.js';
import { Fault } from './types.js';

export const crash: Fault = {
  name: 'crash',
  title: 'main process killed (SIGKILL from the node: no preStop hook, no SIGTERM)',
  needsNodes: true,
  failover: 'crash',
  freshContainer: true,
  async inject(ctx, target) {
    if (!target || !ctx.nodes) throw new Error('a crash needs a target pod and the nodes');
    const container = COMPONENTS[target.component].container;
    const pod = await ctx.kube.core.readNamespacedPod({ name: target.pod, namespace: ctx.tier.namespace });
    const restarts = pod.status?.containerStatuses?.find((c) => c.name === container)?.restartCount ?? 0;
    const pid = await ctx.nodes.containerPid(target.node, target.pod, container);
    await ctx.nodes.exec(target.node, ['kill', '-KILL', String(pid)]);
    return { detail: `SIGKILL to ${target.pod}'s main process (pid ${pid} on ${target.node}; the container had restarted ${restarts} times)`, heal: async () => {} };
  },
};
