/**
 * The postgres router: keeps the endpoints of the selector-less `postgres-primary` and
 * `postgres-replicas` Services equal to what Patroni's state in etcd says (router/routing.ts).
 *
 * It watches Patroni's keys, and on every change (and every ROUTER_RESYNC_MS) reads them again at one
 * etcd revision, computes the routing and replaces the two EndpointSlices when they differ. Several
 * routers run at once (a lost node must not stop routing changes); each records the revision of its
 * view on the slice and never replaces a newer one (compare-and-swap on resourceVersion), so a router
 * that was frozen cannot write an old view back. When etcd cannot be read, the slices stay as they are.
 *
 * HTTP on the contract's router port: /livez, /readyz (etcd read within the last 10 s) and /state.
 *
 * etcd and the members' REST API are reached over TLS (clients/): the router's etcd client certificate
 * (etcd user `router`, which may only read Patroni's keys) and the tier's CA are mounted in TLS_DIR.
 *
 * Environment: POD_NAMESPACE, POD_NAME, ETCD_ENDPOINTS (comma-separated URLs), PATRONI_CLUSTER_PREFIX
 * (e.g. /service/postgres/), TLS_DIR, ROUTER_RESYNC_MS (default 1000).
 */
import { Etcd3 } from 'etcd3';
import { createServer } from 'node:http';
import { etcdCredentials, httpsGetJson, readTlsDir } from '../clients/index.js';
import { COMPONENTS, LABEL, ROUTED_SLICES, ROUTER_MANAGER, ROUTER_REVISION_ANNOTATION } from '../contract/index.js';
import { ApiError, EndpointSlice, Kube } from './kube.js';
import { DcsMember, DcsState, Routing, desiredRouting, failsafeCandidate, mayWrite, parseDcs, sameEndpoints, sliceEndpoints } from './routing.js';

const env = (name: string, fallback?: string): string => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') {
    console.error(`router: environment variable ${name} is not set`);
    process.exit(2);
  }
  return v;
};
const NAMESPACE = env('POD_NAMESPACE');
const ME = env('POD_NAME', 'router');
const PREFIX = env('PATRONI_CLUSTER_PREFIX');
const RESYNC_MS = Number(env('ROUTER_RESYNC_MS', '1000'));
const ENDPOINTS = env('ETCD_ENDPOINTS').split(',').filter(Boolean);
const TLS = readTlsDir(env('TLS_DIR'));

const log = (msg: string) => process.stdout.write(`${new Date().toISOString()} router ${ME}: ${msg}\n`);

const etcd = new Etcd3({
  hosts: ENDPOINTS, credentials: etcdCredentials(TLS), dialTimeout: 500, defaultCallOptions: () => ({ deadline: Date.now() + 700 }),
});
const kube = new Kube();

interface Status {
  revision: string | null;
  leader: string | null;
  primary: string | null;
  replicas: string[];
  reason: string;
  lastReadAt: number;
  lastError: string | null;
}
const status: Status = { revision: null, leader: null, primary: null, replicas: [], reason: 'starting', lastReadAt: 0, lastError: null };
let lastPrimary: string | null = null;

/** Asks a member's own REST API whether it runs as primary in Patroni's failsafe mode. */
async function inFailsafe(member: DcsMember | undefined): Promise<boolean> {
  if (!member?.apiBase) return false;
  try {
    const body = await httpsGetJson<{ role?: string; failsafe_mode_is_active?: boolean }>(`${member.apiBase}/patroni`, TLS.ca, 800);
    return body.role === 'primary' && body.failsafe_mode_is_active === true;
  } catch {
    return false;
  }
}

/** Replaces a slice's endpoints when they differ, unless a newer view than ours wrote it. */
async function writeSlice(name: string, members: DcsMember[], revision: bigint): Promise<'written' | 'same' | 'newer'> {
  const endpoints = sliceEndpoints(members, NAMESPACE);
  for (let attempt = 1; ; attempt++) {
    const slice = await kube.getSlice(NAMESPACE, name);
    const written = slice.metadata.annotations?.[ROUTER_REVISION_ANNOTATION];
    if (!mayWrite(written, revision)) return 'newer';
    if (sameEndpoints(slice.endpoints ?? undefined, endpoints)) return 'same';
    const next: EndpointSlice = {
      ...slice,
      metadata: { ...slice.metadata, annotations: { ...slice.metadata.annotations, [ROUTER_REVISION_ANNOTATION]: revision.toString() } },
      endpoints,
    };
    try {
      await kube.replaceSlice(next);
      return 'written';
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && attempt < 5) continue; // someone wrote meanwhile: look again
      throw err;
    }
  }
}

async function reconcile(): Promise<void> {
  let state: DcsState;
  try {
    // A member that just went away fails the call; the client's next call goes to another member, so
    // try again at once rather than waiting for the next resync.
    let res: Awaited<ReturnType<ReturnType<ReturnType<typeof etcd.getAll>['prefix']>['exec']>> | undefined;
    for (let attempt = 1; !res; attempt++) {
      try {
        res = await etcd.getAll().prefix(PREFIX).exec();
      } catch (err) {
        if (attempt >= ENDPOINTS.length) throw err;
      }
    }
    const kvs = (res.kvs ?? []).map((kv) => ({ key: kv.key.toString(), value: kv.value.toString() }));
    state = parseDcs(PREFIX, kvs, BigInt(String(res.header?.revision ?? '0')));
  } catch (err) {
    const message = `etcd not readable, routing left as it is: ${(err as Error).message.split('\n')[0]}`;
    if (status.lastError !== message) log(message);
    status.lastError = message;
    return;
  }
  status.lastReadAt = Date.now();
  const candidate = failsafeCandidate(state, lastPrimary);
  const failsafe = candidate && (await inFailsafe(state.members.find((m) => m.name === candidate))) ? candidate : null;
  const routing: Routing = desiredRouting(state, failsafe);
  try {
    const p = await writeSlice(ROUTED_SLICES.primary, routing.primary ? [routing.primary] : [], state.revision);
    const r = await writeSlice(ROUTED_SLICES.replicas, routing.replicas, state.revision);
    const primary = routing.primary?.name ?? null;
    const replicas = routing.replicas.map((m) => m.name);
    if (primary !== status.primary || replicas.join() !== status.replicas.join() || p === 'written' || r === 'written') {
      log(`revision ${state.revision}: primary ${primary ?? 'none'} (${routing.reason}), replicas [${replicas.join(', ')}]; ` +
        `${ROUTED_SLICES.primary} ${p}, ${ROUTED_SLICES.replicas} ${r}`);
    }
    Object.assign(status, { revision: state.revision.toString(), leader: state.leader, primary, replicas, reason: routing.reason, lastError: null });
    if (primary) lastPrimary = primary;
  } catch (err) {
    const message = `could not write the routed slices: ${(err as Error).message}`;
    if (status.lastError !== message) log(message);
    status.lastError = message;
  }
}

// One reconcile at a time; changes that arrive meanwhile trigger exactly one more.
let running = false;
let again = false;
async function kick(): Promise<void> {
  if (running) { again = true; return; }
  running = true;
  try {
    do {
      again = false;
      await reconcile();
    } while (again);
  } finally {
    running = false;
  }
}

async function watch(): Promise<void> {
  for (;;) {
    try {
      const watcher = await etcd.watch().prefix(PREFIX).create();
      watcher.on('put', () => void kick());
      watcher.on('delete', () => void kick());
      await new Promise<void>((resolve) => { watcher.on('end', resolve); watcher.on('error', () => resolve()); });
    } catch (err) {
      log(`watch failed, retrying: ${(err as Error).message.split('\n')[0]}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

createServer((req, res) => {
  const ready = Date.now() - status.lastReadAt < 10_000;
  if (req.url === '/livez') res.writeHead(200).end('ok\n');
  else if (req.url === '/readyz') res.writeHead(ready ? 200 : 503).end(ready ? 'ok\n' : `${status.lastError ?? 'no etcd read yet'}\n`);
  else if (req.url === '/state') res.writeHead(200, { 'Content-Type': 'application/json' }).end(`${JSON.stringify(status)}\n`);
  else res.writeHead(404).end();
}).listen(COMPONENTS.router.ports.http);

log(`routing ${LABEL.name}=${COMPONENTS.postgres.workload} in ${NAMESPACE} from ${PREFIX} on ${ENDPOINTS.join(', ')} (manager ${ROUTER_MANAGER})`);
void watch();
setInterval(() => void kick(), RESYNC_MS);
void kick();
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => { log(`${signal}: exiting`); process.exit(0); });
