/**
 * Node loss: the node that hosts the target, with everything on it, for the scenario's duration.
 * - frozen (`docker pause`): every process stops while the kernel still answers TCP: clients hang
 *   rather than fail; the node controller marks the node NotReady after its grace period (40 s).
 * - stopped (`docker stop`): a shutdown; connections are refused or time out.
 * Then it comes back (`docker unpause` / `docker start`) and its pods rejoin. While it is away, its
 * StatefulSet pods stay bound to it (their volumes are local to it): Kubernetes does not replace them
 * (docs/chaos.md says what an operator may do instead).
 */
import { Fault } from './types.js';

function nodeLoss(how: 'freeze' | 'stop'): Fault {
  return {
    name: how === 'freeze' ? 'node-freeze' : 'node-stop',
    title: how === 'freeze' ? "the target's node frozen (docker pause), then back" : "the target's node stopped (docker stop), then started",
    needsNodes: true,
    failover: 'silent',
    async inject(ctx, target, durationMs) {
      if (!target || !ctx.nodes) throw new Error('node loss needs a target pod and the nodes');
      const nodes = ctx.nodes;
      const node = target.node;
      if (how === 'freeze') await nodes.pause(node);
      else await nodes.stop([node]);
      return {
        detail: `${how === 'freeze' ? 'froze' : 'stopped'} ${node} (hosting ${target.pod}) for ${Math.round(durationMs / 1000)} s`,
        node,
        heal: () => (how === 'freeze' ? nodes.unpause(node) : nodes.start([node])),
      };
    },
  };
}

export const nodeFreeze = nodeLoss('freeze');
export const nodeStop = nodeLoss('stop');
