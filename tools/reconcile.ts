/**
 * `npm run up`'s last step on a running tier (tools/reconcile.ts [--namespace NS]): makes what lives
 * in the components' own state match the synthesized tier. Today: Patroni's dynamic configuration in
 * its DCS (ttl, loop_wait, failsafe_mode, ... and PostgreSQL parameters), which `bootstrap.dcs` only
 * sets when a cluster is first created; it is changed with Patroni's own `PATCH /config`.
 * Run by kind/bootstrap.sh after the tier is healthy; `npm run status` never changes anything.
 */
import { parseArgs } from 'node:util';
import { COMPONENTS, DEFAULT_NAMESPACE, TierDescriptor } from '../contract/index.js';
import { tierHealth } from './health.js';
import { Kube, UserError, connect, execIn } from './kube.js';
import { loadTier } from './tier.js';

type Json = Record<string, unknown>;

/** The part of `desired` that differs from `current` (recursing into objects), or undefined. */
export function configPatch(desired: Json, current: Json): Json | undefined {
  const patch: Json = {};
  for (const [k, v] of Object.entries(desired)) {
    const have = current[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && have && typeof have === 'object' && !Array.isArray(have)) {
      const sub = configPatch(v as Json, have as Json);
      if (sub) patch[k] = sub;
    } else if (JSON.stringify(v) !== JSON.stringify(have)) {
      patch[k] = v;
    }
  }
  return Object.keys(patch).length ? patch : undefined;
}

async function syncPatroniConfig(kube: Kube, tier: TierDescriptor, leader: string): Promise<string> {
  const api = `http://127.0.0.1:${COMPONENTS.postgres.ports.patroni}`;
  const container = COMPONENTS.postgres.container;
  const current = await execIn(kube, tier.namespace, leader, container, ['curl', '-s', '--max-time', '3', `${api}/config`]);
  const patch = configPatch(tier.patroni.dcs as Json, JSON.parse(current.stdout) as Json);
  if (!patch) return 'Patroni dynamic configuration already as synthesized';
  const res = await execIn(kube, tier.namespace, leader, container,
    ['curl', '-s', '--fail-with-body', '--max-time', '5', '-X', 'PATCH', '-H', 'Content-Type: application/json', '-d', JSON.stringify(patch), `${api}/config`]);
  if (!res.ok) throw new Error(`PATCH /config on ${leader} failed: ${(res.stderr || res.stdout).trim()}`);
  return `Patroni dynamic configuration updated: ${JSON.stringify(patch)}`;
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { namespace: { type: 'string', default: process.env.HA_TIER_NAMESPACE ?? DEFAULT_NAMESPACE } } });
  const kube = connect();
  const tier = await loadTier(kube, values.namespace!);
  const health = await tierHealth(kube, tier, { writes: false });
  if (!health.facts.patroniLeader) throw new UserError('Patroni has no leader; nothing was changed');
  process.stderr.write(`    ${await syncPatroniConfig(kube, tier, health.facts.patroniLeader)}\n`);
}

const invokedDirectly = process.argv[1]?.endsWith('reconcile.ts');
if (invokedDirectly) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`reconcile: ${err instanceof UserError ? err.message : (err as Error).stack ?? err}`);
    process.exitCode = 2;
  });
}
