/**
 * Pod deletion through the API, as an operator or a controller does it: graceful (the preStop hook
 * hands over, then SIGTERM within the grace period) or with grace period 0. Kubernetes still runs the
 * hook and sends SIGTERM with a ~2 s grace on a "force" delete, and may start the replacement before
 * the old container has exited (the volume fencing's case).
 */
import { Fault } from './types.js';

function podDelete(force: boolean): Fault {
  return {
    name: force ? 'pod-delete-force' : 'pod-delete',
    title: force ? 'pod deleted with grace period 0' : 'pod deleted (graceful: preStop hand-over, then SIGTERM)',
    needsNodes: false,
    failover: force ? 'crash' : 'handover',
    async inject(ctx, target) {
      if (!target) throw new Error('pod deletion needs a target pod');
      await ctx.kube.core.deleteNamespacedPod({ name: target.pod, namespace: ctx.tier.namespace, ...(force ? { gracePeriodSeconds: 0 } : {}) });
      return { detail: `deleted ${target.pod}${force ? ' (grace 0)' : ''}`, heal: async () => {} };
    },
  };
}

export const podDeleteGraceful = podDelete(false);
export const podDeleteForce = podDelete(true);
