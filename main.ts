/**
 * `npm run synth [-- --profile kind|minimal|production] [--out DIR]`
 *
 * Synthesizes the tier's manifests into dist/ (or --out). The profile comes from --profile, else
 * HA_TIER_PROFILE, else `kind`; production's StorageClass from --storage-class or
 * HA_TIER_STORAGE_CLASS. Writing is atomic: manifests are synthesized into a temporary sibling
 * directory and swapped in only when everything succeeded, so a failed synth leaves dist/ as it was.
 */
import { App, YamlOutputType } from 'cdk8s';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, HaTierChart, PROFILES, profile } from './charts/index.js';

export const GENERATED_HEADER = (profileName: string) =>
  [
    '# GENERATED FILE: do not edit by hand.',
    `# Written by \`npm run synth\` (main.ts and charts/, profile "${profileName}").`,
    '# Passwords are not here: they live in Secrets created at deploy time (see README).',
    '',
  ].join('\n');

export interface SynthOptions {
  readonly profile: string;
  readonly outdir: string;
  readonly namespace?: string;
  readonly storageClassName?: string;
}

export interface SynthResult {
  readonly files: string[];
  readonly kinds: Record<string, number>;
}

/** Builds the app for a profile (throws ConfigError on bad props, before anything is written). */
export function buildApp(opts: Omit<SynthOptions, 'outdir'>, outdir: string): App {
  const app = new App({ outdir, outputFileExtension: '.k8s.yaml', yamlOutputType: YamlOutputType.FILE_PER_CHART });
  const props = profile(opts.profile, { storageClassName: opts.storageClassName });
  new HaTierChart(app, 'ha-tier', { ...props, ...(opts.namespace ? { namespace: opts.namespace } : {}) });
  return app;
}

/** Synthesizes into a temporary sibling of `outdir`, then swaps it in. */
export function synthToDir(opts: SynthOptions): SynthResult {
  const outdir = path.resolve(opts.outdir);
  const parent = path.dirname(outdir);
  fs.mkdirSync(parent, { recursive: true });
  const staging = fs.mkdtempSync(path.join(parent, `.${path.basename(outdir)}-new-`));
  try {
    const app = buildApp(opts, staging);
    app.synth();
    const kinds: Record<string, number> = {};
    for (const chart of app.charts) {
      for (const obj of chart.toJson() as { kind: string }[]) kinds[obj.kind] = (kinds[obj.kind] ?? 0) + 1;
    }
    const files = fs.readdirSync(staging).filter((f) => f.endsWith('.yaml')).sort();
    for (const f of files) {
      const file = path.join(staging, f);
      fs.writeFileSync(file, GENERATED_HEADER(opts.profile) + fs.readFileSync(file, 'utf8'));
    }
    // The swap: the old output moves aside, the new one takes its name, the old one goes.
    let old: string | undefined;
    if (fs.existsSync(outdir)) {
      old = `${staging}-old`;
      fs.renameSync(outdir, old);
    }
    fs.renameSync(staging, outdir);
    if (old) fs.rmSync(old, { recursive: true, force: true });
    return { files: files.map((f) => path.join(outdir, f)), kinds };
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

function main(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: {
      profile: { type: 'string' },
      out: { type: 'string' },
      namespace: { type: 'string' },
      'storage-class': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(`usage: npm run synth -- [--profile ${PROFILES.join('|')}] [--out DIR] [--namespace NS] [--storage-class NAME]`);
    return;
  }
  const started = performance.now();
  const opts: SynthOptions = {
    profile: values.profile ?? process.env.HA_TIER_PROFILE ?? 'kind',
    outdir: values.out ?? 'dist',
    namespace: values.namespace ?? process.env.HA_TIER_NAMESPACE,
    storageClassName: values['storage-class'] ?? process.env.HA_TIER_STORAGE_CLASS,
  };
  const result = synthToDir(opts);
  const ms = Math.round(performance.now() - started);
  const summary = Object.entries(result.kinds).map(([k, n]) => `${n} ${k}`).join(', ');
  for (const f of result.files) console.log(`wrote ${path.relative(process.cwd(), f)}`);
  console.log(`profile ${opts.profile}: ${summary} (${ms} ms)`);
}

const invokedDirectly = process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname);
if (invokedDirectly) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    const message = err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')
      ? (err as Error).message
      : (err as Error).stack ?? String(err);
    console.error(`synth failed: ${message}`);
    console.error('dist/ was left as it was.');
    process.exitCode = 1;
  }
}
