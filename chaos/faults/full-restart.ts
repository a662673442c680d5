/**
 * Full restart: every node of the kind cluster stopped and started at once (the laptop-reboot case),
 * the control plane included. The probe dies with its node; the runner keeps every acknowledged write
 * it streamed and a new probe reads them back once the tier is healthy again.
 * - full-restart: as it stands;
 * - full-restart-lagging: the target's node is stopped first for the scenario's duration while writes
 *   go on, so its members fall behind; then everything stops and starts. A member that lags must not
 *   become the one the others resynchronise from.
 */
import { Fault } from './types.js';

function restartAll(lagging: boolean): Fault {
  return {
    name: lagging ? 'full-restart-lagging' : 'full-restart',
    title: lagging ? "the target's node stopped (its members fall behind), then every node stopped and started" : 'every node stopped and started at once',
    needsNodes: true,
    failover: 'silent',
    async inject(ctx, target, durationMs) {
      if (!ctx.nodes) throw new Error('a full restart needs the nodes');
      const nodes = ctx.nodes;
      let detail = '';
      if (lagging) {
        if (!target) throw new Error('full-restart-lagging needs a target pod');
        await nodes.stop([target.node]);
        ctx.log(`stopped ${target.node} (hosting ${target.pod}); writes go on without it for ${Math.round(durationMs / 1000)} s`);
        await new Promise((r) => setTimeout(r, durationMs));
        detail = `${target.node} (hosting ${target.pod}) stopped for ${Math.round(durationMs / 1000)} s, then `;
      }
      const rest = nodes.nodes.filter((n) => !lagging || n !== target?.node);
      await nodes.stop(rest);
      ctx.log(`stopped ${rest.join(', ')}`);
      return {
        detail: `${detail}all ${nodes.nodes.length} nodes stopped and started`,
        probeLost: true,
        heal: async () => { await nodes.start(nodes.nodes); },
      };
    },
  };
}

export const fullRestart = restartAll(false);
export const fullRestartLagging = restartAll(true);
