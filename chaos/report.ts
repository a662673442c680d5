/**
 * Summaries, objectives and the report files of a chaos run: JSON (histories and summary), Markdown
 * (tables) and two SVG charts (Vega-Lite): acknowledged writes over time around each fault, and the
 * failover phases of each scenario beside the bounds the settings predict.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import { ROUTED_SLICES, SYSTEMS } from '../contract/index.js';
import { UserError } from '../tools/kube.js';
import type { LeaderView, System, TierDescriptor } from '../contract/index.js';
import { Op, Stats, stats } from './history.js';
import type { PhaseName } from './phases.js';
import type { TrialResult } from './trial.js';

export interface PhaseSummary { name: PhaseName; ms: Stats; boundMs: number | null; exceeded: number }

export interface ScenarioSummary {
  scenario: string;
  fault: string;
  namespace: string;
  trials: number;
  newLeaderMs: Stats;
  writeGapMs: Stats;
  podReadyMs: Stats;
  recoveredMs: Stats;
  routingLagMs: Stats;
  /** Acknowledged writes lost, over all trials. */
  lostAcked: Record<System, number>;
  /** The most acknowledged writes lost in one trial (what a per-trial bound is judged on). */
  maxLostAcked: Record<System, number>;
  splitBrainRounds: number;
  redisSplitRounds: number;
  twoPrimariesRounds: number;
  /** The most leader changes of each view in one trial. */
  maxLeaderChanges: Record<LeaderView, number>;
  primaryMultiMs: Stats;
  primaryStaleMs: Stats;
  phases: PhaseSummary[];
  unverified: number;
  /** Known failures found in the target's logs, over all trials. */
  logFindings: number;
}

export function summarize(results: TrialResult[]): ScenarioSummary[] {
  const groups = new Map<string, TrialResult[]>();
  for (const r of results) groups.set(`${r.namespace}/${r.scenario}`, [...(groups.get(`${r.namespace}/${r.scenario}`) ?? []), r]);
  const sum = (rs: TrialResult[], f: (r: TrialResult) => number) => rs.reduce((a, r) => a + f(r), 0);
  const perSystem = (f: (sys: System) => number) => Object.fromEntries(SYSTEMS.map((sys) => [sys, f(sys)])) as Record<System, number>;
  return [...groups.values()].map((rs) => {
    const phaseNames = [...new Set(rs.flatMap((r) => (r.phases ?? []).map((p) => p.name)))];
    return {
      scenario: rs[0].scenario,
      fault: rs[0].fault,
      namespace: rs[0].namespace,
      trials: rs.length,
      newLeaderMs: stats(rs.map((r) => r.newLeaderMs)),
      writeGapMs: stats(rs.map((r) => r.writeGapMs)),
      podReadyMs: stats(rs.map((r) => r.podReadyMs)),
      recoveredMs: stats(rs.map((r) => r.recoveredMs)),
      routingLagMs: stats(rs.map((r) => r.routingLagMs)),
      lostAcked: perSystem((sys) => sum(rs, (r) => r.lostAcked[sys])),
      maxLostAcked: perSystem((sys) => Math.max(0, ...rs.map((r) => r.lostAcked[sys]))),
      splitBrainRounds: sum(rs, (r) => r.splitBrainRounds),
      redisSplitRounds: sum(rs, (r) => r.redisSplitRounds ?? 0),
      twoPrimariesRounds: sum(rs, (r) => r.twoPrimariesRounds ?? 0),
      maxLeaderChanges: {
        patroni: Math.max(0, ...rs.map((r) => r.leaderChanges?.patroni ?? 0)),
        sentinel: Math.max(0, ...rs.map((r) => r.leaderChanges?.sentinel ?? 0)),
        etcd: Math.max(0, ...rs.map((r) => r.leaderChanges?.etcd ?? 0)),
      },
      primaryMultiMs: stats(rs.map((r) => r.primaryMultiMs)),
      primaryStaleMs: stats(rs.map((r) => r.primaryStaleMs)),
      phases: phaseNames.map((name) => {
        const ps = rs.map((r) => r.phases.find((p) => p.name === name)).filter((p) => p !== undefined);
        return { name, ms: stats(ps.map((p) => p.ms)), boundMs: ps[0]?.boundMs ?? null, exceeded: ps.filter((p) => p.exceeded).length };
      }),
      unverified: rs.filter((r) => !Object.values(r.verified).every(Boolean)).length,
      logFindings: sum(rs, (r) => r.logFindings?.length ?? 0),
    };
  });
}

export type Measure = 'writeGapMs' | 'newLeaderMs' | 'recoveredMs' | 'routingLagMs' | 'primaryMultiMs' | 'primaryStaleMs' |
  'lostAcked.pg' | 'lostAcked.redis' | 'lostAcked.etcd' | 'splitBrainRounds' | 'redisSplitRounds' |
  'leaderChanges.patroni' | 'leaderChanges.sentinel' | 'leaderChanges.etcd' | 'unverified' | 'logFindings';

export interface Objective {
  /** A scenario name, `*`, or a pattern with `*` (e.g. `*-crash`). */
  scenario: string;
  /** Patterns of scenarios the objective does not apply to. */
  except?: string[];
  measure: Measure;
  stat: 'median' | 'max' | 'p95';
  max: number;
  /** Why this bound: the reasoning or the setting it comes from. */
  why?: string;
  /**
   * The measure exists only in some trials (e.g. routing lag needs a PostgreSQL leader change): a
   * scenario without it is not judged. Otherwise a missing measure is a miss.
   */
  onlyWhenMeasured?: boolean;
}

export interface ObjectiveResult extends Objective {
  actual: number | null;
  met: boolean;
  /** How far over the objective the actual value is (0 when met). */
  over: number;
}

export function matches(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(name);
}

function actualOf(o: Objective, s: ScenarioSummary): number | null {
  const [head, tail] = o.measure.split('.');
  // Lost writes are judged per trial (the worst one); the summary's lostAcked is the total.
  if (head === 'lostAcked') return s.maxLostAcked[tail as System];
  if (head === 'leaderChanges') return s.maxLeaderChanges[tail as LeaderView];
  if (o.measure === 'splitBrainRounds' || o.measure === 'redisSplitRounds' || o.measure === 'unverified' || o.measure === 'logFindings') return s[o.measure];
  return s[o.measure as 'writeGapMs' | 'newLeaderMs' | 'recoveredMs' | 'routingLagMs' | 'primaryMultiMs' | 'primaryStaleMs'][o.stat];
}

export function checkObjectives(objectives: Objective[], summaries: ScenarioSummary[], namespace: string): ObjectiveResult[] {
  const out: ObjectiveResult[] = [];
  for (const o of objectives) {
    for (const s of summaries.filter((x) => x.namespace === namespace && matches(o.scenario, x.scenario) && !(o.except ?? []).some((e) => matches(e, x.scenario)))) {
      const actual = actualOf(o, s);
      if (actual === null && o.onlyWhenMeasured) continue;
      const met = actual !== null && actual <= o.max;
      out.push({ ...o, scenario: s.scenario, actual, met, over: actual === null ? Number.NaN : Math.max(0, actual - o.max) });
    }
  }
  return out;
}

const sec = (ms: number | null | undefined) => (ms === null || ms === undefined ? '–' : (ms / 1000).toFixed(2));

export function markdown(run: RunInfo, results: TrialResult[], summaries: ScenarioSummary[], objectives: ObjectiveResult[], baseline?: { summaries: ScenarioSummary[] }): string {
  const lines: string[] = [];
  lines.push(`# Chaos run ${run.startedAt}`, '', `Command: \`${run.command}\``, '');
  if (run.resumedAt?.length) lines.push(`Run in ${run.resumedAt.length + 1} parts: started ${run.startedAt}, taken up again (\`--resume\`) ${run.resumedAt.join(', ')}; the tier's images and settings were the same in every part.`, '');
  lines.push('## Setup', '', '| | |', '|---|---|');
  for (const [k, v] of Object.entries(run.setup)) lines.push(`| ${k} | ${v} |`);
  lines.push('', `Times in seconds from the fault. *Write gap*: the headline client's longest interval between two acknowledged writes around the fault. *New leader*: until the component's own view named another leader/master. *Healthy*: tier healthy again (fault healed, every member rejoined). *Lost*: acknowledged writes missing when read back. *Split*: sampling rounds with two PostgreSQL primaries able to acknowledge a commit / two Redis masters accepting writes (*out of recovery*: rounds with two PostgreSQL servers out of recovery, one unable to acknowledge, for information). *Leader changes*: the most in one trial, per view (Patroni/Sentinel/etcd). *Routing*: seconds \`${ROUTED_SLICES.primary}\` listed a pod that was not the writable primary; *lag*: from the new leader answering writable to the route naming it.`, '');
  lines.push('## Summary', '', '| namespace | scenario | trials | write gap median | p95 | max | new leader median | healthy median | lost pg/redis/etcd | split pg/redis | out of recovery | leader changes p/s/e | routing stale max | routing lag max |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const s of summaries) {
    lines.push(`| ${s.namespace} | ${s.scenario} | ${s.trials} | ${sec(s.writeGapMs.median)} | ${sec(s.writeGapMs.p95)} | ${sec(s.writeGapMs.max)} | ${sec(s.newLeaderMs.median)} | ${sec(s.recoveredMs.median)} | ${s.lostAcked.pg}/${s.lostAcked.redis}/${s.lostAcked.etcd} | ${s.splitBrainRounds}/${s.redisSplitRounds} | ${s.twoPrimariesRounds} | ${s.maxLeaderChanges.patroni}/${s.maxLeaderChanges.sentinel}/${s.maxLeaderChanges.etcd} | ${sec(s.primaryStaleMs.max)} | ${sec(s.routingLagMs.max)} |`);
  }
  lines.push('', '## Phases (median s from the fault; bound the settings predict; trials over it)', '');
  lines.push('| scenario | phase | median | max | bound | over bound |', '|---|---|---|---|---|---|');
  for (const s of summaries) {
    for (const p of s.phases) lines.push(`| ${s.scenario} | ${p.name} | ${sec(p.ms.median)} | ${sec(p.ms.max)} | ${sec(p.boundMs)} | ${p.exceeded ? `**${p.exceeded}/${s.trials}**` : '0'} |`);
  }
  lines.push('', '## Per scenario: min / median / p95 / max', '');
  for (const s of summaries) {
    lines.push(`### ${s.namespace} / ${s.scenario} (${s.trials} trials)`, '', '| measure (s) | min | median | p95 | max |', '|---|---|---|---|---|');
    const rows: [string, Stats][] = [['new leader', s.newLeaderMs], ['client write gap', s.writeGapMs], ['pod back (Ready)', s.podReadyMs], ['tier healthy again', s.recoveredMs]];
    for (const [name, st] of rows) lines.push(`| ${name} | ${sec(st.min)} | ${sec(st.median)} | ${sec(st.p95)} | ${sec(st.max)} |`);
    lines.push('', `Lost acknowledged writes pg/redis/etcd: ${s.lostAcked.pg}/${s.lostAcked.redis}/${s.lostAcked.etcd}; rounds with two writable primaries: ${s.splitBrainRounds}, with two Redis masters accepting writes: ${s.redisSplitRounds}; trials whose read-back did not complete: ${s.unverified}; known failures in the target's logs: ${s.logFindings}.`, '');
  }
  lines.push('', '## Objectives', '', '| scenario | measure | objective | actual | result | why |', '|---|---|---|---|---|---|');
  for (const o of objectives) {
    const isTime = o.measure.endsWith('Ms');
    const fmt = (v: number | null) => (isTime ? `${sec(v)} s` : String(v ?? '–'));
    lines.push(`| ${o.scenario} | ${o.stat} ${o.measure} | ≤ ${fmt(o.max)} | ${fmt(o.actual)} | ${o.met ? 'met' : `**missed** by ${fmt(o.over)}`} | ${o.why ?? ''} |`);
  }
  if (baseline) {
    lines.push('', '## Ours vs baseline (compose settings: ttl 30 / loop_wait 10 / retry 10, down-after 5000, no preStop hand-over)', '',
      '| scenario | write gap median ours | baseline | ratio | new leader median ours | baseline | ratio |', '|---|---|---|---|---|---|---|');
    for (const s of summaries.filter((x) => x.namespace === run.namespace)) {
      const b = baseline.summaries.find((x) => x.scenario === s.scenario);
      if (!b) continue;
      const ratio = (a: number | null, c: number | null) => (a !== null && c ? (a / c).toFixed(2) : '–');
      lines.push(`| ${s.scenario} | ${sec(s.writeGapMs.median)} | ${sec(b.writeGapMs.median)} | ${ratio(s.writeGapMs.median, b.writeGapMs.median)} | ${sec(s.newLeaderMs.median)} | ${sec(b.newLeaderMs.median)} | ${ratio(s.newLeaderMs.median, b.newLeaderMs.median)} |`);
    }
  }
  lines.push('', '## Trials', '', '| namespace | scenario | # | what the fault did | put in place | leader before → after | new leader | write gap | failed writes | healthy | lost pg/redis/etcd | split pg/redis |', '|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    lines.push(`| ${r.namespace} | ${r.scenario} | ${r.trial} | ${r.detail.replaceAll('|', '/')} | ${sec(r.injectMs ?? null)} | ${r.oldLeader ?? '–'} → ${r.newLeader ?? '(same)'} | ${sec(r.newLeaderMs)} | ${sec(r.writeGapMs)} | ${r.failedWrites} | ${sec(r.recoveredMs)} | ${r.lostAcked.pg}/${r.lostAcked.redis}/${r.lostAcked.etcd} | ${r.splitBrainRounds}/${r.redisSplitRounds ?? 0} |`);
  }
  const findings = results.flatMap((r) => (r.logFindings ?? []).map((f) => `- ${r.scenario} #${r.trial}: ${f}`));
  lines.push('', '## Log findings', '', findings.length ? findings.join('\n') : 'None: no target container logged an interrupted switchover, a second postmaster or a fenced start.');
  lines.push('', 'Charts: [writes.svg](writes.svg) — acknowledged writes per 250 ms around each fault, one line per trial; [phases.svg](phases.svg) — the failover phases (median, dot) beside their predicted bounds (tick).', '');
  return lines.join('\n');
}

/** Acknowledged writes per 250 ms bucket, relative to the fault, of each trial's headline client. */
export function chartData(results: TrialResult[]) {
  const rows: { scenario: string; trial: string; t: number; acked: number }[] = [];
  for (const r of results) {
    const buckets = new Map<number, number>();
    const lastT = r.events.reduce((m, e) => Math.max(m, e.t), 0);
    for (const e of r.events) {
      if (e.k !== 'op' || (e as Op).s !== r.system) continue;
      const b = Math.floor((e.t - r.faultAt) / 250) * 0.25;
      if (b < -3 || b > 60) continue;
      buckets.set(b, (buckets.get(b) ?? 0) + ((e as Op).ok ? 1 : 0));
    }
    for (let b = -3; b <= 60 && r.faultAt + b * 1000 <= lastT; b += 0.25) rows.push({ scenario: `${r.namespace}/${r.scenario}`, trial: `${r.namespace}/${r.scenario}#${r.trial}`, t: b, acked: buckets.get(b) ?? 0 });
  }
  return rows;
}

/** Vega's warnings (about independent faceted scales, which we want) are not the reader's business. */
const quiet = { level() { return quiet; }, error() { return quiet; }, warn() { return quiet; }, info() { return quiet; }, debug() { return quiet; } } as unknown as vega.LoggerInterface;

async function render(spec: vegaLite.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vegaLite.compile(spec, { logger: quiet }).spec), { renderer: 'none', logger: quiet });
  return view.toSVG();
}

export function svgChart(results: TrialResult[]): Promise<string> {
  return render({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values: chartData(results) },
    facet: { row: { field: 'scenario', type: 'nominal', title: null } },
    spec: {
      width: 640,
      height: 70,
      mark: { type: 'line', interpolate: 'step-after', opacity: 0.6, strokeWidth: 1 },
      encoding: {
        x: { field: 't', type: 'quantitative', title: 'seconds from the fault' },
        y: { field: 'acked', type: 'quantitative', title: 'acked / 250 ms' },
        detail: { field: 'trial', type: 'nominal' },
      },
    },
    resolve: { scale: { y: 'independent' } },
  });
}

/** The phases of each scenario: medians as dots, predicted bounds as ticks. */
export function phasesChart(summaries: ScenarioSummary[]): Promise<string> {
  const values = summaries.flatMap((s) => s.phases.filter((p) => p.ms.median !== null).map((p) => ({
    scenario: `${s.namespace}/${s.scenario}`, phase: p.name, median: (p.ms.median ?? 0) / 1000, bound: p.boundMs === null ? null : p.boundMs / 1000,
  })));
  return render({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values },
    facet: { row: { field: 'scenario', type: 'nominal', title: null, header: { labelAngle: 0, labelAlign: 'left' } } },
    spec: {
      width: 560,
      layer: [
        { mark: { type: 'tick', color: '#999', thickness: 2 }, encoding: { x: { field: 'bound', type: 'quantitative', title: 'seconds from the fault' }, y: { field: 'phase', type: 'nominal', title: null } } },
        { mark: { type: 'point', filled: true, size: 60 }, encoding: { x: { field: 'median', type: 'quantitative' }, y: { field: 'phase', type: 'nominal' }, color: { field: 'phase', type: 'nominal', legend: null } } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  });
}

export interface RunInfo {
  startedAt: string;
  command: string;
  namespace: string;
  setup: Record<string, string>;
  /** What the run was asked for, so that `--resume` can go on with the same run. */
  plan?: RunPlan;
  /** When an interrupted run was taken up again (`--resume`), in order. */
  resumedAt?: string[];
}

/** The parameters that make two parts of a run one run. */
export interface RunPlan {
  scenarios: string[];
  trials: number;
  baselineTrials: number | null;
  short: boolean;
  sampleMs: number;
}

/**
 * Throws, naming the first difference, unless this run asks for what the saved one did, of a tier
 * with the same images and settings: two parts make one run only then.
 */
export function sameRun(dir: string, saved: RunInfo, plan: RunPlan, setup: Record<string, string>): void {
  const was = saved.plan!;
  const savedSetup = recordedSetup(saved.setup, saved.namespace);
  const show = (v: unknown) => (Array.isArray(v) ? v.join(', ') : String(v));
  // The scenarios are a set: a resumed run may take the rest in another order (the unmeasured first).
  const same = (key: keyof RunPlan) => key === 'scenarios'
    ? show([...was.scenarios].sort()) === show([...plan.scenarios].sort())
    : show(was[key]) === show(plan[key]);
  for (const key of Object.keys(plan) as (keyof RunPlan)[]) {
    if (!same(key)) {
      throw new UserError(`--resume ${dir}: that run was asked for ${key} = ${show(was[key])}, this one for ${show(plan[key])}; give the same scenarios and options, or start a new run`);
    }
  }
  for (const key of Object.keys(savedSetup)) {
    if (key === 'soak') continue;
    if (savedSetup[key] !== setup[key]) {
      throw new UserError(`--resume ${dir}: the setup changed since that run (${key}: was "${savedSetup[key]}", now "${setup[key] ?? 'absent'}"); start a new run`);
    }
  }
}

/** etcd's own defaults, which the chart ran before it set the timing flags itself (records before then have no etcd line). */
const ETCD_DEFAULTS = { heartbeatIntervalMs: 100, electionTimeoutMs: 1000, preVote: false };

/**
 * A record's setup, with what it did not record but ran: a record made before the etcd line existed
 * measured etcd's defaults (the chart passed no timing flags then).
 */
export function recordedSetup(setup: Record<string, string>, ns: string): Record<string, string> {
  const etcd = `${ns}: etcd`;
  return etcd in setup || !(`${ns}: Patroni` in setup) ? setup : { ...setup, [etcd]: etcdSettings(ETCD_DEFAULTS) };
}

/**
 * The part of a setup the phases' bounds are made of: all of it but etcd's pre-vote, which shapes no
 * bound (a pre-vote round costs a round trip, not a timeout). Records that differ only in it are
 * judged by the same bounds.
 */
export function boundSetup(setup: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(setup).map(([k, v]) => [k, k.endsWith(': etcd') ? v.replace(/, pre-vote (on|off)$/, '') : v]));
}

/** etcd's Raft timing, as a run's setup line. */
export function etcdSettings(t: { heartbeatIntervalMs: number; electionTimeoutMs: number; preVote: boolean }): string {
  return `heartbeat ${t.heartbeatIntervalMs} ms, election timeout ${t.electionTimeoutMs} ms, pre-vote ${t.preVote ? 'on' : 'off'}`;
}

/** The settings a run measured, from the tier's descriptor (what was synthesized). */
export function settingsOf(tier: TierDescriptor): Record<string, string> {
  const d = tier.patroni.dcs as Record<string, unknown>;
  const r = tier.redis;
  return {
    [`${tier.namespace}: Patroni`]: `ttl ${d.ttl}, loop_wait ${d.loop_wait}, retry_timeout ${d.retry_timeout}, synchronous_mode ${d.synchronous_mode}, primary_start_timeout ${d.primary_start_timeout}, failsafe_mode ${d.failsafe_mode}, preStop switchover ${tier.patroni.switchoverOnDelete ? 'yes' : 'no'}, grace ${tier.patroni.terminationGracePeriodSeconds}s`,
    [`${tier.namespace}: etcd`]: etcdSettings(tier.etcd),
    [`${tier.namespace}: Sentinel`]: `quorum ${r.quorum}, down-after ${r.downAfterMilliseconds} ms, failover-timeout ${r.failoverTimeoutMilliseconds} ms, min-replicas-to-write ${r.minReplicasToWrite} (max lag ${r.minReplicasMaxLag} s), preStop hand-over ${r.handOverOnDelete ? 'yes' : 'no'}, grace ${r.terminationGracePeriodSeconds}s`,
  };
}

export async function writeReport(dir: string, run: RunInfo, results: TrialResult[], summaries: ScenarioSummary[], objectives: ObjectiveResult[], baseline?: { summaries: ScenarioSummary[] }): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, 'report.json'), join(dir, 'report.md'), join(dir, 'writes.svg'), join(dir, 'phases.svg')];
  writeFileSync(files[0], `${JSON.stringify({ run, summaries, objectives, baseline: baseline?.summaries ?? null, trials: results }, null, 1)}\n`);
  writeFileSync(files[1], markdown(run, results, summaries, objectives, baseline));
  writeFileSync(files[2], await svgChart(results));
  writeFileSync(files[3], await phasesChart(summaries));
  return files;
}
