/**
 * The contract (contract/index.ts) is the one place its names are spelled: no other source file of
 * the project types one of them again as a string literal (a name typed twice drifts; two bugs came
 * from that). Tests may spell names on purpose (they pin the public contract), so tests/ is not read.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as contract from '../contract/index.js';

const ROOT = join(import.meta.dirname, '..');
const SOURCES = ['main.ts', 'charts', 'chaos', 'clients', 'router', 'tools'];

function files(path: string): string[] {
  const full = join(ROOT, path);
  if (statSync(full).isDirectory()) return readdirSync(full).flatMap((f) => files(join(path, f)));
  return full.endsWith('.ts') ? [full] : [];
}

/** Every string of the contract's exported constants that is distinctive enough to be a name (not 'app' or 'etcd'). */
function names(value: unknown, out = new Set<string>()): Set<string> {
  if (typeof value === 'string') {
    if (value.length >= 6 && /[-./]/.test(value) && !/\s/.test(value)) out.add(value);
  } else if (value && typeof value === 'object') {
    for (const v of Object.values(value)) names(v, out);
  }
  return out;
}

const Contract = suite('contract');
const NAMES = [...names(Object.fromEntries(Object.entries(contract).filter(([, v]) => typeof v !== 'function')))];

Contract('the contract has names to check', () => {
  for (const n of ['postgres-credentials', 'redis-headless', 'postgres-primary', 'ha-tier.dev/client', '/etc/ha-tier/secrets', 'superuser-password']) {
    assert.ok(NAMES.includes(n), n);
  }
});

Contract('no source outside contract/ types a contract name as a string literal', () => {
  const found: string[] = [];
  for (const file of SOURCES.flatMap(files)) {
    // Code only: comments may name what they explain.
    const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1');
    for (const name of NAMES) {
      const quoted = new RegExp(`(['"\`])${name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\1`);
      if (quoted.test(text)) found.push(`${relative(ROOT, file)}: '${name}'`);
    }
  }
  assert.equal(found, []);
});

Contract.run();
