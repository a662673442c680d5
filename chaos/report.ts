/**
 * Summaries, objectives and the report files of a chaos run: JSON (histories and summary), Markdown
 * (tables) and an SVG chart (Vega-Lite) of acknowledged writes over time around the faults.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import { Op, Stats, stats } from './history.js';
import type { TrialResult } from './trial.js';

export interface ScenarioSummary {
  scenario: string;
  namespace: string;
  trials: number;
  newLeaderMs: Stats;
  writeGapMs: Stats;
  podReadyMs: Stats;
  recoveredMs: Stats;
  lostAcked: { pg: number; redis: number; etcd: number };
  splitBrainRounds: number;
  unverified: number;
}

export function summarize(results: TrialResult[]): ScenarioSummary[] {
  const groups = new Map<string, TrialResult[]>();
  for (const r of results) groups.set(`${r.namespace}/${r.scenario}`, [...(groups.get(`${r.namespace}/${r.scenario}`) ?? []), r]);
  return [...groups.values()].map((rs) => ({
    scenario: rs[0].scenario,
    namespace: rs[0].namespace,
    trials: rs.length,
    newLeaderMs: stats(rs.map((r) => r.newLeaderMs)),
    writeGapMs: stats(rs.map((r) => r.writeGapMs)),
    podReadyMs: stats(rs.map((r) => r.podReadyMs)),
    recoveredMs: stats(rs.map((r) => r.recoveredMs)),
    lostAcked: {
      pg: rs.reduce((a, r) => a + r.lostAcked.pg, 0),
      redis: rs.reduce((a, r) => a + r.lostAcked.redis, 0),
      etcd: rs.reduce((a, r) => a + r.lostAcked.etcd, 0),
    },
    splitBrainRounds: rs.reduce((a, r) => a + r.splitBrainRounds, 0),
    unverified: rs.filter((r) => !Object.values(r.verified).every(Boolean)).length,
  }));
}

export interface Objective {
  scenario: string;
  measure: 'writeGapMs' | 'newLeaderMs' | 'lostAcked.pg' | 'lostAcked.redis' | 'lostAcked.etcd' | 'splitBrainRounds';
  stat: 'median' | 'max' | 'p95';
  max: number;
  why?: string;
}

export interface ObjectiveResult extends Objective {
  actual: number | null;
  met: boolean;
  /** How far over the objective the actual value is (0 when met). */
  over: number;
}

export function checkObjectives(objectives: Objective[], summaries: ScenarioSummary[], namespace: string): ObjectiveResult[] {
  const out: ObjectiveResult[] = [];
  for (const o of objectives) {
    for (const s of summaries.filter((x) => x.namespace === namespace && (o.scenario === '*' || o.scenario === x.scenario))) {
      let actual: number | null;
      if (o.measure.startsWith('lostAcked.')) actual = s.lostAcked[o.measure.split('.')[1] as 'pg' | 'redis' | 'etcd'];
      else if (o.measure === 'splitBrainRounds') actual = s.splitBrainRounds;
      else actual = s[o.measure as 'writeGapMs' | 'newLeaderMs'][o.stat];
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
  lines.push('## Setup', '', '| | |', '|---|---|');
  for (const [k, v] of Object.entries(run.setup)) lines.push(`| ${k} | ${v} |`);
  lines.push('', 'Times in seconds from the delete call. *Write gap*: the client\'s longest interval between two acknowledged writes around the fault. *New leader*: until the component\'s own view named another leader/master. *Back*: replacement pod Ready. *Healthy*: tier healthy again (pod rejoined as streaming replica / replica in sync / etcd member).', '');
  lines.push('## Summary', '', '| namespace | scenario | trials | write gap median | p95 | max | new leader median | back median | healthy median | lost pg/redis/etcd | split brain |', '|---|---|---|---|---|---|---|---|---|---|---|');
  for (const s of summaries) {
    lines.push(`| ${s.namespace} | ${s.scenario} | ${s.trials} | ${sec(s.writeGapMs.median)} | ${sec(s.writeGapMs.p95)} | ${sec(s.writeGapMs.max)} | ${sec(s.newLeaderMs.median)} | ${sec(s.podReadyMs.median)} | ${sec(s.recoveredMs.median)} | ${s.lostAcked.pg}/${s.lostAcked.redis}/${s.lostAcked.etcd} | ${s.splitBrainRounds} |`);
  }
  lines.push('', '## Per scenario: min / median / p95 / max', '');
  for (const s of summaries) {
    lines.push(`### ${s.namespace} / ${s.scenario} (${s.trials} trials)`, '', '| measure (s) | min | median | p95 | max |', '|---|---|---|---|---|');
    const rows: [string, Stats][] = [['new leader', s.newLeaderMs], ['client write gap', s.writeGapMs], ['pod back (Ready)', s.podReadyMs], ['tier healthy again', s.recoveredMs]];
    for (const [name, st] of rows) lines.push(`| ${name} | ${sec(st.min)} | ${sec(st.median)} | ${sec(st.p95)} | ${sec(st.max)} |`);
    lines.push('', `Lost acknowledged writes pg/redis/etcd: ${s.lostAcked.pg}/${s.lostAcked.redis}/${s.lostAcked.etcd}; rounds with two writable primaries: ${s.splitBrainRounds}; trials whose read-back did not complete: ${s.unverified}.`, '');
  }
  lines.push('', '## Objectives', '', '| scenario | measure | objective | actual | result |', '|---|---|---|---|---|');
  for (const o of objectives) {
    const isTime = o.measure.endsWith('Ms');
    const fmt = (v: number | null) => (isTime ? `${sec(v)} s` : String(v ?? '–'));
    lines.push(`| ${o.scenario} | ${o.stat} ${o.measure} | ≤ ${fmt(o.max)} | ${fmt(o.actual)} | ${o.met ? 'met' : `**missed** by ${fmt(o.over)}`}${o.why && !o.met ? ` (${o.why})` : ''} |`);
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
  lines.push('', '## Trials', '', '| namespace | scenario | # | target | leader before → after | new leader | write gap | failed writes | back | healthy | lost pg/redis/etcd | split brain |', '|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    lines.push(`| ${r.namespace} | ${r.scenario} | ${r.trial} | ${r.target} | ${r.oldLeader} → ${r.newLeader ?? '(same)'} | ${sec(r.newLeaderMs)} | ${sec(r.writeGapMs)} | ${r.failedWrites} | ${sec(r.podReadyMs)} | ${sec(r.recoveredMs)} | ${r.lostAcked.pg}/${r.lostAcked.redis}/${r.lostAcked.etcd} | ${r.splitBrainRounds} |`);
  }
  lines.push('', 'Chart: [writes.svg](writes.svg) — acknowledged writes per 250 ms around each fault, one line per trial.', '');
  return lines.join('\n');
}

/** Acknowledged writes per 250 ms bucket, relative to the fault, of each trial's headline client. */
function chartData(results: TrialResult[]) {
  const rows: { scenario: string; trial: string; t: number; acked: number }[] = [];
  for (const r of results) {
    const system = r.scenario.startsWith('pg') ? 'pg' : r.scenario.startsWith('etcd') ? 'etcd' : 'redis';
    const buckets = new Map<number, number>();
    const lastT = r.events.reduce((m, e) => Math.max(m, e.t), 0);
    for (const e of r.events) {
      if (e.k !== 'op' || (e as Op).s !== system) continue;
      const b = Math.floor((e.t - r.faultAt) / 250) * 0.25;
      if (b < -3 || b > 20) continue;
      buckets.set(b, (buckets.get(b) ?? 0) + ((e as Op).ok ? 1 : 0));
    }
    for (let b = -3; b <= 20 && r.faultAt + b * 1000 <= lastT; b += 0.25) rows.push({ scenario: `${r.namespace}/${r.scenario}`, trial: `${r.namespace}/${r.scenario}#${r.trial}`, t: b, acked: buckets.get(b) ?? 0 });
  }
  return rows;
}

export async function svgChart(results: TrialResult[]): Promise<string> {
  const spec: vegaLite.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    data: { values: chartData(results) },
    facet: { row: { field: 'scenario', type: 'nominal', title: null } },
    spec: {
      width: 640,
      height: 90,
      mark: { type: 'line', interpolate: 'step-after', opacity: 0.6, strokeWidth: 1 },
      encoding: {
        x: { field: 't', type: 'quantitative', title: 'seconds from the delete call' },
        y: { field: 'acked', type: 'quantitative', title: 'acked / 250 ms' },
        detail: { field: 'trial', type: 'nominal' },
      },
    },
    resolve: { scale: { y: 'independent' } },
  };
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: 'none' });
  return view.toSVG();
}

export interface RunInfo {
  startedAt: string;
  command: string;
  namespace: string;
  setup: Record<string, string>;
}

export async function writeReport(dir: string, run: RunInfo, results: TrialResult[], summaries: ScenarioSummary[], objectives: ObjectiveResult[], baseline?: { summaries: ScenarioSummary[] }): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, 'report.json'), join(dir, 'report.md'), join(dir, 'writes.svg')];
  writeFileSync(files[0], `${JSON.stringify({ run, summaries, objectives, baseline: baseline?.summaries ?? null, trials: results }, null, 1)}\n`);
  writeFileSync(files[1], markdown(run, results, summaries, objectives, baseline));
  writeFileSync(files[2], await svgChart(results));
  return files;
}
