/**
 * `npm run chaos -- [scenario...] [--trials N] [--baseline] [--soak DURATION --every SECONDS]
 *                  [--namespace NS] [--objectives FILE] [--out DIR]`
 *
 * Deletes pods of the tier and measures failover as an in-cluster client sees it (chaos/probe),
 * checking on every trial that no acknowledged write was lost and that PostgreSQL never had two
 * writable primaries. Refuses to run unless kubectl points at the project's kind cluster (or a context
 * named in HA_TIER_ALLOW_CONTEXT) and the tier is healthy. Writes results/chaos-<time>/report.{json,md}
 * and writes.svg; exits 1 when an objective of chaos/objectives.json is missed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULT_NAMESPACE, TierDescriptor } from '../contract/index.js';
import { tierHealth } from '../tools/health.js';
import { Kube, UserError, connect, sleep } from '../tools/kube.js';
import { loadTier } from '../tools/tier.js';
import { Objective, RunInfo, checkObjectives, summarize, writeReport } from './report.js';
import { SCENARIOS, Scenario } from './scenarios/index.js';
import { TrialResult, ensureProbe, runTrial, waitHealthy } from './trial.js';
import { soak } from './soak.js';

const sec = (ms: number | null) => (ms === null ? '–' : `${(ms / 1000).toFixed(1)}s`);

function progressLine(r: TrialResult, total: number): string {
  const leader = r.newLeader ? `${r.oldLeader}→${r.newLeader} in ${sec(r.newLeaderMs)}` : `leader ${r.oldLeader} kept`;
  const lost = Object.entries(r.lostAcked).filter(([, n]) => n > 0).map(([s, n]) => `${s} ${n}`).join(', ') || '0';
  return `  ${r.namespace} ${r.scenario} #${r.trial}/${total}: deleted ${r.target}${r.force ? ' (force)' : ''}; ${leader}; write gap ${sec(r.writeGapMs)}; back ${sec(r.podReadyMs)}, healthy ${sec(r.recoveredMs)}; lost ${lost}; split brain ${r.splitBrainRounds}`;
}

/** The settings a run measured, from the tier's descriptor (what was synthesized). */
function settingsOf(tier: TierDescriptor): Record<string, string> {
  const d = tier.patroni.dcs as Record<string, unknown>;
  const r = tier.redis;
  return {
    [`${tier.namespace}: Patroni`]: `ttl ${d.ttl}, loop_wait ${d.loop_wait}, retry_timeout ${d.retry_timeout}, synchronous_mode ${d.synchronous_mode}, primary_start_timeout ${d.primary_start_timeout}, failsafe_mode ${d.failsafe_mode}, preStop switchover ${tier.patroni.switchoverOnDelete ? 'yes' : 'no'}, grace ${tier.patroni.terminationGracePeriodSeconds}s`,
    [`${tier.namespace}: Sentinel`]: `quorum ${r.quorum}, down-after ${r.downAfterMilliseconds} ms, failover-timeout ${r.failoverTimeoutMilliseconds} ms, min-replicas-to-write ${r.minReplicasToWrite} (max lag ${r.minReplicasMaxLag} s), preStop hand-over ${r.handOverOnDelete ? 'yes' : 'no'}, grace ${r.terminationGracePeriodSeconds}s`,
  };
}

function versions(): Record<string, string> {
  const images = JSON.parse(readFileSync(new URL('../images/images.json', import.meta.url), 'utf8'));
  const kubectl = spawnSync('kubectl', ['version', '-o', 'json'], { encoding: 'utf8' });
  let server = '?';
  try { server = JSON.parse(kubectl.stdout).serverVersion.gitVersion; } catch { /* shown as ? */ }
  return {
    Kubernetes: `${server} (kind, 1 control plane + 3 workers)`,
    images: ['etcd', 'patroni', 'redis'].map((k) => `${images[k].repository}:${images[k].tag}`).join(', '),
    machine: `${cpus().length} CPU (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
  };
}

async function ensureBaselineTier(kube: Kube, ns: string): Promise<TierDescriptor> {
  try {
    const tier = await loadTier(kube, ns);
    const h = await tierHealth(kube, tier, { writes: false });
    if (h.healthy) return tier;
  } catch { /* bring it up below */ }
  process.stderr.write(`chaos: bringing up the baseline tier in ${ns} (profile compose-baseline)\n`);
  const res = spawnSync('bash', ['kind/bootstrap.sh', '--profile', 'compose-baseline'], {
    stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, HA_TIER_NAMESPACE: ns },
  });
  if (res.status !== 0) throw new UserError(`the baseline tier in ${ns} did not come up (npm run up -- --profile compose-baseline)`);
  return loadTier(kube, ns);
}

/** `--report DIR`: renders report.md and writes.svg again from DIR/report.json (after a report change). */
async function rerender(dir: string, objectivesFile: string): Promise<number> {
  const saved = JSON.parse(readFileSync(`${dir}/report.json`, 'utf8')) as { run: RunInfo; trials: TrialResult[] };
  const objectives = (JSON.parse(readFileSync(objectivesFile, 'utf8')) as { objectives: Objective[] }).objectives;
  const summaries = summarize(saved.trials);
  const results = checkObjectives(objectives, summaries, saved.run.namespace);
  const others = summaries.filter((s) => s.namespace !== saved.run.namespace);
  await writeReport(dir, saved.run, saved.trials, summaries, results, others.length ? { summaries: others } : undefined);
  process.stderr.write(`rewrote ${dir}/report.md and ${dir}/writes.svg\n`);
  return results.some((o) => !o.met) ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      trials: { type: 'string', default: '3' },
      baseline: { type: 'boolean' },
      'baseline-trials': { type: 'string' },
      'baseline-namespace': { type: 'string', default: 'ha-tier-baseline' },
      namespace: { type: 'string', default: process.env.HA_TIER_NAMESPACE ?? DEFAULT_NAMESPACE },
      objectives: { type: 'string', default: 'chaos/objectives.json' },
      out: { type: 'string' },
      soak: { type: 'string' },
      every: { type: 'string', default: '60' },
      'recover-timeout': { type: 'string', default: '300' },
      report: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(`usage: npm run chaos -- [${SCENARIOS.map((s) => s.name).join('|')} ...] [--trials N] [--baseline] [--soak SECONDS --every SECONDS]`);
    return 0;
  }
  if (values.report) return rerender(values.report, values.objectives!);
  const trials = Number(values.trials);
  if (!Number.isInteger(trials) || trials < 1) throw new UserError(`--trials (${values.trials}) must be a whole number of at least 1`);
  const unknown = positionals.filter((p) => !SCENARIOS.some((s) => s.name === p));
  if (unknown.length) throw new UserError(`unknown scenario ${unknown.join(', ')}: use ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const chosen: Scenario[] = positionals.length ? SCENARIOS.filter((s) => positionals.includes(s.name)) : [...SCENARIOS];
  const objectives = (JSON.parse(readFileSync(values.objectives!, 'utf8')) as { objectives: Objective[] }).objectives;
  const recoverTimeoutMs = Number(values['recover-timeout']) * 1000;

  const kube = connect();
  const ns = values.namespace!;
  const startedAt = new Date().toISOString();
  const outDir = values.out ?? `results/chaos-${startedAt.replace(/[:.]/g, '-')}`;
  process.stderr.write(`chaos: checking that the tier in ${ns} is healthy\n`);
  const mainTier = await loadTier(kube, ns);
  await waitHealthy(kube, mainTier, 30_000, 'before the run (bring it up with npm run up)');

  process.stderr.write('chaos: preparing the in-cluster probe\n');
  const image = execFileSync('bash', ['chaos/build-probe.sh'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();

  const tiers = [mainTier];
  if (values.baseline) tiers.push(await ensureBaselineTier(kube, values['baseline-namespace']!));
  const setup: Record<string, string> = { ...versions() };
  for (const t of tiers) Object.assign(setup, settingsOf(t));

  const results: TrialResult[] = [];
  if (values.soak) {
    await waitHealthy(kube, mainTier, recoverTimeoutMs, 'before the soak');
    await ensureProbe(kube, mainTier, image);
    const report = await soak(kube, mainTier, Number(values.soak) * 1000, Number(values.every) * 1000, recoverTimeoutMs);
    const run: RunInfo = { startedAt, command: `npm run chaos -- ${argv.join(' ')}`, namespace: ns, setup };
    const files = await writeReport(outDir, run, report.results, summarize(report.results), []);
    process.stderr.write(`chaos: soak done: ${report.results.length} faults, lost ${JSON.stringify(report.lost)}, split brain ${report.splitBrainRounds}\n${files.map((f) => `wrote ${f}`).join('\n')}\n`);
    return report.splitBrainRounds === 0 && report.lost.pg === 0 && report.lost.etcd === 0 ? 0 : 1;
  }
  const baselineTrials = values['baseline-trials'] ? Number(values['baseline-trials']) : trials;
  if (!Number.isInteger(baselineTrials) || baselineTrials < 1) throw new UserError(`--baseline-trials (${values['baseline-trials']}) must be a whole number of at least 1`);
  for (const tier of tiers) {
    const n = tier.namespace;
    await waitHealthy(kube, tier, recoverTimeoutMs, 'before its first trial');
    await ensureProbe(kube, tier, image);
    const count = n === ns ? trials : baselineTrials;
    for (const scenario of chosen) {
      process.stderr.write(`chaos: ${n} ${scenario.name}: ${scenario.title}\n`);
      for (let i = 1; i <= count; i++) {
        const r = await runTrial(kube, tier, scenario, i, { recoverTimeoutMs });
        results.push(r);
        process.stderr.write(`${progressLine(r, count)}\n`);
        // Keep the report current, so an interrupted run still leaves its trials behind.
        await writeReport(outDir, { startedAt, command: `npm run chaos -- ${argv.join(' ')} (in progress)`, namespace: ns, setup }, results,
          summarize(results), checkObjectives(objectives, summarize(results), ns));
        await sleep(1000);
      }
    }
  }

  const summaries = summarize(results);
  const objectiveResults = checkObjectives(objectives, summaries, ns);
  const run: RunInfo = { startedAt, command: `npm run chaos -- ${argv.join(' ')}`, namespace: ns, setup };
  const baseline = values.baseline ? { summaries: summaries.filter((s) => s.namespace !== ns) } : undefined;
  const files = await writeReport(outDir, run, results, summaries, objectiveResults, baseline);
  const md = readFileSync(files[1], 'utf8');
  console.log(md.slice(md.indexOf('## Summary'), md.indexOf('## Trials')).trim());
  for (const f of files) process.stderr.write(`wrote ${f}\n`);
  const missed = objectiveResults.filter((o) => !o.met);
  if (missed.length) process.stderr.write(`chaos: ${missed.length} objective(s) missed\n`);
  return missed.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => {
    console.error(`chaos: ${err instanceof UserError ? err.message : (err as Error).stack ?? err}`);
    process.exitCode = 2;
  },
);
