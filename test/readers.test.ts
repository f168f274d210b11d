/**
 * The readers the lab's observations rest on, without root: lease logs and lease files,
 * `ip -j` VM state, /proc of this test's own process, the exec probe's reading of ping
 * and socat, the rule count a firewall is read back with.
 */
import t from 'tap';
import { leasesOf, parseLeaseFile, parseLeaseLog } from '../src/checks/leases.js';
import { parseVmState, vmStateBatch } from '../src/backend/vm-state.js';
import { childrenOf, flatlabAncestor, isSameProcess, readLocalAddresses, readRoutes, startTicks } from '../src/backend/procfs.js';
import { execProbe, PROBE_TOKEN } from '../src/backend/exec-probe.js';
import type { ExecResult } from '../src/backend/backend.js';
import { rulesPerChain } from '../src/net/iptables-save.js';

t.test('lease logs: add/old/del per node, the last event wins', async (t) => {
  const log = '1700000000 add FA:16:3E:00:00:01 10.0.0.2 vm-1\n1700000001 old fa:16:3e:00:00:01 10.0.0.2 vm-1\nnot a line\n1700000002 del fa:16:3e:00:00:02 10.0.0.3\n';
  const events = parseLeaseLog('compute1', log);
  t.same(events.map((e) => [e.event, e.mac, e.hostname]), [['add', 'fa:16:3e:00:00:01', 'vm-1'], ['old', 'fa:16:3e:00:00:01', 'vm-1'], ['del', 'fa:16:3e:00:00:02', '*']]);
  const other = parseLeaseLog('compute2', '1700000003 add fa:16:3e:00:00:01 10.0.0.9 vm-1\n1700000004 del fa:16:3e:00:00:01 10.0.0.9 vm-1\n');
  t.same([...leasesOf([...events, ...other], 'fa:16:3e:00:00:01')], [['compute1', '10.0.0.2']], 'a lease released on compute2 is not held there');
  t.same(parseLeaseFile('1700000120 FA:16:3E:00:00:05 10.0.0.50 web *\n\n'), [{ expires: 1700000120, mac: 'fa:16:3e:00:00:05', ip: '10.0.0.50', hostname: 'web' }]);
});

t.test('a VM as `ip -j -batch` shows it: address, gateway, resolved and unresolved neighbours', async (t) => {
  t.equal(vmStateBatch('eth0'), 'addr show dev eth0\nroute show default\nneigh show dev eth0\n');
  const out = [
    JSON.stringify([{ ifname: 'eth0', address: 'fa:16:3e:00:00:01', addr_info: [{ family: 'inet', local: '10.0.0.2', prefixlen: 24 }, { family: 'inet6', local: 'fe80::1', prefixlen: 64 }] }]),
    JSON.stringify([{ dst: 'default', gateway: '10.0.0.1', dev: 'eth0' }]),
    JSON.stringify([{ dst: '10.0.0.1', lladdr: '52:54:00:00:00:01', state: ['REACHABLE'] }, { dst: '10.0.0.5', state: ['FAILED'] }, { dst: '10.0.0.6', state: ['INCOMPLETE'] }]),
  ].join('\n');
  t.same(parseVmState(out, 'eth0'), {
    mac: 'fa:16:3e:00:00:01',
    addresses: [{ ip: '10.0.0.2', prefixLength: 24 }],
    defaultGateway: '10.0.0.1',
    arp: { '10.0.0.1': '52:54:00:00:00:01' },
    unresolved: ['10.0.0.5', '10.0.0.6'],
  });
  t.same(parseVmState('', 'eth0'), { mac: null, addresses: [], defaultGateway: null, arp: {}, unresolved: [] }, 'a VM that is gone reads as bare');
});

t.test('/proc of this process: start time, identity, routes, addresses, ancestry', async (t) => {
  const ticks = await startTicks(process.pid);
  t.match(ticks, /^\d+$/);
  t.equal(await isSameProcess(process.pid, ticks!), true);
  t.equal(await isSameProcess(process.pid, '1'), false, 'a recycled PID is not ours');
  t.equal(await startTicks(2 ** 22 + 12345), null, 'no such process');
  const routes = await readRoutes(process.pid);
  t.ok(Array.isArray(routes), 'routes read');
  for (const r of routes!) t.match(r.destination, /^\d+\.\d+\.\d+\.\d+$/);
  const locals = await readLocalAddresses(process.pid);
  t.ok(locals!.every((a) => !a.startsWith('127.')), 'loopback left out');
  t.same(await childrenOf(new Set([2 ** 22 + 12345])), []);
  t.equal(flatlabAncestor([], process.pid), null);
});

t.test("the exec probe reads ping's and socat's answers", async (t) => {
  const said: string[][] = [];
  const backend = (r: Partial<ExecResult>) => ({
    exec: async (_ns: string, argv: string[]) => {
      said.push(argv);
      return { exitCode: 1, stdout: '', stderr: '', durationMs: 1, timedOut: false, ...r };
    },
  });
  t.same(await execProbe(backend({ exitCode: 0, stdout: 'rtt min/avg/max/mdev = 0.1/0.25/0.3/0.0 ms' }), 'vm1', '10.0.0.5', 'icmp', undefined, 500), { observed: 'reachable', evidence: 'echo reply from 10.0.0.5 in 0.25 ms' });
  t.same(said.pop(), ['ping', '-n', '-q', '-c', '1', '-W', '0.50', '10.0.0.5']);
  t.equal((await execProbe(backend({}), 'vm1', '10.0.0.5', 'icmp', undefined, 500)).observed, 'unreachable');
  t.equal((await execProbe(backend({ stderr: 'Connection refused' }), 'vm1', '10.0.0.5', 'tcp', 22, 500)).observed, 'refused');
  t.equal((await execProbe(backend({ exitCode: 0 }), 'vm1', '10.0.0.5', 'tcp', 22, 500)).observed, 'reachable');
  t.equal((await execProbe(backend({ exitCode: 0, stdout: `${PROBE_TOKEN}\n` }), 'vm1', '10.0.0.5', 'udp', 53, 500)).observed, 'reachable');
  t.equal((await execProbe(backend({ exitCode: 0 }), 'vm1', '10.0.0.5', 'udp', 53, 500)).observed, 'unreachable', 'no echo: dropped');
});

t.test('rules per chain, from restore input and from iptables-save -c alike', async (t) => {
  const restore = '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j a\n-A a -j DROP\n-A a -j ACCEPT\nCOMMIT\n*nat\n-A POSTROUTING -j b\nCOMMIT\n';
  const saved = restore.replace(/^-A /gm, '[3:120] -A ');
  t.same([...rulesPerChain(restore)], [['filter/INPUT', 1], ['filter/a', 2], ['nat/POSTROUTING', 1]]);
  t.same(rulesPerChain(saved), rulesPerChain(restore));
});

t.test('root is uid 0 in the machine\'s own user namespace, not inside unshare -r', { skip: process.getuid?.() !== 0 ? 'needs uid 0 to tell the two apart' : false }, async (t) => {
  const { notRoot } = await import('../src/root.js');
  t.equal(notRoot('         0          0 4294967295\n'), null);
  t.match(notRoot('         0          0          1\n'), /^uid 0 inside a user namespace \(uid_map: 0 0 1\), not the machine's root$/);
  t.equal(notRoot(null), null, 'a kernel without user namespaces');
});
