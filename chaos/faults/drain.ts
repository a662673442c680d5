/**
 * Drain of the target's node, as `kubectl drain` does it: the node is cordoned and every pod of the
 * tier on it is evicted through the Eviction API, which honours the PodDisruptionBudgets (an eviction
 * that would break one is refused with 429 and tried again). Each evicted leader hands over in its
 * preStop hook. The StatefulSet pods cannot move (their volumes are local to the node), so they wait,
 * Pending, until the node is uncordoned when the scenario's duration ends. The chaos probe is left
 * alone (it is not part of the tier).
 */
import { CHAOS_PROBE, LABEL, PART_OF } from '../../contract/index.js';
import { isNotFound } from '../../tools/kube.js';
import { Fault, sleep } from './types.js';

export const drain: Fault = {
  name: 'drain',
  title: "the target's node drained (cordon + evictions that honour the PDBs), uncordoned later",
  needsNodes: false,
  failover: 'handover',
  lateFailover: true,
  async inject(ctx, target) {
    if (!target) throw new Error('a drain needs a target pod');
    const { kube, tier } = ctx;
    const node = target.node;
    const setUnschedulable = async (unschedulable: boolean) => {
      for (let i = 0; i < 5; i++) {
        const n = await kube.core.readNode({ name: node });
        n.spec = { ...n.spec, unschedulable };
        try { await kube.core.replaceNode({ name: node, body: n }); return; } catch (err) { if ((err as { code?: number }).code !== 409) throw err; }
      }
    };
    await setUnschedulable(true);
    const pods = (await kube.core.listNamespacedPod({ namespace: tier.namespace, fieldSelector: `spec.nodeName=${node}` })).items
      .filter((p) => p.metadata?.labels?.[LABEL.instance] === PART_OF && p.metadata?.name !== CHAOS_PROBE.pod);
    const refused: string[] = [];
    let failoverAt: number | undefined;
    await Promise.all(pods.map(async (p) => {
      const name = p.metadata!.name!;
      const deadline = Date.now() + 120_000;
      for (;;) {
        try {
          const asked = Date.now();
          await kube.core.createNamespacedPodEviction({ name, namespace: tier.namespace, body: { metadata: { name, namespace: tier.namespace } } });
          if (name === target.pod) failoverAt = asked;
          ctx.log(`evicted ${name}`);
          return;
        } catch (err) {
          if (isNotFound(err)) return;
          if ((err as { code?: number }).code === 429 && Date.now() < deadline) { refused.push(name); await sleep(1000); continue; }
          throw err;
        }
      }
    }));
    return {
      detail: `${node} cordoned; evicted ${pods.map((p) => p.metadata?.name).join(', ')}${refused.length ? ` (PDB held back ${[...new Set(refused)].join(', ')} for a while)` : ''}`,
      heal: () => setUnschedulable(false),
      failoverAt,
    };
  },
};
