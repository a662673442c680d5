/**
 * The lab's network agent (kind/lab/kindnetd): its Go tests, run with the Go toolchain the lab builds
 * it with. They pin how a force-deleted pod keeps its identity for the NetworkPolicy engine
 * (linger_test.go): a mistake there fails open.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const AGENT = fileURLToPath(new URL('../kind/lab/kindnetd', import.meta.url));

test('the network agent\'s Go tests pass (go test ./... in kind/lab/kindnetd)', () => {
  const res = spawnSync('go', ['test', '-count=1', './...'], { cwd: AGENT, encoding: 'utf8', timeout: 600_000 });
  if (res.error) assert.unreachable(`go could not be run (${res.error.message}): the lab needs Go to build its agent`);
  assert.is(res.status, 0, `go test failed:\n${(res.stdout + res.stderr).slice(-3000)}`);
});

test.run();
