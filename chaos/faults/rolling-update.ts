/**
 * Rolling update of the target's StatefulSet after a configuration change: the pod template gets a new
 * annotation (what `kubectl rollout restart` does), and the tier's own leader-aware rollout
 * (tools/rollout.ts, the one `npm run up` runs) replaces the members, leader last. Expected: at most
 * one leader change for the component.
 */
import { COMPONENTS } from '../../contract/index.js';
import { rollout } from '../../tools/rollout.js';
import { Fault } from './types.js';

export const rollingUpdate: Fault = {
  name: 'rolling-update',
  title: "a configuration change rolled out over the target's StatefulSet (leader last)",
  needsNodes: false,
  failover: 'handover',
  lateFailover: true,
  async inject(ctx, target) {
    if (!target) throw new Error('a rolling update needs a target component');
    const { kube, tier } = ctx;
    const name = COMPONENTS[target.component].workload;
    const sts = await kube.apps.readNamespacedStatefulSet({ name, namespace: tier.namespace });
    const template = sts.spec!.template;
    template.metadata = { ...template.metadata, annotations: { ...template.metadata?.annotations, 'ha-tier.dev/restarted-at': new Date().toISOString() } };
    await kube.apps.replaceNamespacedStatefulSet({ name, namespace: tier.namespace, body: sts });
    let failoverAt: number | undefined;
    const replaced = await rollout(kube, tier, target.component, ctx.log, undefined, false, (_pod, leader) => { if (leader) failoverAt = Date.now(); });
    return { detail: `${name}: template changed; replaced ${replaced.join(', ')} (leader last)`, heal: async () => {}, failoverAt };
  },
};
