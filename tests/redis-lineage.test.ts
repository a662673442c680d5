/** The status tool's Redis data-lineage check (tools/redis-lineage.ts) must flag what it is there to flag. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { lineageProblems, masterReach, parsePosition } from '../tools/redis-lineage.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const Z = '0'.repeat(40);
const rec = (replid: string, offset: number, replid2 = Z, second = -1, role = 'slave') =>
  parsePosition(`1700000000000 role=${role} replid=${replid} offset=${offset} replid2=${replid2} second_offset=${second} master=redis-1.x`)!;

const Lineage = suite('redis data lineage');
Lineage('parses a record and refuses a malformed one', () => {
  assert.equal(rec(A, 100), { at: 1700000000000, role: 'slave', replid: A, offset: 100, replid2: Z, secondOffset: -1, master: 'redis-1.x' });
  assert.is(parsePosition(''), null);
  assert.is(parsePosition('garbage'), null);
});
Lineage('the master\'s history reaches its own id up to its offset, and earlier ids up to where they were left', () => {
  const reach = masterReach({ start: null, now: rec(B, 900, A, 500) }, [rec(B, 900, A, 500)]);
  assert.equal([...reach.entries()].sort(), [[A, 500], [B, 900]]);
  const chained = masterReach({ start: null, now: rec(C, 2_000, B, 1_500) }, [rec(C, 2_000, B, 1_500), rec(B, 1_200, A, 700)]);
  assert.is(chained.get(A), 700, 'two failovers back, through another server\'s record');
});
Lineage('the issue\'s case: a lagging server became master after a full restart; the others had more of the same history', () => {
  const problems = lineageProblems(
    { pod: 'redis-0', start: rec(B, 400, A, 300), now: rec(C, 0, Z, -1, 'master') },
    [{ pod: 'redis-1', start: rec(B, 200_000, A, 300), now: null }, { pod: 'redis-2', start: rec(B, 199_000, A, 300), now: null }],
  );
  assert.is(problems.length, 2);
  assert.match(problems[0], /^redis-1 started with data up to bbbbbbbb:200000, 199600 bytes beyond what master redis-0's history holds \(bbbbbbbb:400\)/);
});
Lineage('no flag after a correct full restart: the last master started with everything the replicas had', () => {
  assert.equal(lineageProblems(
    { pod: 'redis-1', start: rec(B, 200_000, A, 300, 'master'), now: rec(C, 5_000, Z, -1, 'master') },
    [{ pod: 'redis-0', start: rec(B, 400, A, 300), now: null }, { pod: 'redis-2', start: rec(B, 199_990, A, 300), now: null }],
  ), []);
});
Lineage('no flag after two failovers: a record from two masters ago is followed through the other servers\' records', () => {
  // redis-0 was master (A) until killed; redis-2 took over at 5000 (B); redis-2 was killed; redis-1 took over at 9000 (C).
  assert.equal(lineageProblems(
    { pod: 'redis-1', start: null, now: rec(C, 9_500, B, 9_000, 'master') },
    [{ pod: 'redis-0', start: rec(A, 5_100, Z, -1, 'master'), now: rec(C, 9_500, B, 9_000) },
     { pod: 'redis-2', start: rec(B, 9_050, A, 5_000, 'master'), now: rec(C, 9_500, B, 9_000) }],
  ), [], 'within the slack: the few bytes a killed master had beyond the switch are sentinel pings, not lost writes');
});
Lineage('a master that took over behind what the killed master had acknowledged is flagged', () => {
  const problems = lineageProblems(
    { pod: 'redis-2', start: null, now: rec(B, 100_000, A, 20_000, 'master') },
    [{ pod: 'redis-0', start: rec(A, 500_000, Z, -1, 'master'), now: rec(B, 100_000, A, 20_000) }],
  );
  assert.match(problems[0], /^redis-0 started with data up to aaaaaaaa:500000, 480000 bytes beyond/);
});
Lineage('a record in a history the master\'s records no longer reach is not judged, and records-less servers neither', () => {
  assert.equal(lineageProblems({ pod: 'redis-0', start: rec(A, 10), now: null }, [{ pod: 'redis-1', start: rec(C, 10), now: null }]), []);
  assert.equal(lineageProblems({ pod: 'redis-0', start: null, now: rec(A, 10, Z, -1, 'master') }, [{ pod: 'redis-1', start: null, now: null }]), []);
});
Lineage('no flag when the master left an id at a point no record shows: its own older record there is only a lower bound', () => {
  // Seen on the lab: redis-1 started as a replica in A (15157705) and went on replicating A; redis-0
  // took over A at 15460704 (B), redis-1 later took over B (C). redis-0's record of that switch was
  // overwritten after its full resync, so nothing says where the master's history left A.
  assert.equal(lineageProblems(
    { pod: 'redis-1', start: rec(A, 15_157_705), now: rec(C, 17_103_159, B, 16_980_349, 'master') },
    [{ pod: 'redis-0', start: rec(A, 15_030_954), now: rec(C, 17_103_159) }, { pod: 'redis-2', start: rec(A, 15_459_940, Z, -1, 'master'), now: rec(C, 17_103_159) }],
  ), []);
});
Lineage.run();
