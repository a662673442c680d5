/**
 * `npm run status [-- --json] [--namespace NS] [--wait SECONDS] [--sync-config]`
 *
 * Prints the tier's health as its components see it (etcd members and leader, Patroni's cluster,
 * every Sentinel's view, the -primary endpoint, a write through each client path) and exits non-zero
 * when something is unhealthy. `--wait` polls until healthy, with a progress line, and on timeout
 * names the stuck pods with their last events and log lines. `--sync-config` makes Patroni's dynamic
 * configuration (ttl, loop_wait, ...) match the synthesized bootstrap.dcs on a running cluster.
 */
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { formatHealth, tierHealth, TierHealth } from './health.js';
import { Kube, UserError, connect, describeStuckPod, execIn, isReady, sleep } from './kube.js';

async function syncPatroniConfig(kube: Kube, ns: string, leader: string): Promise<string> {
  const cm = await kube.core.readNamespacedConfigMap({ name: 'postgres-patroni', namespace: ns });
  const desired = (parseYaml(cm.data?.['patroni.yml'] ?? '') as { bootstrap: { dcs: Record<string, unknown> } }).bootstrap.dcs;
  const current = await execIn(kube, ns, leader, 'patroni', ['curl', '-s', '--max-time', '3', 'http://127.0.0.1:8008/config']);
  const have = JSON.parse(current.stdout) as Record<string, unknown>;
  const keys = ['ttl', 'loop_wait', 'retry_timeout', 'maximum_lag_on_failover', 'synchronous_mode', 'synchronous_mode_strict'];
  const patch = Object.fromEntries(keys.filter((k) => JSON.stringify(have[k]) !== JSON.stringify(desired[k])).map((k) => [k, desired[k]]));
  if (Object.keys(patch).length === 0) return 'Patroni dynamic configuration already as synthesized';
  const res = await execIn(kube, ns, leader, 'patroni', ['curl', '-s', '--max-time', '5', '-XPATCH', '-H', 'Content-Type: application/json', '-d', JSON.stringify(patch), 'http://127.0.0.1:8008/config']);
  if (!res.ok) throw new Error(`PATCH /config on ${leader} failed: ${res.stderr}`);
  return `Patroni dynamic configuration updated: ${JSON.stringify(patch)}`;
}

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
      namespace: { type: 'string', default: process.env.HA_TIER_NAMESPACE ?? 'ha-tier' },
      wait: { type: 'string' },
      'sync-config': { type: 'boolean' },
      'no-writes': { type: 'boolean' },
    },
  });
  const ns = values.namespace!;
  const kube = connect();
  try {
    await kube.core.readNamespace({ name: ns });
  } catch {
    throw new UserError(`namespace ${ns} does not exist in ${kube.context}; bring the tier up with 'npm run up'`);
  }
  const writes = !values['no-writes'];
  let health: TierHealth;
  if (values.wait) {
    const limit = Number(values.wait);
    if (!Number.isFinite(limit) || limit <= 0) throw new UserError(`--wait (${values.wait}) must be a number of seconds`);
    const started = Date.now();
    let last = '';
    for (;;) {
      health = await tierHealth(kube, ns, { writes });
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
    health = await tierHealth(kube, ns, { writes });
  }
  if (values['sync-config'] && health.facts.patroniLeader) {
    process.stderr.write(`  ${await syncPatroniConfig(kube, ns, health.facts.patroniLeader)}\n`);
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
