/**
 * Data lineage of the Redis servers: did the current master start from data that a server it now
 * overwrites had more of? Each server records its replication position every couple of seconds
 * (images/redis/redis-lib.sh: record_position) and keeps, on start, the last record as the one it
 * started from. A replica whose start record is not in the master's history (the master started
 * behind it in the same history, or from another history) had data the master never had; after it
 * resynchronised from the master, those writes are gone. Pure functions, tested in tests/redis-lineage.test.ts.
 */

export interface Position {
  /** Unix ms of the record. */
  at: number;
  role: string;
  replid: string;
  offset: number;
  replid2: string;
  secondOffset: number;
  master: string;
}

/** Parses a record line; null when it is empty or malformed. */
export function parsePosition(line: string | undefined): Position | null {
  if (!line?.trim()) return null;
  const [at, ...fields] = line.trim().split(/\s+/);
  const kv = Object.fromEntries(fields.map((f) => f.split(/=(.*)/s).slice(0, 2)));
  const n = (v: string | undefined) => (v !== undefined && /^-?\d+$/.test(v) ? Number(v) : NaN);
  const p: Position = {
    at: n(at), role: kv.role ?? '', replid: kv.replid ?? '', offset: n(kv.offset),
    replid2: kv.replid2 ?? '', secondOffset: n(kv.second_offset), master: kv.master ?? '',
  };
  return Number.isFinite(p.at) && /^[0-9a-f]{40}$/.test(p.replid) && Number.isFinite(p.offset) ? p : null;
}

/**
 * How far the master's history reaches into each replication id, where that is known exactly:
 *   - its current id, up to its current offset;
 *   - the id of the data it started from, up to that record's offset, when it has started a history
 *     of its own since (it started as the master: a new id and no previous one) and so received
 *     nothing more of the old one;
 *   - and every link: a record that switched ids (replid2 up to second_offset, then replid) ends the
 *     older id exactly where the newer one began. Redis keeps one previous id per server; chaining
 *     the links of all servers' records follows a history across several failovers.
 * An id the master once replicated but left at a point no record shows is not in the map: a record
 * of the master in it is only a lower bound of what it holds, and nothing can be judged from it.
 */
export function masterReach(master: { start: Position | null; now: Position | null }, all: Position[]): Map<string, number> {
  const reach = new Map<string, number>();
  const raise = (id: string, offset: number) => {
    if (!/^0+$/.test(id) && offset > (reach.get(id) ?? -1)) { reach.set(id, offset); return true; }
    return false;
  };
  const { start, now } = master;
  if (now) raise(now.replid, now.offset);
  if (start && now && /^0+$/.test(now.replid2) && start.replid !== now.replid) raise(start.replid, start.offset);
  if (start && !now) raise(start.replid, start.offset);
  const links = all.filter((q) => Number.isFinite(q.secondOffset) && q.secondOffset >= 0 && !/^0+$/.test(q.replid2));
  for (let changed = true; changed;) {
    changed = false;
    for (const l of links) {
      // The newer id continues the older one from the switch on: if the master's history reaches the
      // newer id at or past the switch, it holds the older one up to the switch.
      if ((reach.get(l.replid) ?? -1) >= l.secondOffset && raise(l.replid2, l.secondOffset)) changed = true;
    }
  }
  return reach;
}

export interface ServerRecords {
  pod: string;
  /** The record the server started from (its data as it last ran), if any. */
  start: Position | null;
  /** Its latest record. */
  now: Position | null;
}

/**
 * Servers that started with data the master's history provably does not hold: one sentence each. A
 * start record in an id the master's history does not reach at all (its links were lost to later
 * restarts) cannot be judged and is not flagged. `slack` allows for records taken a moment apart.
 */
export function lineageProblems(master: ServerRecords, others: ServerRecords[], slack = 64 * 1024): string[] {
  if (!master.start && !master.now) return [];
  const all = [master, ...others].flatMap((s) => [s.start, s.now]).filter((p): p is Position => p !== null);
  const reach = masterReach(master, all);
  const problems: string[] = [];
  for (const s of others) {
    const p = s.start;
    const held = p ? reach.get(p.replid) : undefined;
    if (!p || held === undefined || p.offset - slack <= held) continue;
    problems.push(`${s.pod} started with data up to ${p.replid.slice(0, 8)}:${p.offset}, ${p.offset - held} bytes beyond what ` +
      `master ${master.pod}'s history holds (${p.replid.slice(0, 8)}:${held}): writes acknowledged before that may be lost`);
  }
  return problems;
}
