/**
 * `npm run up`'s steps on a running tier (tools/reconcile.ts [--namespace NS] [--only etcd]): makes
 * what lives in the components' own state match the synthesized tier, each through the component's
 * own tool, run in its pod with an argument list (secrets go through standard input, never argv):
 *
 *   1. etcd authentication (etcdctl as `root`, by its client certificate): a role per user of the
 *      descriptor granting exactly its key ranges (extra permissions are revoked), the users (by
 *      certificate, or with the password from their Secret), then `auth enable`. Run as soon as etcd
 *      answers, before anything else depends on it (`--only etcd`), and again at the end.
 *   2. PostgreSQL roles (pg-ensure-roles on the leader): the application's role and database, the
 *      monitoring role, with the passwords of the credentials Secret.
 *   3. Patroni's dynamic configuration in its DCS (ttl, loop_wait, failsafe_mode, ... and PostgreSQL
 *      parameters), which `bootstrap.dcs` only sets when a cluster is first created: changed with
 *      Patroni's own `PATCH /config` (patroni-rest: HTTPS, the REST API user).
 * `npm run status` never changes anything.
 */
import { parseArgs } from 'node:util';
import { COMPONENTS, DEFAULT_NAMESPACE, EtcdUser, TierDescriptor, selectorOf } from '../contract/index.js';
import { tierHealth } from './health.js';
import { Kube, UserError, connect, execIn, isReady, listPods, waitFor } from './kube.js';
import { loadTier } from './tier.js';

type Json = Record<string, unknown>;

/** The part of `desired` that differs from `current` (recursing into objects), or undefined. */
export function configPatch(desired: Json, current: Json): Json | undefined {
  const patch: Json = {};
  for (const [k, v] of Object.entries(desired)) {
    const have = current[k];
    if (v && typeof v === 'object' && !Array.isArray(v) && have && typeof have === 'object' && !Array.isArray(have)) {
      const sub = configPatch(v as Json, have as Json);
      if (sub) patch[k] = sub;
    } else if (JSON.stringify(v) !== JSON.stringify(have)) {
      patch[k] = v;
    }
  }
  return Object.keys(patch).length ? patch : undefined;
}

// ---- 1. etcd ----------------------------------------------------------------------------------

/** etcd's permission types, as `etcdctl role get -w json` numbers them. */
const PERM_TYPES = { read: 0, write: 1, readwrite: 2 } as const;

/** The end of the key range of `prefix` (the prefix with its last byte plus one), as etcd defines it. */
export function prefixRangeEnd(prefix: string): string {
  const bytes = Buffer.from(prefix);
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i] < 0xff) return Buffer.concat([bytes.subarray(0, i), Buffer.from([bytes[i] + 1])]).toString('latin1');
  }
  return '\0';
}

interface EtcdPermission { permType?: number; key?: string; range_end?: string }

/** What to grant and revoke so that a role holds exactly `user`'s grants (keys as etcd returns them: base64). */
export function permissionChanges(user: EtcdUser, current: EtcdPermission[]): { grant: EtcdUser['grants']; revoke: { key: string; rangeEnd: string }[] } {
  const id = (type: number, key: string, end: string) => `${type} ${key} ${end}`;
  const want = new Map(user.grants.map((g) => [id(PERM_TYPES[g.permission], g.prefix, prefixRangeEnd(g.prefix)), g]));
  const have = new Map(current.map((p) => {
    const key = Buffer.from(p.key ?? '', 'base64').toString('latin1');
    const end = Buffer.from(p.range_end ?? '', 'base64').toString('latin1');
    return [id(p.permType ?? 0, key, end), { key, rangeEnd: end }] as const;
  }));
  return {
    grant: [...want].filter(([k]) => !have.has(k)).map(([, g]) => g),
    revoke: [...have].filter(([k]) => !want.has(k)).map(([, r]) => r),
  };
}

async function secretValue(kube: Kube, ns: string, name: string, key: string): Promise<string> {
  const secret = await kube.core.readNamespacedSecret({ name, namespace: ns });
  const value = secret.data?.[key];
  if (!value) throw new UserError(`Secret ${name} has no key ${key}; run 'npm run up' (tools/credentials.ts) to fill it in`);
  return Buffer.from(value, 'base64').toString('utf8');
}

/** Sets up etcd's users, roles and authentication as the descriptor says; returns what it changed. */
export async function syncEtcdAuth(kube: Kube, tier: TierDescriptor, timeoutMs = 300_000): Promise<string[]> {
  const ns = tier.namespace;
  const container = COMPONENTS.etcd.container;
  const pod = await waitFor('a Ready etcd member', timeoutMs, async () => (await listPods(kube, ns, selectorOf('etcd'))).find(isReady)?.metadata?.name, 2000);
  const ctl = async (args: string[], stdin?: string) => {
    const res = await execIn(kube, ns, pod, container, ['etcdctl', '--command-timeout=5s', ...args], 30_000, stdin);
    if (!res.ok) throw new Error(`etcdctl ${args.slice(0, 3).join(' ')} in ${pod}: ${(res.stderr || res.stdout).trim().split('\n').pop()}`);
    return res.stdout;
  };
  const done: string[] = [];
  const users = new Set((JSON.parse(await ctl(['user', 'list', '-w', 'json'])) as { users?: string[] }).users ?? []);
  const roles = new Set((JSON.parse(await ctl(['role', 'list', '-w', 'json'])) as { roles?: string[] }).roles ?? []);
  for (const user of tier.etcd.users) {
    // root's role is etcd's own (everything); every other user gets a role of its name.
    if (user.name !== 'root') {
      if (!roles.has(user.name)) { await ctl(['role', 'add', user.name]); done.push(`role ${user.name} added`); }
      const current = (JSON.parse(await ctl(['role', 'get', user.name, '-w', 'json'])) as { perm?: EtcdPermission[] }).perm ?? [];
      const { grant, revoke } = permissionChanges(user, current);
      for (const g of grant) { await ctl(['role', 'grant-permission', user.name, '--prefix=true', g.permission, g.prefix]); done.push(`role ${user.name}: ${g.permission} ${g.prefix}`); }
      for (const r of revoke) { await ctl(['role', 'revoke-permission', user.name, r.key, r.rangeEnd]); done.push(`role ${user.name}: revoked [${r.key}, ${r.rangeEnd})`); }
    }
    if (user.password) {
      // The password on standard input (etcdctl --interactive=false reads it there); set on every run, so
      // that a changed Secret takes effect.
      const password = await secretValue(kube, ns, user.password.secret, user.password.key);
      await ctl(users.has(user.name) ? ['user', 'passwd', user.name, '--interactive=false'] : ['user', 'add', user.name, '--interactive=false'], `${password}\n`);
      if (!users.has(user.name)) done.push(`user ${user.name} added (password)`);
    } else if (!users.has(user.name)) {
      await ctl(['user', 'add', user.name, '--no-password']);
      done.push(`user ${user.name} added (client certificate)`);
    }
    await ctl(['user', 'grant-role', user.name, user.name === 'root' ? 'root' : user.name]);
  }
  await ctl(['auth', 'enable']);
  done.push(`authentication on; users ${tier.etcd.users.map((u) => u.name).join(', ')}`);
  return done;
}

// ---- 2. PostgreSQL roles, 3. Patroni's configuration --------------------------------------------

async function syncPgRoles(kube: Kube, tier: TierDescriptor, leader: string): Promise<string> {
  const res = await execIn(kube, tier.namespace, leader, COMPONENTS.postgres.container, ['pg-ensure-roles'], 60_000);
  let out: { ok?: boolean; done?: string[]; error?: string } = {};
  try { out = JSON.parse(res.stdout); } catch { /* reported below */ }
  if (!res.ok || !out.ok) throw new Error(`pg-ensure-roles on ${leader}: ${out.error ?? (res.stderr || res.stdout).trim().slice(0, 300)}`);
  return `PostgreSQL roles: ${out.done?.join(', ') || 'as they should be'}`;
}

async function syncPatroniConfig(kube: Kube, tier: TierDescriptor, leader: string): Promise<string> {
  const container = COMPONENTS.postgres.container;
  const current = await execIn(kube, tier.namespace, leader, container, ['patroni-rest', 'GET', '/config']);
  if (!current.ok) throw new Error(`GET /config on ${leader} failed: ${current.stderr.trim()}`);
  const patch = configPatch(tier.patroni.dcs as Json, JSON.parse(current.stdout) as Json);
  if (!patch) return 'Patroni dynamic configuration already as synthesized';
  const res = await execIn(kube, tier.namespace, leader, container, ['patroni-rest', 'PATCH', '/config', JSON.stringify(patch)]);
  if (!res.ok) throw new Error(`PATCH /config on ${leader} failed: ${(res.stderr || res.stdout).trim()}`);
  return `Patroni dynamic configuration updated: ${JSON.stringify(patch)}`;
}

async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { namespace: { type: 'string', default: process.env.HA_TIER_NAMESPACE ?? DEFAULT_NAMESPACE }, only: { type: 'string' } },
  });
  if (values.only !== undefined && values.only !== 'etcd') throw new UserError(`--only must be 'etcd' (got '${values.only}')`);
  const kube = connect();
  const tier = await loadTier(kube, values.namespace!);
  const say = (line: string) => process.stderr.write(`    ${line}\n`);
  for (const line of await syncEtcdAuth(kube, tier)) say(`etcd: ${line}`);
  if (values.only === 'etcd') return;
  const health = await tierHealth(kube, tier, { writes: false });
  if (!health.facts.patroniLeader) throw new UserError('Patroni has no leader; PostgreSQL roles and configuration were not changed');
  say(await syncPgRoles(kube, tier, health.facts.patroniLeader));
  say(await syncPatroniConfig(kube, tier, health.facts.patroniLeader));
}

const invokedDirectly = process.argv[1]?.endsWith('reconcile.ts');
if (invokedDirectly) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`reconcile: ${err instanceof UserError ? err.message : (err as Error).stack ?? err}`);
    process.exitCode = 2;
  });
}
