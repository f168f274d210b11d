/** `guest: vm` without root: the plan of a vm guest, the image format, the agent's protocol and its client. */
import t, { type Test } from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assetsIn } from '../src/assets.js';
import { pingArgv } from '../src/backend/exec-probe.js';
import { GuestAgent, parseAnswer, requestLine } from '../src/backend/guest-agent.js';
import { vmStateFromTexts } from '../src/backend/vm-state.js';
import { withVmGuests } from '../src/backend/vm-guests.js';
import { GUEST_CONF } from '../src/plan/guest-vm.js';
import { plan, type PlanOptions } from '../src/plan/plan.js';
import { planVariant } from '../src/plan/variant.js';
import type { Plan } from '../src/plan/types.js';
import { cpioArchive, readCpio } from '../src/run/cpio.js';
import { parseScenario, parseScenarioFile } from '../src/scenario/load.js';
import { errorsOf, REFERENCE } from './helpers.js';

const IMAGE = { kernel: '/cache/guest/images/x/vmlinux', initrd: '/cache/guest/images/x/initrd.cpio' };
const OPTS = { runId: 'abc123', runtimeRoot: '/run/flatlab', assets: assetsIn('/opt/flatlab/assets'), guestImage: IMAGE, accel: 'tcg' as 'tcg' | 'kvm' };
const VM_REFERENCE = REFERENCE.replace('nodes:', 'guest: vm\nnodes:');
const planOf = (text: string, o: Partial<typeof OPTS> & Pick<PlanOptions, 'vhostNet' | 'tscKhz' | 'accel'> = {}): Plan => plan(parseScenario(text), { ...OPTS, ...o });

t.test('a vm guest is a tap in its node and QEMU there: no namespace, no veth', async (t) => {
  const p = planOf(VM_REFERENCE);
  const vm = p.vms[0]!;
  t.equal(vm.guest, 'vm');
  t.notOk(p.wiring.namespaces.includes(vm.netns), 'no namespace of its own');
  t.same(
    p.wiring.nodes.compute1!.filter((l) => l.includes('vnet')),
    ['tuntap add dev vnet0 mode tap', `link set dev vnet0 address ${vm.tapMac} master br100 up`, 'tuntap add dev vnet1 mode tap', `link set dev vnet1 address ${p.vms[1]!.tapMac} master br100 up`],
  );
  t.notOk(p.wiring.nodes.compute1!.some((l) => l.includes('veth')), 'no veth');
  t.match(vm.tapMac, /^fe:/, "the tap's own MAC: libvirt's fe: byte");
  const procs = p.processes.filter((x) => x.owner === vm.name);
  t.same(procs.map((x) => [x.role, x.target]), [['guest-vm', p.nodes[0]!.netns]], 'one process: QEMU in the node');
  const argv = procs[0]!.argv;
  t.equal(argv[0], 'qemu-system-x86_64');
  t.ok(argv.includes(`tap,id=net0,ifname=vnet0,script=no,downscript=no`), 'the NIC on the tap, by name');
  t.ok(argv.includes(`virtio-net-pci,netdev=net0,mac=${vm.mac}`), "the guest's MAC on a virtio NIC");
  t.ok(argv.includes('pc,accel=tcg'));
  t.ok(argv.includes(`socket,id=agent,path=${vm.dir}/agent.sock,server=on,wait=off`));
  t.ok(argv.includes('virtserialport,chardev=agent,name=flatlab.agent'));
  t.equal(argv[argv.indexOf('-initrd') + 1], `${vm.dir}/initrd.cpio`, "its own copy of the image");
  t.equal(argv[argv.indexOf('-kernel') + 1], IMAGE.kernel);
  t.equal(argv[argv.indexOf('-m') + 1], '128', 'guest_memory default');
});

t.test('vhost-net where the machine has it; memory from the scenario, per VM over it', async (t) => {
  const p = planOf(VM_REFERENCE.replace('guest: vm', 'guest: vm\nguest_memory: 96').replace('vm_2: {host: compute1}', 'vm_2: {host: compute1, memory: 256}'), { vhostNet: true });
  t.ok(p.vms[0]!.machine!.argv.includes('tap,id=net0,ifname=vnet0,script=no,downscript=no,vhost=on'));
  t.same(p.vms.map((v) => v.machine!.memoryMb), [96, 256, 96, 96]);
});

t.test("a guest's settings and nova's injected file go into its own copy of the image", async (t) => {
  const p = planOf(VM_REFERENCE);
  const conf = p.vms[0]!.machine!.files.find((f) => f.path === GUEST_CONF)!.text;
  t.match(conf, /^BOOT=dhcp$/m);
  t.notMatch(conf, /MODULES/, 'virtio is built into the guests\' kernel: nothing to load');
  t.match(conf, /^UDHCPC_ARGS="-f -i eth0 -t 3 -T 1 -A 2 -s \/bin\/flatlab-udhcpc-script -x hostname:vm-1"$/m, 'the namespace guests\' udhcpc, the same arguments');
  const injected = planOf(
    VM_REFERENCE.replace('FlatDHCPManager', 'FlatManager').replace('multi_host: true', 'flat_injected: true'),
  );
  const vm = injected.vms[0]!;
  t.equal(vm.boot, 'injected');
  t.same(vm.machine!.files.find((f) => f.path === '/etc/network/interfaces')?.text, vm.injectedConfig);
  t.notOk(injected.processes.some((x) => x.role === 'dnsmasq' || x.role === 'dhcp-server'), 'no DHCP server anywhere');
});

t.test('guest: per scenario, per VM, per variant, and --guest over all', async (t) => {
  const mixed = planOf(REFERENCE.replace('vm_3: {host: compute2}', 'vm_3: {host: compute2, guest: vm}'));
  t.same(mixed.vms.map((v) => v.guest), ['namespace', 'namespace', 'vm', 'namespace']);
  t.ok(mixed.wiring.nodes.compute2!.some((l) => l.includes('veth')), "vm_4 keeps its veth beside vm_3's tap");
  const loaded = parseScenarioFile(`${REFERENCE}variants:\n  - name: ns\n  - name: vm\n    guest: vm\n`, 'x.yaml');
  const [ns, vm] = loaded.variants.map((v) => planVariant(v, OPTS));
  t.same([ns!.vms[0]!.guest, vm!.vms[0]!.guest], ['namespace', 'vm']);
  t.same(planVariant(loaded.variants[0]!, { ...OPTS, guest: 'vm' }).vms.map((v) => v.guest), ['vm', 'vm', 'vm', 'vm'], '--guest vm');
  t.same(errorsOf(REFERENCE.replace('nodes:', 'guest: kvm\nnodes:')).length, 1, 'an unknown kind is an error');
  t.match(errorsOf(REFERENCE.replace('nodes:', 'guest_memory: 16\nnodes:'))[0], /at least 64 MB/);
});

t.test('the image format: newc archives, concatenated as the kernel reads them', async (t) => {
  const a = cpioArchive([
    { path: '/etc', kind: 'dir' },
    { path: '/etc/flatlab/guest.conf', kind: 'file', data: 'BOOT=dhcp\n' },
    { path: '/init', kind: 'symlink', target: '/bin/busybox' },
    { path: '/dev/console', kind: 'char', major: 5, minor: 1 },
  ]);
  t.equal(a.length % 4, 0, 'padded to 4 bytes');
  t.equal(a.subarray(0, 6).toString(), '070701');
  const b = cpioArchive([{ path: 'x', kind: 'file', data: Buffer.from([0, 1, 2]) }]);
  const read = readCpio(Buffer.concat([a, b]));
  t.same(read.map((e) => [e.path, e.data.toString('latin1')]), [['etc', ''], ['etc/flatlab/guest.conf', 'BOOT=dhcp\n'], ['init', '/bin/busybox'], ['dev/console', ''], ['x', '\x00\x01\x02']]);
  t.equal(read[2]!.mode & 0o170000, 0o120000, 'a symlink');
  t.equal(read[3]!.mode & 0o170000, 0o020000, 'a character device');
  t.throws(() => cpioArchive([{ path: '../x', kind: 'dir' }]), /not a path inside/);
});

t.test("the agent's lines: every word base64, '-' for empty", async (t) => {
  t.equal(requestLine('s.1', ['cat', '/run/x y'], ''), `s.1 - ${Buffer.from('cat').toString('base64')} ${Buffer.from('/run/x y').toString('base64')}\n`);
  t.same(parseAnswer(`s.1 0 ${Buffer.from('out\n').toString('base64')} -`), { id: 's.1', exitCode: 0, stdout: 'out\n', stderr: '' });
  t.equal(parseAnswer('ready 6.1.0'), null);
  t.same(pingArgv('10.0.0.3', 300, 'busybox'), ['ping', '-q', '-c', '1', '-W', '1', '10.0.0.3'], "busybox's ping: whole seconds, no -n");
  t.same(pingArgv('10.0.0.3', 300, 'iputils'), ['ping', '-n', '-q', '-c', '1', '-W', '0.30', '10.0.0.3']);
});

t.test("a guest's network state from the files its kernel shows", async (t) => {
  const fib = 'Main:\n  +-- 10.0.0.0/24 2 0 2\n     |-- 10.0.0.2\n        /32 host LOCAL\nLocal:\n';
  const route = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\neth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n';
  const arp = 'IP address       HW type     Flags       HW address            Mask     Device\n10.0.0.1         0x1         0x2         fe:16:3e:00:00:01     *        eth0\n';
  t.same(vmStateFromTexts({ nic: 'eth0' }, ['fa:16:3e:00:00:02\n', fib, route, arp]), {
    mac: 'fa:16:3e:00:00:02',
    addresses: [{ ip: '10.0.0.2', prefixLength: 24 }],
    defaultGateway: '10.0.0.1',
    arp: { '10.0.0.1': 'fe:16:3e:00:00:01' },
    unresolved: [],
  });
  t.same(vmStateFromTexts({ nic: 'eth0' }, [null, null, null, null]).addresses, [], 'a guest not up yet: nothing');
});

/** A stand-in for a guest's end of the port: says ready, answers requests with `reply`. */
async function fakeGuest(t: Test, reply: (argv: string[], send: (line: string) => void, socket: Socket) => void): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flatlab-agent-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'agent.sock');
  const server = createServer((s) => {
    s.write('ready 6.1.0-test\n');
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const [id, , ...args] = buf.slice(0, nl).split(' ');
        buf = buf.slice(nl + 1);
        reply(args.map((a) => (a === '-' ? '' : Buffer.from(a, 'base64').toString())), (line) => s.write(`${id} ${line}\n`), s);
      }
    });
  });
  await new Promise<void>((r) => server.listen(path, r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return path;
}

const b64 = (s: string): string => (s ? Buffer.from(s).toString('base64') : '-');

t.test('the agent client: ready first, answers matched by id in any order, a bound on silence', async (t) => {
  const held: (() => void)[] = [];
  const path = await fakeGuest(t, (argv, send) => {
    if (argv[0] === 'slow') held.push(() => send(`0 ${b64('slow done')} -`));
    else if (argv[0] === 'silent') return;
    else {
      send(`3 ${b64(argv.join('|'))} ${b64('oops')}`);
      held.splice(0).forEach((f) => f());
    }
  });
  const agent = new GuestAgent('vm_1', path, async () => true);
  t.teardown(() => agent.close());
  t.equal(await agent.ready(), '6.1.0-test', "the guest's kernel, from its ready line");
  const slow = agent.exec(['slow']);
  const fast = await agent.exec(['echo', 'a b', '']);
  t.same([fast.exitCode, fast.stdout, fast.stderr], [3, 'echo|a b|', 'oops'], 'arguments arrive whole, empty ones too');
  t.equal((await slow).stdout, 'slow done', 'the earlier request answered after the later one');
  const silent = await agent.exec(['silent'], { timeoutMs: 50 });
  t.ok(silent.timedOut, 'no answer: timed out, not hung');
});

t.test('the agent client: a guest gone fails its waiters, a QEMU gone fails the wait for ready', async (t) => {
  const path = await fakeGuest(t, (_argv, _send, s) => s.destroy());
  const agent = new GuestAgent('vm_1', path, async () => true);
  t.teardown(() => agent.close());
  await t.rejects(agent.exec(['anything']), /connection ended/);
  const dead = new GuestAgent('vm_2', join(tmpdir(), 'flatlab-no-such-socket'), async () => false);
  await t.rejects(dead.ready(), /QEMU ended before its agent answered/);
});

t.test('vm guests on a backend that cannot hold them: said before anything is built', async (t) => {
  const p = planOf(VM_REFERENCE);
  const fake = { name: 'docker', createTopology: async () => undefined } as unknown as Parameters<typeof withVmGuests>[0];
  await t.rejects(withVmGuests(fake).createTopology(p), /guest: vm runs on the netns backend only/);
  const ns = planOf(REFERENCE);
  await t.resolves(withVmGuests(fake).createTopology(ns), 'namespace guests: as before');
});

t.test("under TCG the machine's TSC rate is on the guests' command line; under KVM it is not", async (t) => {
  const tcg = planOf(VM_REFERENCE, { tscKhz: 2096022 });
  const append = (p: typeof tcg) => p.vms[0]!.machine!.argv[p.vms[0]!.machine!.argv.indexOf('-append') + 1]!;
  t.match(append(tcg), / tsc_early_khz=2096022$/);
  t.notMatch(append(planOf(VM_REFERENCE)), /tsc_early_khz/, 'no rate known: the guest calibrates');
  t.notMatch(append(planOf(VM_REFERENCE, { tscKhz: 2096022, accel: 'kvm' })), /tsc_early_khz/, 'KVM: kvmclock');
});

t.test("nova's DHCP checksum-fill rule: multi_host dnsmasq nodes from 2013.1, where the host has /dev/vhost-net", async (t) => {
  const mangle = (p: Plan): string[] => p.nodes.map((n) => n.firewall.slice(n.firewall.indexOf('*mangle')).split('\n').filter((l) => l.startsWith('-A')).join(' | '));
  const rule = '-A POSTROUTING -j nova-network-POSTROUTING | -A nova-network-POSTROUTING -o br100 -p udp -m udp --dport 68 -j CHECKSUM --checksum-fill';
  t.same(mangle(planOf(VM_REFERENCE, { vhostNet: true })), [rule, rule], 'havana, multi_host: on each dnsmasq node');
  t.same(mangle(planOf(`release: grizzly\n${VM_REFERENCE}`, { vhostNet: true })), [rule, rule], 'grizzly');
  t.notOk(planOf(`release: folsom\n${VM_REFERENCE}`, { vhostNet: true }).nodes.some((n) => n.firewall.includes('*mangle')), 'folsom: no _add_dhcp_mangle_rule yet');
  t.notOk(planOf(VM_REFERENCE).nodes.some((n) => n.firewall.includes('CHECKSUM')), 'no /dev/vhost-net: nova added nothing');
  const single = planOf(VM_REFERENCE.replace('multi_host: true', 'multi_host: false').replace('compute1: {}', 'compute1: {role: network}'), { vhostNet: true });
  t.notOk(single.nodes.some((n) => n.firewall.includes('CHECKSUM')), 'not multi_host: restart_dhcp did not add it');
});
