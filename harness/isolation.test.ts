/**
 * Isolation as nova did it, with real packets: allow_same_net_traffic on and off,
 * security groups, and a live firewall edited by hand.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { flatlab, namespacesOf, readResult, rootSnapshot, runOwned, skipUnlessRoot, tempDir, upOwned } from './lib.js';

t.test('the reference scenario runs both variants', { skip: skipUnlessRoot }, async (t) => {
  const results = await tempDir(t);
  const before = await rootSnapshot();
  const r = await runOwned(['flatdhcp-multihost', '--results', results]);
  t.equal(r.exitCode, 0, 'exit 0', { output: r.stdout + r.stderr });
  t.match(r.stdout, /variant same-net-allowed/);
  t.match(r.stdout, /variant same-net-blocked/);
  t.match(r.stdout, /all 2 variants as expected \(40 checks\)/);
  const res = await readResult(r.stdout);
  const [allowed, blocked] = res.variants;
  t.equal(allowed.variant, 'same-net-allowed');
  t.equal(blocked.variant, 'same-net-blocked');
  t.equal(allowed.reach.length, 12);
  t.ok(allowed.reach.every((x: any) => x.observed === 'reachable'), 'allowed: every pair answers');
  t.equal(blocked.reach.length, 12);
  t.ok(blocked.reach.every((x: any) => x.observed === 'unreachable'), 'blocked: no pair answers, same node included');
  t.ok(blocked.reach.filter((x: any) => x.source === 'derived').every((x: any) => /sg-fallback drops/.test(x.reason)));
  for (const x of blocked.reach) {
    const chain = `nova-compute-inst-${blocked.plan.vms.find((v: any) => v.name === x.to).instanceId}`;
    t.match(x.confirmedBy?.text, new RegExp(`counted by -A ${chain} -j nova-compute-sg-fallback on compute[12]`), `${x.from} -> ${x.to}: the drop is confirmed by its target's fallback jump`);
    t.equal(x.attempts.length, 1, 'an expected drop is sent once');
  }
  t.same(blocked.unexpectedDrops, [], 'no rule dropped anything that was not expected');
  for (const v of [allowed, blocked]) {
    t.ok(v.verdicts.filter((x: any) => x.kind !== 'reach').every((x: any) => x.ok), `${v.variant}: leases and gateways check out`);
  }
  const dir = /results: (\S+)/.exec(r.stdout)![1]!;
  for (const variant of ['same-net-allowed', 'same-net-blocked']) {
    for (const node of ['compute1', 'compute2']) {
      const save = await readFile(join(dir, variant, 'nodes', node, 'iptables-save.txt'), 'utf8');
      t.match(save, /-A nova-compute-local -d 10\.0\.0\.\d+\/32 -j nova-compute-inst-\d/, `${variant}/${node}: per-instance chains`);
      t.match(save, /-A nova-compute-sg-fallback -j DROP/);
      t.match(save, /-A FORWARD -j nova-filter-top/);
      t.match(save, /-A nova-network-FORWARD -i br100 -j ACCEPT/);
      if (variant === 'same-net-allowed') t.match(save, /-s 10\.0\.0\.0\/24 -j ACCEPT/);
      else t.notMatch(save, /-s 10\.0\.0\.0\/24 -j ACCEPT/);
    }
  }
  // the blocked variant's drops really happened in the kernel
  const c2 = await readFile(join(dir, 'same-net-blocked', 'nodes', 'compute2', 'iptables-save.txt'), 'utf8');
  const dropped = Number(/\[(\d+):\d+\] -A nova-compute-sg-fallback -j DROP/.exec(c2)?.[1]);
  t.ok(dropped >= 6, `compute2's fallback dropped ${dropped} packets (6 pings at least)`);
  t.same(await namespacesOf(r.prefixes), []);
  t.equal(await rootSnapshot(), before, 'root namespace unchanged');
});

t.test('security groups: exactly the granted flows pass', { skip: skipUnlessRoot }, async (t) => {
  const results = await tempDir(t);
  const r = await runOwned(['security-groups', '--results', results]);
  t.equal(r.exitCode, 0, 'exit 0', { output: r.stdout + r.stderr });
  const res = await readResult(r.stdout);
  const blocked = res.variants.find((v: any) => v.variant === 'same-net-blocked');
  const allowed = res.variants.find((v: any) => v.variant === 'same-net-allowed');
  t.ok(allowed.reach.every((x: any) => x.observed === 'reachable'), 'same-net allowed: everything answers');
  const observed = (proto: string, port?: number): string[] =>
    blocked.reach
      .filter((x: any) => x.proto === proto && x.port === port && x.observed === 'reachable')
      .map((x: any) => `${x.from}>${x.to}`)
      .sort();
  const ssh = ['vm_1', 'vm_3', 'vm_4'];
  const sshPairs = ssh.flatMap((a) => ssh.filter((b) => b !== a).map((b) => `${a}>${b}`)).sort();
  t.same(observed('tcp', 22), sshPairs, 'tcp/22: exactly the pairs inside group ssh');
  t.same(observed('icmp', undefined), [], 'icmp stays blocked');
  t.same(observed('udp', 53), ['vm_1>vm_4', 'vm_2>vm_4', 'vm_3>vm_4'], 'udp/53: only into vm_4 (group dns), from anywhere in the range');
  for (const x of blocked.reach.filter((x: any) => x.expected === 'unreachable')) {
    t.match(x.confirmedBy?.text, /counted by -A nova-compute-inst-\d+ -j nova-compute-sg-fallback/, `${x.from} -> ${x.to} ${x.proto}: confirmed by a counter`);
  }
  const dropped = blocked.reach.find((x: any) => x.from === 'vm_2' && x.to === 'vm_3' && x.proto === 'tcp');
  t.equal(dropped.observed, 'unreachable');
  t.match(dropped.evidence, /no answer to tcp SYN .* \(dropped\)/, 'a drop, not a refusal');
  t.same(await namespacesOf(r.prefixes), []);
});

t.test('editing the firewall of a live lab changes what is observed', { skip: skipUnlessRoot }, async (t) => {
  const results = await tempDir(t);
  const up = await upOwned(t, ['flatdhcp-multihost', '--variant', 'same-net-allowed', '--results', results]);
  t.equal(up.exitCode, 0, 'exit 0', { output: up.stdout + up.stderr });
  const run = ['--run', up.prefix!];
  t.equal((await flatlab(['check', ...run])).exitCode, 0);
  // vm_3 is instance 3 on compute2: remove its same-net accept, as an operator might
  const del = await flatlab(['exec', ...run, 'compute2', '--', 'iptables', '-D', 'nova-compute-inst-3', '-s', '10.0.0.0/24', '-j', 'ACCEPT']);
  t.equal(del.exitCode, 0, 'rule deleted', { output: del.stderr });
  const after = await flatlab(['check', ...run]);
  t.equal(after.exitCode, 1, 'the checks see the change');
  const fails = after.stdout.match(/FAIL reach (\S+ -> \S+) icmp/g)?.map((l) => l.replace(/FAIL reach | icmp/g, '')).sort();
  t.same(fails, ['vm_1 -> vm_3', 'vm_2 -> vm_3', 'vm_4 -> vm_3'], 'exactly the flows into vm_3, same node included');
  t.match(after.stdout, /no echo reply from 10\.0\.0\.5/);
  t.equal((await flatlab(['down', ...run])).exitCode, 0);
  t.same(await namespacesOf([up.prefix!]), []);
});

t.test('a fallback jump removed by hand: the leak fails at its first probe', { skip: skipUnlessRoot }, async (t) => {
  const up = await upOwned(t, ['flatdhcp-multihost', '--variant', 'same-net-blocked', '--results', await tempDir(t)]);
  t.equal(up.exitCode, 0, 'exit 0', { output: up.stdout + up.stderr });
  const run = ['--run', up.prefix!];
  // vm_3's chain loses its last rule: what no rule accepted now falls through to FORWARD's ACCEPT
  const del = await flatlab(['exec', ...run, 'compute2', '--', 'iptables', '-D', 'nova-compute-inst-3', '-j', 'nova-compute-sg-fallback']);
  t.equal(del.exitCode, 0, 'rule deleted', { output: del.stderr });
  const after = await flatlab(['check', ...run]);
  t.equal(after.exitCode, 1);
  const fails = after.stdout.match(/FAIL reach (\S+ -> \S+) icmp: expected unreachable, observed reachable/g) ?? [];
  t.equal(fails.length, 3, 'vm_1, vm_2 and vm_4 reach vm_3', { output: after.stdout });
  t.notMatch(after.stdout, /flaky|tries/, 'an answer where a drop is expected is never tried again');
  t.equal((await flatlab(['down', ...run])).exitCode, 0);
});
