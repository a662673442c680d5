/**
 * Kept run records and the fault-matrix page.
 *
 * A record (`npm run chaos -- … --keep docs/runs`) is one run's report.json without the raw event
 * streams, gzipped: `docs/runs/<run>.json.gz`, written after every trial, so a run interrupted on one
 * machine can be taken up on another (`--resume docs/runs/<run>.json.gz`) and its trials outlive the
 * machine. Every number of the summaries, phases and objectives is kept; only the per-write events
 * (what writes.svg plots, ~50 KiB a trial) stay in results/.
 *
 * `npm run chaos:matrix -- RECORD... [--out docs/matrix.md]` merges records (files or run
 * directories) into the matrix page: every scenario of chaos/scenarios.ts, measured or not, its
 * numbers, phases, objectives met or missed with why, and a phases chart beside it.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ROUTED_SLICES } from '../contract/index.js';
import { UserError } from '../tools/kube.js';
import type { TierDescriptor } from '../contract/index.js';
import { judge, predictedBounds } from './phases.js';
import { Objective, ObjectiveResult, RunInfo, ScenarioSummary, boundSetup, checkObjectives, phasesChart, recordedSetup, settingsOf, summarize } from './report.js';
import { SCENARIOS } from './scenarios.js';
import type { TrialResult } from './trial.js';

/** Lost writes pg/redis/etcd over all trials, and in the worst trial when any were lost. */
function lostCell(s: ScenarioSummary): string {
  const total = `${s.lostAcked.pg}/${s.lostAcked.redis}/${s.lostAcked.etcd}`;
  const any = s.lostAcked.pg + s.lostAcked.redis + s.lostAcked.etcd > 0;
  return any ? `${total} (worst trial ${s.maxLostAcked.pg}/${s.maxLostAcked.redis}/${s.maxLostAcked.etcd})` : total;
}

/** What a record holds: the run and its trials, events left out. */
export interface RunRecord {
  run: RunInfo;
  trials: TrialResult[];
}

/** Marks a run's command while it is still going (or was interrupted). */
export const IN_PROGRESS = ' (in progress)';

/** The record's file for a run written to `outDir`, kept in `keepDir`. */
export function recordPath(keepDir: string, outDir: string): string {
  return join(keepDir, `${basename(outDir.replace(/\/+$/, ''))}.json.gz`);
}

/** A trial without its event stream (the number of events it had is kept). */
export function slim(t: TrialResult): TrialResult {
  return { ...t, events: [], eventCount: t.events?.length ?? t.eventCount ?? 0 };
}

export function writeRecord(file: string, record: RunRecord): void {
  mkdirSync(dirname(file), { recursive: true });
  const body = JSON.stringify({ run: record.run, trials: record.trials.map(slim) });
  // Written whole, then renamed: an interrupted write never leaves half a record.
  writeFileSync(`${file}.tmp`, gzipSync(body, { level: 9 }));
  renameSync(`${file}.tmp`, file);
}

/** Reads a record file (.json.gz or .json) or a run directory's report.json. */
export function readRecord(path: string): RunRecord {
  let text: string;
  try {
    if (existsSync(path) && statSync(path).isDirectory()) text = readFileSync(join(path, 'report.json'), 'utf8');
    else if (path.endsWith('.gz')) text = gunzipSync(readFileSync(path)).toString('utf8');
    else text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UserError(`${path}: not a run record (a .json.gz from --keep, or a run directory with report.json): ${(err as Error).message.split('\n')[0]}`);
  }
  let parsed: Partial<RunRecord>;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UserError(`${path}: its JSON does not parse (${(err as Error).message})`);
  }
  if (!parsed.run || !Array.isArray(parsed.trials)) throw new UserError(`${path}: not a run record (it needs "run" and "trials")`);
  return { run: parsed.run, trials: parsed.trials };
}

export interface MatrixSource { path: string; record: RunRecord }

/** The command that takes a run up again from its record: the same arguments, --resume instead of --out/--keep. */
/** An argument as a POSIX shell reads it back unchanged (a pattern such as `*` quoted, not expanded). */
export const shellWord = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`);

export function resumeCommand(command: string, recordFile: string): string {
  const args = command.replace(/^npm run chaos -- ?/, '').split(' ').filter(Boolean);
  const kept = args.filter((a, i) => !/^--(out|keep|resume)(=.*)?$/.test(a) && !/^--(out|keep|resume)$/.test(args[i - 1] ?? ''));
  return `npm run chaos -- ${kept.map((a) => shellWord(a.replace(/^'(.*)'$/, '$1'))).join(' ')} --resume ${recordFile}`;
}

const sec = (ms: number | null | undefined) => (ms === null || ms === undefined ? '–' : (ms / 1000).toFixed(2));

/** The page's Markdown. `sources` in the order given; a later record's trial of a scenario adds to the earlier ones. */
export function matrixMarkdown(sources: MatrixSource[], summaries: ScenarioSummary[], objectives: ObjectiveResult[], chartFile: string, pageDir: string, rejudged = false): string {
  const lines: string[] = [];
  lines.push('<!-- Generated by `npm run chaos:matrix` from the run records listed below; do not edit by hand. -->', '');
  lines.push('# The fault matrix', '');
  const measured = new Set(summaries.map((s) => s.scenario));
  const trials = summaries.reduce((n, s) => n + s.trials, 0);
  const met = objectives.filter((o) => o.met).length;
  lines.push(`${measured.size} of ${SCENARIOS.length} scenarios measured, ${trials} trials; ${met} of ${objectives.length} objective checks met. ` +
    'Every number comes from the kept records below (`docs/runs/`); regenerate with the command at the end.', '');
  lines.push('## Runs', '', '| record | command | started | trials | state |', '|---|---|---|---|---|');
  for (const { path, record } of sources) {
    const done = !record.run.command.endsWith(IN_PROGRESS);
    const command = record.run.command.replace(IN_PROGRESS, '');
    lines.push(`| [${basename(path)}](${relative(pageDir, path)}) | \`${command}\` | ${record.run.startedAt} | ${record.trials.length} | ${done ? 'complete' : `stopped before its end; take it up with \`${resumeCommand(command, path)}\``} |`);
  }
  const settings = new Map<string, Set<string>>();
  for (const { record } of sources) for (const [k, v] of Object.entries(recordedSetup(record.run.setup, record.run.namespace))) settings.set(k, (settings.get(k) ?? new Set()).add(v));
  lines.push('', '### Setup', '', '| | |', '|---|---|');
  for (const [k, vs] of settings) lines.push(`| ${k} | ${[...vs].join('<br>')}${vs.size > 1 ? ' (differs between runs)' : ''} |`);

  lines.push('', '## Summary', '', "Seconds from the fault. *Write gap*: the headline client's longest interval between acknowledged writes. *Lost*: acknowledged writes missing when read back, over all trials (and in the worst trial, when any). *Split*: sampling rounds with two PostgreSQL primaries able to acknowledge / two Redis masters accepting writes. " +
    `*Two listed*: seconds \`${ROUTED_SLICES.primary}\` listed more than one pod. *Over bound*: trials in which a phase took longer than its settings predict.`, '');
  lines.push('| scenario | trials | write gap median | p95 | max | new leader median | healthy median | lost pg/redis/etcd | split pg/redis | two listed max | over bound |', '|---|---|---|---|---|---|---|---|---|---|---|');
  for (const sc of SCENARIOS) {
    const s = summaries.find((x) => x.scenario === sc.name);
    if (!s) { lines.push(`| ${sc.name} | 0 | not measured yet | | | | | | | | |`); continue; }
    const over = s.phases.filter((p) => p.exceeded).map((p) => `${p.name} ${p.exceeded}/${s.trials}`).join('; ') || '0';
    lines.push(`| ${sc.name} | ${s.trials} | ${sec(s.writeGapMs.median)} | ${sec(s.writeGapMs.p95)} | ${sec(s.writeGapMs.max)} | ${sec(s.newLeaderMs.median)} | ${sec(s.recoveredMs.median)} | ${lostCell(s)} | ${s.splitBrainRounds}/${s.redisSplitRounds} | ${sec(s.primaryMultiMs.max)} | ${over} |`);
  }
  lines.push('', `## Phases`, '', `![phases](${relative(pageDir, chartFile)})`, '', rejudged
    ? 'Every trial is judged by the bounds `chaos/phases.ts` predicts today (the records measured the settings the kind profile synthesizes today). The bound shown is the first trial\'s; a trial whose node also hosted etcd\'s leader has a later one.'
    : 'Each trial keeps the bounds it was judged by when it ran (the records measured other settings than the kind profile synthesizes today).', '', '| scenario | phase | median | max | bound | over bound |', '|---|---|---|---|---|---|');
  for (const s of summaries) for (const p of s.phases) lines.push(`| ${s.scenario} | ${p.name} | ${sec(p.ms.median)} | ${sec(p.ms.max)} | ${sec(p.boundMs)} | ${p.exceeded ? `**${p.exceeded}/${s.trials}**` : '0'} |`);
  lines.push('', '## Objectives (chaos/objectives.json)', '', '| scenario | measure | objective | actual | result | why |', '|---|---|---|---|---|---|');
  for (const o of objectives) {
    const isTime = o.measure.endsWith('Ms');
    const fmt = (v: number | null) => (isTime ? `${sec(v)} s` : String(v ?? '–'));
    lines.push(`| ${o.scenario} | ${o.stat} ${o.measure} | ≤ ${fmt(o.max)} | ${fmt(o.actual)} | ${o.met ? 'met' : `**missed** by ${fmt(o.over)}`} | ${(o.why ?? '').replaceAll('|', '/')} |`);
  }
  const findings = sources.flatMap(({ record }) => record.trials.flatMap((t) => (t.logFindings ?? []).map((f) => `- ${t.scenario} #${t.trial}: ${f}`)));
  lines.push('', '## Log findings', '', findings.length ? findings.join('\n') : 'None in any trial: no hit container logged an interrupted switchover, a second postmaster or a fenced start.');
  lines.push('', '## Regenerate', '', '```', `npm run chaos:matrix -- ${sources.map((s) => s.path).join(' ')} --out ${join(pageDir, 'matrix.md')}`, '```', '');
  return lines.join('\n');
}

/**
 * The trials' phases judged again by today's bounds (chaos/phases.ts), so that every trial of a page
 * is judged by one model however old its record: done when every record measured the settings the
 * kind profile synthesizes today (a bound is a function of them), else the trials keep the verdicts
 * they were given when run.
 */
export function rejudge(trials: TrialResult[], setups: Record<string, string>[], ns: string, tier: TierDescriptor): { trials: TrialResult[]; rejudged: boolean } {
  const today = boundSetup(settingsOf(tier));
  const same = tier.namespace === ns && setups.map((setup) => boundSetup(recordedSetup(setup, ns))).every((setup) => Object.entries(today).every(([k, v]) => setup[k] === v));
  if (!same) return { trials, rejudged: false };
  const kindOf = new Map(SCENARIOS.map((s) => [s.name, s.fault.failover]));
  const late = new Set(SCENARIOS.filter((s) => s.fault.lateFailover).map((s) => s.name));
  return {
    rejudged: true,
    trials: trials.map((t) => {
      // A rollout or drain trial made before the runner kept when the leader's part began has its
      // phases timed from the fault's start (a rollout's first replica): they are left out.
      if (late.has(t.scenario) && t.failoverAfterMs === undefined) return { ...t, phases: [] };
      const kind = kindOf.get(t.scenario);
      return kind && t.phases ? { ...t, phases: judge(t.phases, predictedBounds(tier, kind, { dcsLeaderLost: t.dcsLeaderLost })) } : t;
    }),
  };
}

/** Builds the page from records; returns the files written. */
export async function writeMatrix(paths: string[], outFile: string, objectives: Objective[]): Promise<string[]> {
  if (!paths.length) throw new UserError('give at least one run record (docs/runs/*.json.gz) or run directory');
  const sources = paths.map((path) => ({ path, record: readRecord(path) }));
  const namespaces = new Set(sources.map((s) => s.record.run.namespace));
  if (namespaces.size > 1) throw new UserError(`the records are of different namespaces (${[...namespaces].join(', ')}): one matrix is one tier`);
  const ns = [...namespaces][0];
  // The same scenario and trial number in two records are two trials: number them apart.
  const seen = new Map<string, number>();
  const numbered = sources.flatMap((s) => s.record.trials.filter((t) => t.namespace === ns)).map((t) => {
    const n = (seen.get(t.scenario) ?? 0) + 1;
    seen.set(t.scenario, n);
    return { ...t, trial: n };
  });
  // The chart library is loaded here, for the page only: the runner imports this module too.
  const { describeTier } = await import('../charts/app.js');
  const { trials, rejudged } = rejudge(numbered, sources.map((s) => s.record.run.setup), ns, describeTier({ profile: 'kind' }));
  const order = new Map(SCENARIOS.map((s, i) => [s.name, i]));
  const summaries = summarize(trials).sort((a, b) => (order.get(a.scenario) ?? 1e9) - (order.get(b.scenario) ?? 1e9));
  const results = checkObjectives(objectives, summaries, ns);
  const pageDir = dirname(outFile);
  const chartFile = outFile.replace(/\.md$/, '') + '-phases.svg';
  mkdirSync(pageDir, { recursive: true });
  writeFileSync(outFile, matrixMarkdown(sources, summaries, results, chartFile, pageDir, rejudged));
  writeFileSync(chartFile, await phasesChart(summaries));
  return [outFile, chartFile];
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: { out: { type: 'string', default: 'docs/matrix.md' }, objectives: { type: 'string', default: 'chaos/objectives.json' } },
  });
  if (!values.out!.endsWith('.md')) throw new UserError(`--out (${values.out}) must name a Markdown file (….md)`);
  const objectives = (JSON.parse(readFileSync(values.objectives!, 'utf8')) as { objectives: Objective[] }).objectives;
  for (const f of await writeMatrix(positionals, values.out!, objectives)) process.stderr.write(`wrote ${f}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`chaos:matrix: ${err instanceof UserError ? err.message : (err as Error).stack ?? err}`);
    process.exitCode = 2;
  });
}
