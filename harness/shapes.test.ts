/**
 * The other flat shapes on real namespaces: FlatManager with injection or an external
 * DHCP server, single host, one NIC, the way out.
 */
import t from 'tap';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { flatlab, namespacesOf, readResult, rootSnapshot, runOwned, skipUnlessRoot, tempDir, upOwned } from './lib.js';

const SHAPES = ['flat-injected', 'flat-external-dhcp', 'flatdhcp-singlehost', 'flatdhcp-single-interface', 'flatdhcp-multihost-external'];

t.test('every shape runs green and leaves the root namespace as it was', { skip: skipUnlessRoot }, async (t) => {
  const before = await rootSnapshot();
  const results = await tempDir(t);
  for (const name of SHAPES) {
    const r = await runOwned([name, '--results', results]);
    t.equal(r.exitCode, 0, `${name}: exit 0`, { output: r.stdout + r.stderr });
    t.same(await namespacesOf(r.prefixes), [], `${name}: no namespace left`);
    t.equal(await rootSnapshot(), before, `${name}: root namespace unchanged`);
  }
});

t.test('single host: one dnsmasq, one gateway, one way out', { skip: skipUnlessRoot }, async (t) => {
  const r = await flatlab(['run', 'flatdhcp-singlehost', '--results', await tempDir(t)]);
  t.equal(r.exitCode, 0);
  const v = (await readResult(r.stdout)).variants[0];
  for (const vm of ['vm_1', 'vm_2', 'vm_3', 'vm_4']) {
    t.equal(v.observations.vms[vm].defaultGateway, '10.0.0.1', `${vm}: gateway is the network host's bridge`);
    t.equal(v.observations.vms[vm].dhcp.serverid, '10.0.0.1', `${vm}: offered by the network host`);
  }
  const leasedBy = new Set(v.observations.leaseEvents.filter((e: any) => e.event === 'add').map((e: any) => e.node));
  t.same([...leasedBy], ['controller'], "only the network host's lease log holds leases");
  const dir = /results: (\S+)/.exec(r.stdout)![1]!;
  t.same((await readdir(join(dir, 'nodes', 'compute1'))).filter((f) => /lease|dnsmasq/.test(f)), [], 'compute nodes run no dnsmasq');
  t.ok(v.egress.every((e: any) => e.observedSource === '203.0.113.2'), 'every VM leaves through the controller');
  t.ok(v.egress.every((e: any) => e.capturedSource === '203.0.113.2'), "the external host's capture shows the controller's public address as every SYN's source");
  const capture = await readFile(join(dir, 'hosts', 'external', 'capture-syn.txt'), 'utf8');
  t.match(capture, /IP 203\.0\.113\.2\.\d+ > 203\.0\.113\.1\.7: Flags \[S\]/, 'the capture is in the results');
  t.notMatch(capture, /IP 10\.0\.0\.\d+\./, 'no fixed address leaves unSNATed');
});

t.test('flat-injected: addresses come from the injected file, not DHCP', { skip: skipUnlessRoot }, async (t) => {
  const r = await flatlab(['run', 'flat-injected', '--results', await tempDir(t)]);
  t.equal(r.exitCode, 0);
  t.match(r.stdout, /skipped: 4 lease checks \(flat_injected/);
  const res = await readResult(r.stdout);
  const v = res.variants[0];
  t.same(v.summary, { passed: 20, failed: 0, skipped: 4 });
  const dir = /results: (\S+)/.exec(r.stdout)![1]!;
  for (const [vm, ip] of [['vm_1', '10.0.0.2'], ['vm_4', '10.0.0.5']]) {
    const file = await readFile(join(dir, 'vms', vm!, 'etc', 'network', 'interfaces'), 'utf8');
    t.match(file, new RegExp(`address ${ip!.replace(/\./g, '\\.')}\\n`), `${vm}: the injected file is in the results`);
    t.match(v.observations.vms[vm!].bootLog, `configured eth0 from /etc/network/interfaces: address ${ip}`);
    t.same(v.observations.vms[vm!].addresses, [{ ip, prefixLength: 24 }]);
    t.equal(v.observations.vms[vm!].dhcp, null, `${vm}: no DHCP client ran`);
  }
  t.same(v.observations.leaseEvents, []);
});

t.test('FlatManager without DHCP or injection: no address, said quickly', { skip: skipUnlessRoot }, async (t) => {
  const r = await flatlab(['run', 'flat-external-dhcp', '--variant', 'no-dhcp-server', '--results', await tempDir(t)]);
  t.equal(r.exitCode, 0);
  const v = (await readResult(r.stdout)).variants[0];
  t.ok(v.verdicts.filter((x: any) => x.kind === 'lease').every((x: any) => x.ok && x.observed === 'no address'));
  t.same(v.symptoms.map((x: any) => x.code), ['no-address'], 'the bare guests are named, not called healthy');
  t.match(r.stdout, /as expected: no address for vm_1, vm_2, vm_3: nothing configures them/);
});

t.test('turning ip_forward off on one gateway breaks exactly its VMs\' way out', { skip: skipUnlessRoot }, async (t) => {
  const up = await upOwned(t, ['flatdhcp-multihost-external', '--results', await tempDir(t)]);
  t.equal(up.exitCode, 0, 'up', { output: up.stdout + up.stderr });
  const run = ['--run', up.prefix!];
  const off = await flatlab(['exec', ...run, 'compute2', '--', 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=0']);
  t.equal(off.exitCode, 0);
  const after = await flatlab(['check', ...run]);
  t.equal(after.exitCode, 1);
  const failed = [...after.stdout.matchAll(/FAIL (\w+) ([^\s:]+)/g)].map((m) => `${m[1]} ${m[2]}`).sort();
  t.same(failed, ['egress vm_3', 'egress vm_4'], "only compute2's VMs lose the way out; VM-to-VM traffic is bridged and unaffected");
  t.equal((await flatlab(['down', ...run])).exitCode, 0);
  t.same(await namespacesOf([up.prefix!]), []);
});
