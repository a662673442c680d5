/**
 * `npm run status [-- --json] [--namespace NS] [--wait SECONDS] [--no-writes]`
 *
 * Prints the tier's health as its components see it (etcd members and leader, Patroni's cluster,
 * the routed Services, every Sentinel's view, the Redis data lineage, a write through each client
 * path) and exits non-zero when something is unhealthy. `--wait` polls until healthy, with a progress
 * line, and on timeout names the stuck pods with their last events and log lines. It only reads:
 * whatever changes a running tier is done by `npm run up` (tools/reconcile.ts).
 */
import { parseArgs } from 'node:util';
import { DEFAULT_NAMESPACE } from '../contract/index.js';
import { formatHealth, tierHealth, TierHealth } from './health.js';
import { Kube, UserError, connect, describeStuckPod, isReady, sleep } from './kube.js';
import { loadTier } from './tier.js';

async function stuckReport(kube: Kube, ns: string): Promise<string> {
  const pods = (await kube.core.listNamespacedPod({ namespace: ns })).items.filter((p) => !isReady(p));
  if (pods.length === 0) return '  every pod is Ready; the components disagree (see the checks above)';
  return (await Promise.all(pods.map((p) => describeStuckPod(kube, ns, p)))).join('\n');
}

function progressLine(h: TierHealth, elapsed: number): string {
  const failing = h.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
  return `  [${String(elapsed).padStart(3)}s] ${failing[0] ?? 'healthy'}${failing.length > 1 ? ` (+${failing.length - 1} more)` : ''}`;
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean' },
      namespace: { type: 'string', default: process.env.HA_TIER_NAMESPACE ?? DEFAULT_NAMESPACE },
      wait: { type: 'string' },
      'no-writes': { type: 'boolean' },
    },
  });
  const ns = values.namespace!;
  const kube = connect();
  const tier = await loadTier(kube, ns);
  const writes = !values['no-writes'];
  let health: TierHealth;
  if (values.wait) {
    const limit = Number(values.wait);
    if (!Number.isFinite(limit) || limit <= 0) throw new UserError(`--wait (${values.wait}) must be a number of seconds`);
    const started = Date.now();
    let last = '';
    for (;;) {
      health = await tierHealth(kube, tier, { writes });
      const elapsed = Math.round((Date.now() - started) / 1000);
      if (health.healthy) break;
      const line = progressLine(health, elapsed);
      if (line.slice(8) !== last.slice(8) || elapsed % 15 < 3) process.stderr.write(`${line}\n`);
      last = line;
      if (elapsed >= limit) {
        process.stderr.write(`${formatHealth(health)}\n\nthe tier did not become healthy within ${limit}s; pods not Ready:\n${await stuckReport(kube, ns)}\n`);
        return 1;
      }
      await sleep(3000);
    }
    process.stderr.write(`  healthy after ${Math.round((Date.now() - started) / 1000)}s\n`);
  } else {
    health = await tierHealth(kube, tier, { writes });
  }
  console.log(values.json ? JSON.stringify(health, null, 2) : formatHealth(health));
  return health.healthy ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    console.error(`status: ${err instanceof UserError ? err.message : (err as Error).stack ?? err}`);
    process.exitCode = 2;
  },
);
