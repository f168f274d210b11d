/**
 * Verdicts that do not depend on the machine: the whole suite, repeated, with both cores
 * kept busy and an unrelated lab kept up beside it. Every check must give the same
 * verdict every time, and the unrelated lab must come out untouched.
 */
import t from 'tap';
import { execa } from 'execa';
import { flatlab, namespacesOf, prefixesUnder, shippedSuite, skipUnlessRoot, tempDir, upOwned } from './lib.js';

const stressNg = (await execa('sh', ['-c', 'command -v stress-ng'], { reject: false })).exitCode === 0;
const skip = skipUnlessRoot || (stressNg ? false : 'stress-ng is not installed (.ci/run installs it)');

t.test('suite --repeat 3 under full CPU load beside a kept lab: nothing flaky, the other lab untouched', { skip }, async (t) => {
  const results = await tempDir(t);
  const foreign = await upOwned(t, ['flatdhcp-multihost', '--variant', 'same-net-blocked', '--results', results, '-q']);
  t.equal(foreign.exitCode, 0, 'the unrelated lab is up', { output: foreign.stdout + foreign.stderr });
  const before = await namespacesOf([foreign.prefix!]);
  // both cores busy for as long as the suite runs (stopped by PID whatever happens)
  const load = execa('stress-ng', ['--cpu', '2', '--timeout', '1200s'], { reject: false, stdio: 'ignore' });
  t.teardown(() => {
    load.kill('SIGKILL');
    return load;
  });
  const suiteDir = await tempDir(t);
  const r = await flatlab(['suite', '--repeat', '3', '--jobs', '2', '--results', suiteDir]);
  t.equal(r.exitCode, 0, 'every run as expected, nothing flaky', { output: r.stdout.split('\n').filter((l) => !/\spass\s/.test(l)).join('\n') + r.stderr.slice(-2000) });
  const shipped = await shippedSuite();
  t.match(r.stdout, new RegExp(`all ${shipped.scenarios.length * 3} scenario runs as expected, 0 flaky`));
  t.notMatch(r.stdout, /passed only on a later try/, 'no check needed a second try');
  t.same(await namespacesOf(await prefixesUnder(suiteDir)), [], "the suite's labs are gone");
  t.same(await namespacesOf([foreign.prefix!]), before, "the unrelated lab's namespaces are all there");
  const check = await flatlab(['check', '--run', foreign.prefix!]);
  t.equal(check.exitCode, 0, 'the unrelated lab still answers as it should', { output: check.stdout });
});
