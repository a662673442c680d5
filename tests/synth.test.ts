/** `npm run synth` writes dist/ atomically, with a header, and leaves it untouched when it fails. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../charts/index.js';
import { synthToDir } from '../main.js';

interface Ctx { dir: string }
const Synth = suite<Ctx>('synth', { dir: '' });
Synth.before.each((ctx) => { ctx.dir = mkdtempSync(join(tmpdir(), 'ha-tier-synth-')); });
Synth.after.each((ctx) => rmSync(ctx.dir, { recursive: true, force: true }));

Synth('writes one manifest file that says it is generated, and replaces what was there', ({ dir }) => {
  const out = join(dir, 'dist');
  mkdirSync(out);
  writeFileSync(join(out, 'stale.yaml'), 'old');
  const result = synthToDir({ profile: 'kind', outdir: out });
  assert.equal(readdirSync(out), ['ha-tier.k8s.yaml']);
  assert.equal(result.files, [join(out, 'ha-tier.k8s.yaml')]);
  assert.match(readFileSync(result.files[0], 'utf8'), /^# GENERATED FILE: do not edit by hand\.\n/);
  assert.is(result.kinds.StatefulSet, 4);
  assert.equal(readdirSync(dir), ['dist'], 'no staging directory left behind');
});

Synth('a failed synth leaves the previous dist/ untouched and no staging directory', ({ dir }) => {
  const out = join(dir, 'dist');
  synthToDir({ profile: 'kind', outdir: out });
  const before = readFileSync(join(out, 'ha-tier.k8s.yaml'), 'utf8');
  assert.throws(() => synthToDir({ profile: 'huge', outdir: out }), (e: Error) => e instanceof ConfigError);
  assert.is(readFileSync(join(out, 'ha-tier.k8s.yaml'), 'utf8'), before);
  assert.equal(readdirSync(dir), ['dist']);
});

Synth('the CLI prints one clear sentence and exits non-zero on a bad profile', ({ dir }) => {
  const out = join(dir, 'dist');
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', '--profile', 'huge', '--out', out], { encoding: 'utf8' });
  assert.is(run.status, 1);
  assert.is(run.stderr, 'synth failed: Unknown profile "huge": use one of kind, minimal, production, compose-baseline.\ndist/ was left as it was.\n');
  assert.not.ok(existsSync(out));
});

Synth('the CLI reports what it wrote', ({ dir }) => {
  const out = join(dir, 'dist');
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', '--profile', 'minimal', '--out', out], { encoding: 'utf8' });
  assert.is(run.status, 0, run.stderr);
  assert.match(run.stdout, /^wrote .*ha-tier\.k8s\.yaml$/m);
  assert.match(run.stdout, /^profile minimal: 1 Namespace, .*4 StatefulSet/m);
});

Synth.run();
