/**
 * Another checkout's lab is someone else's CI run: without --run no lab command picks
 * it; each says whose it is and exits 2, and the lab answers its owner afterwards.
 */
import t from 'tap';
import { execa } from 'execa';
import { cliCopy, flatlab, namespacesOf, skipUnlessRoot, upOwned } from './lib.js';

t.test("bare down, check, exec, diagnose from another checkout list the lab and leave it alone", { skip: skipUnlessRoot }, async (t) => {
  const a = await upOwned(t, ['flatdhcp-multihost', '--variant', 'same-net-allowed', '-q']);
  t.equal(a.exitCode, 0, 'checkout A has a lab up', { output: a.stdout + a.stderr });
  const prefix = a.prefix!;
  const b = await cliCopy(t);
  const fromB = async (args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> => {
    const r = await execa('node', [b.cli, ...args], { reject: false, cwd: b.root, env: { NO_COLOR: '1' } });
    return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  for (const args of [['down'], ['check'], ['exec', 'vm_1', '--', 'true'], ['diagnose', 'vm_1', 'vm_2'], ['inspect']]) {
    const r = await fromB(args);
    t.equal(r.exitCode, 2, `B: flatlab ${args.join(' ')} exits 2`, { output: r.stdout + r.stderr });
    t.match(r.stderr, /no kept lab of yours \(user root, checkout /, `B: flatlab ${args.join(' ')} says it has none`);
    t.match(r.stderr, new RegExp(`^\\s+${prefix} \\(flatdhcp-multihost, user root, checkout `, 'm'), `B: flatlab ${args.join(' ')} names A's lab and its owner`);
  }
  // named, it may be looked at; removing it needs --force
  const down = await fromB(['down', '--run', prefix]);
  t.equal(down.exitCode, 2);
  t.match(down.stderr, /is not yours: it belongs to user root of .*say --force/);
  t.ok((await namespacesOf([prefix])).length > 0, "A's lab is still there");
  const check = await flatlab(['check', '--run', prefix]);
  t.equal(check.exitCode, 0, "A's lab answers its own check as expected", { output: check.stdout });
  // ls --mine: A sees its lab, B does not (and is told others exist)
  t.match((await flatlab(['ls', '--mine'])).stdout, new RegExp(prefix));
  const mineB = await fromB(['ls', '--mine']);
  t.notMatch(mineB.stdout, new RegExp(prefix), "B's ls --mine leaves A's lab out");
  t.match(mineB.stdout, /no flatlab labs of yours \(user root, checkout .*\); \d+ of others/);
});
