/**
 * `npm run chaos -- [SCENARIO|PATTERN ...] [--fault NAME] [--trials N] [--short] [--sample-ms N]
 *                  [--baseline [--baseline-trials N]] [--soak SECONDS --seed N] [--namespace NS]
 *                  [--objectives FILE] [--out DIR | --resume DIR|RECORD] [--keep DIR] [--report DIR]`
 *
 * Runs the fault matrix (chaos/scenarios.ts) against the tier and measures failover as an in-cluster
 * client sees it (chaos/probe), checking on every trial that no acknowledged write was lost, that
 * PostgreSQL never had two writable primaries nor Redis two masters accepting writes, how long the
 * routed Service disagreed with the truth, and the failover's phases against the bounds the settings
 * predict. Refuses to run unless kubectl points at the project's kind cluster (or a context named in
 * HA_TIER_ALLOW_CONTEXT) and the tier is healthy. Writes results/chaos-<time>/report.{json,md},
 * writes.svg and phases.svg; exits 1 when an objective of chaos/objectives.json is missed. The probe
 * pod is removed when the run ends. A trial that cannot run (its fault fails to inject, the tier does
 * not come back) ends the run with exit 2 and the command that takes it up again.
 *
 * `--short` uses each scenario's short duration (the CI's pass); `--sample-ms 0` turns the probe's
 * sampling off (to measure its own effect); `--soak` draws scenarios at random, reproducibly from
 * `--seed`, until the time is up. `--resume DIR` takes up a run that was interrupted (a long matrix on
 * a laptop): it keeps DIR's trials and runs the missing ones, refusing when the scenarios, options,
 * images or settings differ. `--keep DIR` also writes the run's record, DIR/NAME.json.gz (the
 * report without the raw events, chaos/matrix.ts), after every trial: commit it and the run survives
 * the machine; `--resume DIR/NAME.json.gz` takes it up anywhere, `npm run chaos:matrix` pages it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { basename, dirname, join } from 'node:path';
import { DEFAULT_NAMESPACE, TierDescriptor } from '../contract/index.js';
import { tierHealth } from '../tools/health.js';
import { CLUSTER_NAME, Kube, UserError, connect, isNotFound, sleep } from '../tools/kube.js';
import { loadTier } from '../tools/tier.js';
import { IN_PROGRESS, RunRecord, readRecord, recordPath, shellWord, writeRecord } from './matrix.js';
import { KindNodes } from './nodes.js';
import { Objective, RunInfo, RunPlan, checkObjectives, sameRun, settingsOf, summarize, writeReport } from './report.js';
import { SCENARIOS, chooseScenarios } from './scenarios.js';
import { PROBE_POD, TrialResult, ensureProbe, runTrial, waitHealthy } from './trial.js';

const sec = (ms: number | null) => (ms === null ? '–' : `${(ms / 1000).toFixed(1)}s`);

function progressLine(r: TrialResult, total: number): string {
  const leader = r.newLeader ? `${r.oldLeader}→${r.newLeader} in ${sec(r.newLeaderMs)}` : `leader ${r.oldLeader ?? '–'} kept`;
  const lost = Object.entries(r.lostAcked).filter(([, n]) => n > 0).map(([s, n]) => `${s} ${n}`).join(', ') || '0';
  const over = r.phases.filter((p) => p.exceeded).map((p) => p.name);
  return `  ${r.scenario} #${r.trial}/${total}: ${r.detail}; ${leader}; ${r.system} write gap ${sec(r.writeGapMs)}; healthy ${sec(r.recoveredMs)}; ` +
    `lost ${lost}; split ${r.splitBrainRounds}/${r.redisSplitRounds}${r.primaryStaleMs ? `; routing stale ${sec(r.primaryStaleMs)}` : ''}${over.length ? `; over bound: ${over.join(', ')}` : ''}`;
}

function versions(): Record<string, string> {
  const images = JSON.parse(readFileSync(new URL('../images/images.json', import.meta.url), 'utf8'));
  const kubectl = spawnSync('kubectl', ['version', '-o', 'json'], { encoding: 'utf8' });
  let server = '?';
  try { server = JSON.parse(kubectl.stdout).serverVersion.gitVersion; } catch { /* shown as ? */ }
  return {
    Kubernetes: `${server} (kind, 1 control plane + 3 workers)`,
    images: Object.keys(images).filter((k) => !k.startsWith('_')).map((k) => `${images[k].repository}:${images[k].tag}`).join(', '),
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

/** `--report DIR`: renders report.md and the charts again from DIR/report.json (after a report change). */
async function rerender(dir: string, objectivesFile: string): Promise<number> {
  const saved = JSON.parse(readFileSync(`${dir}/report.json`, 'utf8')) as { run: RunInfo; trials: TrialResult[] };
  const objectives = (JSON.parse(readFileSync(objectivesFile, 'utf8')) as { objectives: Objective[] }).objectives;
  const summaries = summarize(saved.trials);
  const results = checkObjectives(objectives, summaries, saved.run.namespace);
  const others = summaries.filter((s) => s.namespace !== saved.run.namespace);
  await writeReport(dir, saved.run, saved.trials, summaries, results, others.length ? { summaries: others } : undefined);
  process.stderr.write(`rewrote ${dir}/report.md, writes.svg and phases.svg\n`);
  return results.some((o) => !o.met) ? 1 : 0;
}

/** A small seeded PRNG (mulberry32): the same seed draws the same scenarios. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `--resume DIR|RECORD`: the interrupted run saved in DIR/report.json, or in a kept record
 * (`docs/runs/NAME.json.gz`), refused when it cannot go on.
 */
function priorRun(path: string, values: { soak?: string; out?: string }): RunRecord {
  if (values.soak) throw new UserError('--resume goes on with a matrix run; a soak (--soak) is not resumed: start it again with the same --seed');
  if (values.out && values.out !== path) throw new UserError(`--out (${values.out}) and --resume (${path}) must name the same directory; leave --out out`);
  const saved = readRecord(path);
  if (!saved.run.plan) throw new UserError(`--resume ${path}: that run saved no plan (it was made before --resume existed); start a new run`);
  return saved;
}

/** Where a resumed run writes: its own directory, or results/NAME for a kept record NAME.json.gz. */
function resumeDir(path: string): string {
  return isRecordFile(path) ? join('results', basename(path).replace(/\.json(\.gz)?$/, '')) : path;
}

function isRecordFile(path: string): boolean {
  return /\.json(\.gz)?$/.test(path);
}

async function removeProbe(kube: Kube, ns: string): Promise<void> {
  await kube.core.deleteNamespacedPod({ name: PROBE_POD, namespace: ns, gracePeriodSeconds: 0 }).catch((err) => { if (!isNotFound(err)) throw err; });
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      trials: { type: 'string', default: '3' },
      fault: { type: 'string' },
      short: { type: 'boolean' },
      'sample-ms': { type: 'string', default: '250' },
      baseline: { type: 'boolean' },
      'baseline-trials': { type: 'string' },
      'baseline-namespace': { type: 'string', default: 'ha-tier-baseline' },
      namespace: { type: 'string', default: process.env.HA_TIER_NAMESPACE ?? DEFAULT_NAMESPACE },
      objectives: { type: 'string', default: 'chaos/objectives.json' },
      out: { type: 'string' },
      soak: { type: 'string' },
      seed: { type: 'string' },
      'recover-timeout': { type: 'string', default: '600' },
      report: { type: 'string' },
      resume: { type: 'string' },
      keep: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(`usage: npm run chaos -- [SCENARIO|PATTERN ...] [--fault NAME] [--trials N] [--short] [--sample-ms N] [--baseline] [--soak SECONDS --seed N] [--out DIR | --resume DIR|RECORD] [--keep DIR]\nscenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`);
    return 0;
  }
  if (values.report) return rerender(values.report, values.objectives!);
  const trials = Number(values.trials);
  if (!Number.isInteger(trials) || trials < 1) throw new UserError(`--trials (${values.trials}) must be a whole number of at least 1`);
  const sampleMs = Number(values['sample-ms']);
  if (!Number.isInteger(sampleMs) || sampleMs < 0) throw new UserError(`--sample-ms (${values['sample-ms']}) must be a whole number of milliseconds, 0 to turn sampling off`);
  const chosen = chooseScenarios(positionals, values.fault);
  const objectives = (JSON.parse(readFileSync(values.objectives!, 'utf8')) as { objectives: Objective[] }).objectives;
  const recoverTimeoutMs = Number(values['recover-timeout']) * 1000;

  const kube = connect();
  const ns = values.namespace!;
  const needsNodes = chosen.filter((s) => s.fault.needsNodes);
  // Node faults need the nodes; every other run uses them when it can, to keep the hit container's log.
  const nodes = needsNodes.length
    ? await KindNodes.find(CLUSTER_NAME, kube.context, needsNodes[0].fault.name)
    : await KindNodes.find(CLUSTER_NAME, kube.context, 'logs').catch(() => undefined);
  const prior = values.resume ? priorRun(values.resume, values) : undefined;
  const now = new Date().toISOString();
  const startedAt = prior?.run.startedAt ?? now;
  const resumedAt = prior ? [...(prior.run.resumedAt ?? []), now] : undefined;
  const outDir = values.resume ? resumeDir(values.resume) : values.out ?? `results/chaos-${startedAt.replace(/[:.]/g, '-')}`;
  // A record taken up again goes on being kept where it was, unless --keep says elsewhere.
  const keepDir = values.keep ?? (values.resume && isRecordFile(values.resume) ? dirname(values.resume) : undefined);
  const keepFile = keepDir ? recordPath(keepDir, outDir) : undefined;
  const baselineTrials = values['baseline-trials'] ? Number(values['baseline-trials']) : trials;
  if (!Number.isInteger(baselineTrials) || baselineTrials < 1) throw new UserError(`--baseline-trials (${values['baseline-trials']}) must be a whole number of at least 1`);
  const plan: RunPlan = { scenarios: chosen.map((s) => s.name), trials, baselineTrials: values.baseline ? baselineTrials : null, short: !!values.short, sampleMs };
  process.stderr.write(`chaos: checking that the tier in ${ns} is healthy\n`);
  const mainTier = await loadTier(kube, ns);
  await waitHealthy(kube, mainTier, 60_000, 'before the run (bring it up with npm run up)');

  process.stderr.write('chaos: preparing the in-cluster probe\n');
  const image = execFileSync('bash', ['chaos/build-probe.sh'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();

  const tiers = [mainTier];
  if (values.baseline) tiers.push(await ensureBaselineTier(kube, values['baseline-namespace']!));
  // The probe's image tag is the hash of its bundle: its clients' options are part of what a run measured.
  const setup: Record<string, string> = { ...versions(), probe: image, 'probe sampling': sampleMs ? `every ${sampleMs} ms` : 'off' };
  for (const t of tiers) Object.assign(setup, settingsOf(t));
  if (prior) sameRun(values.resume!, prior.run, plan, setup);
  const command = prior?.run.command.replace(IN_PROGRESS, '') ?? `npm run chaos -- ${argv.map(shellWord).join(' ')}`;
  const results: TrialResult[] = prior ? [...prior.trials] : [];
  if (prior) process.stderr.write(`chaos: resuming ${outDir}: ${results.length} trial(s) done before, going on with the rest\n`);
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const save = async (done: boolean) => {
    const run = { startedAt, command: done ? command : `${command}${IN_PROGRESS}`, namespace: ns, setup, plan, resumedAt };
    await writeReport(outDir, run, results, summarize(results), checkObjectives(objectives, summarize(results), ns));
    if (keepFile) writeRecord(keepFile, { run, trials: results });
  };
  const trialOpts = { recoverTimeoutMs, short: !!values.short, sampleMs, nodes, logDir: join(outDir, 'logs'), log };
  // Ctrl-C (or SIGTERM) ends the run after the current trial, once its fault is healed; twice, at once.
  let stopAsked = false;
  let failure: string | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopAsked) {
      log(`chaos: ${signal} again: stopping now; a fault in progress may be left unhealed (npm run status says what is wrong)`);
      process.exit(130);
    }
    stopAsked = true;
    log(`chaos: ${signal}: stopping after the current trial, once its fault is healed (${signal} again to stop at once)`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    if (values.soak) {
      const seed = values.seed ? Number(values.seed) : Date.now() % 100_000;
      const random = seeded(seed);
      const end = Date.now() + Number(values.soak) * 1000;
      setup.soak = `${values.soak} s, seed ${seed} (replay with --seed ${seed})`;
      log(`chaos: soak for ${values.soak}s over ${chosen.length} scenarios, seed ${seed}`);
      await ensureProbe(kube, mainTier, image);
      const counts = new Map<string, number>();
      while (Date.now() < end && !stopAsked) {
        const scenario = chosen[Math.floor(random() * chosen.length)];
        const n = (counts.get(scenario.name) ?? 0) + 1;
        counts.set(scenario.name, n);
        log(`chaos: soak: ${scenario.name}: ${scenario.fault.title}`);
        results.push(await runTrial(kube, mainTier, scenario, n, trialOpts));
        log(progressLine(results.at(-1)!, n));
        await save(false);
      }
    } else {
      matrix: for (const tier of tiers) {
        await ensureProbe(kube, tier, image);
        const count = tier.namespace === ns ? trials : baselineTrials;
        for (const scenario of chosen) {
          const done = (i: number) => results.some((r) => r.namespace === tier.namespace && r.scenario === scenario.name && r.trial === i);
          if (Array.from({ length: count }, (_, k) => k + 1).every(done)) continue;
          log(`chaos: ${tier.namespace} ${scenario.name}: ${scenario.fault.title}`);
          for (let i = 1; i <= count; i++) {
            if (stopAsked) break matrix;
            if (done(i)) continue;
            let r: TrialResult;
            try {
              r = await runTrial(kube, tier, scenario, i, trialOpts);
            } catch (err) {
              // A trial that could not run (its fault failed to inject, the tier did not come back)
              // ends the run; the trials before it stay in the report and the record.
              failure = `${scenario.name} trial ${i}: ${err instanceof UserError ? err.message : (err as Error).message}`;
              break matrix;
            }
            results.push(r);
            log(progressLine(r, count));
            // Keep the report current, so an interrupted run still leaves its trials behind.
            await save(false);
            await sleep(1000);
          }
        }
      }
    }
  } finally {
    for (const t of tiers) await removeProbe(kube, t.namespace).catch(() => undefined);
  }

  if (stopAsked || failure) {
    await save(false);
    const rest = argv.filter((a, k) => !/^--(out|resume|keep)(=|$)/.test(a) && !/^--(out|resume|keep)$/.test(argv[k - 1] ?? ''));
    const again = `npm run chaos -- ${[...rest, '--resume', keepFile ?? outDir].map(shellWord).join(' ')}`;
    if (failure) log(`chaos: the run stopped: ${failure}`);
    log(`chaos: stopped with ${results.length} trial(s) in ${outDir}/report.json; take the run up again with: ${again}`);
    return failure ? 2 : 130;
  }
  const summaries = summarize(results);
  const objectiveResults = checkObjectives(objectives, summaries, ns);
  const baseline = values.baseline ? { summaries: summaries.filter((s) => s.namespace !== ns) } : undefined;
  const runInfo = { startedAt, command, namespace: ns, setup, plan, resumedAt };
  const files = await writeReport(outDir, runInfo, results, summaries, objectiveResults, baseline);
  if (keepFile) {
    writeRecord(keepFile, { run: runInfo, trials: results });
    files.push(keepFile);
  }
  const md = readFileSync(files[1], 'utf8');
  console.log(md.slice(md.indexOf('## Summary'), md.indexOf('## Phases')).trim());
  for (const f of files) log(`wrote ${f}`);
  const missed = objectiveResults.filter((o) => !o.met);
  if (missed.length) log(`chaos: ${missed.length} objective(s) missed`);
  return missed.length ? 1 : 0;
}

/**
 * Ends the process once the run is over even if a stream (a log follow, a watch) still holds the event
 * loop: a finished run must not keep a CI job waiting. The timer is unref'd, so it fires only then.
 */
function exitSoon(code: number): void {
  process.exitCode = code;
  setTimeout(() => {
    console.error('chaos: a connection was still open 10 s after the run ended; exiting anyway');
    process.exit(code);
  }, 10_000).unref();
}

main(process.argv.slice(2)).then(
  (code) => exitSoon(code),
  (err) => {
    console.error(`chaos: ${err instanceof UserError ? err.message : (err as Error).stack ?? err}`);
    process.exitCode = 2;
  },
);
