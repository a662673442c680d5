/** Synthesizes a profile in memory (objects) or to a temporary directory (the file `npm run synth` writes). */
import { Testing } from 'cdk8s';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HaTierChart, HaTierChartProps, profile } from '../../charts/index.js';
import { synthToDir } from '../../main.js';
import type { KubeObject } from './schema.js';

export function objectsOf(props: HaTierChartProps): KubeObject[] {
  const app = Testing.app();
  return Testing.synth(new HaTierChart(app, 'ha-tier', props)) as KubeObject[];
}

export function synthProfile(name: string): KubeObject[] {
  return objectsOf(profile(name));
}

/** The text `npm run synth -- --profile NAME` writes. */
export function synthFileText(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ha-tier-golden-'));
  try {
    const { files } = synthToDir({ profile: name, outdir: join(dir, 'dist') });
    return files.filter((f) => f.endsWith('.yaml')).map((f) => readFileSync(f, 'utf8')).join('');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function find(objs: KubeObject[], kind: string, name: string): any {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} named ${name} in ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}

export const PROFILE_NAMES = ['kind', 'minimal', 'production', 'compose-baseline'] as const;
