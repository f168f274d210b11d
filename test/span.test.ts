/** A lab over several engines: placement, the VXLAN's commands, the engine and underlay flags, placement: in a scenario. */
import t from 'tap';
import { parseScenario, parseScenarioFile, checkPlacement } from '../src/scenario/load.js';
import { plan } from '../src/plan/plan.js';
import { placeNodes, planSpan, vniFor, vxlanCommands, SEGMENT_MTU } from '../src/plan/span.js';
import { parseUnderlay } from '../src/backend/docker/span-fabric.js';
import { engineAddress } from '../src/backend/docker/engine.js';
import { backendOptionsOf } from '../src/cli/commands/shared.js';
import { createBackend } from '../src/backend/registry.js';
import { UserError } from '../src/errors.js';
import { REFERENCE, errorsOf } from './helpers.js';
import { egressFlow, vmFlow } from '../src/diagnose/flow.js';
import { explainGap } from '../src/diagnose/verdict.js';
import { assetsIn } from '../src/assets.js';

const OPTS = { runId: 'abc123', runtimeRoot: '/run/flatlab', assets: assetsIn('/opt/flatlab/assets') };

t.test('nodes are spread evenly, a placement is kept, the same every time', async (t) => {
  t.same(placeNodes(['c1', 'c2', 'c3', 'c4', 'c5'], ['a', 'b']), { c1: 'a', c2: 'b', c3: 'a', c4: 'b', c5: 'a' });
  t.same(placeNodes(['c1', 'c2', 'c3'], ['a', 'b'], { c1: 'b' }), { c1: 'b', c2: 'a', c3: 'a' }, 'the placed node counts before the others are spread');
  t.same(placeNodes(['c1', 'c2', 'c3', 'c4'], ['a', 'b', 'c'], { c4: 'a', c3: 'a' }), { c3: 'a', c4: 'a', c1: 'b', c2: 'c' });
  t.same(placeNodes(['c1'], ['a', 'b']), { c1: 'a' });
});

t.test('one VNI per run, the public segment another', async (t) => {
  t.equal(vniFor('abc123', 0), 0x2bc123);
  t.equal(vniFor('abc123', 1), 0xabc123);
  t.not(vniFor('000000', 0), 0, 'never VNI 0');
  t.not(vniFor('123456', 0), vniFor('123457', 0));
});

t.test('on one engine there is no span, and the plan is the one-machine plan', async (t) => {
  const one = plan(parseScenario(REFERENCE), { ...OPTS, engines: ['a'] });
  const none = plan(parseScenario(REFERENCE), OPTS);
  t.equal(one.span, null);
  t.same(one, none);
  t.same(one.wiring.sites, {});
  t.ok(one.nodes.every((n) => n.fabricNetns === one.fabric.netns));
});

t.test('two engines: compute2 behind its engine\'s share of the fabric', async (t) => {
  const p = plan(parseScenario(REFERENCE), { ...OPTS, engines: ['a', 'b'] });
  t.same(p.span!.placement, { compute1: 'a', compute2: 'b' });
  t.same(p.span!.sites, [{ engine: 'b', netns: 'fl-abc123-fabric-b', nodes: ['compute2'] }]);
  t.same(p.span!.segments, [{ bridge: 'fabric', vni: 0x2bc123, dev: 'vxabc123' }]);
  t.equal(p.nodes.find((n) => n.name === 'compute2')!.fabricNetns, 'fl-abc123-fabric-b');
  t.equal(p.nodes.find((n) => n.name === 'compute1')!.fabricNetns, 'fl-abc123-fabric');
  const share = p.wiring.sites['fl-abc123-fabric-b']!;
  t.match(share[0], /^link add name fabric type bridge/, 'the share has the fabric bridge');
  t.ok(share.some((l) => /link add name compute2 type veth peer name eth0 .*netns fl-abc123-compute2$/.test(l)), 'compute2\'s port is in its share');
  t.notOk(p.wiring.fabric.some((l) => / compute2 /.test(l) || /name compute2 /.test(l)), 'and not in the plan\'s fabric');
  t.ok(p.wiring.fabric.some((l) => /link add name compute1 /.test(l)));
  t.ok(p.wiring.namespaces.includes('fl-abc123-fabric-b'), 'the share gets the namespaces\' sysctls');
});

t.test('a fault on the remote node acts in its engine\'s share', async (t) => {
  const text = `${REFERENCE}faults: [{type: nic-promisc-deny, node: compute2}]\n`;
  const p = plan(parseScenario(text), { ...OPTS, engines: ['a', 'b'] });
  t.ok(p.faults[0]!.actions.every((a) => a.kind === 'exec' && a.target === 'fl-abc123-fabric-b'));
  const home = plan(parseScenario(text), OPTS);
  t.ok(home.faults[0]!.actions.every((a) => a.kind === 'exec' && a.target === 'fl-abc123-fabric'));
});

t.test('a public segment gets its own VXLAN', async (t) => {
  const text = REFERENCE.replace('  flat_interface: eth0\n', '  flat_interface: eth0\n  public_interface: eth1\n') + 'external: {cidr: 192.168.50.0/24}\n';
  const p = plan(parseScenario(text), { ...OPTS, engines: ['a', 'b'] });
  t.same(p.span!.segments.map((s) => s.dev), ['vxabc123', 'vxabc123p']);
  const share = p.wiring.sites['fl-abc123-fabric-b']!;
  t.ok(share.some((l) => /^link add name public type bridge/.test(l)));
  t.ok(share.some((l) => /master public up$/.test(l)), 'compute2\'s public NIC is on the share\'s public bridge');
});

t.test('placement: in a scenario', async (t) => {
  const text = `${REFERENCE}placement: {compute1: b}\n`;
  const p = plan(parseScenario(text), { ...OPTS, engines: ['a', 'b'] });
  t.same(p.span!.placement, { compute1: 'b', compute2: 'a' });
  t.same(plan(parseScenario(text), OPTS).span, null, 'ignored on one machine');
  t.match(errorsOf(`${REFERENCE}placement: {compute9: b}\n`), [/x\.yaml:\d+:\d+ placement\.compute9: no node "compute9"/]);
  t.match(errorsOf(`${REFERENCE}placement: {compute1: Engine-B}\n`), [/placement\.compute1: an engine name/]);
  const loaded = { file: 'scenarios/x.yaml', source: text, ...parseScenarioFile(text, 'scenarios/x.yaml') };
  t.doesNotThrow(() => checkPlacement(loaded, ['a', 'b']));
  t.doesNotThrow(() => checkPlacement(loaded, []), 'not checked on one machine');
  t.throws(() => checkPlacement(loaded, ['a', 'c']), { message: /x\.yaml:16:23 placement\.compute1: no engine "b" \(engines given: a, c\)/ });
});

t.test('the VXLAN: made in the underlay, moved, flood list to the others, MTU from the underlay', async (t) => {
  const seg = { bridge: 'fabric', vni: 42, dev: 'vxabc123' };
  const c = vxlanCommands(seg, 4789, { address: '10.250.0.1', underlayMtu: 1550 }, [{ address: '10.250.0.2', underlayMtu: 1550 }], 'fl-abc123-fabric');
  t.same(c.underlay, ['link add name vxabc123 type vxlan id 42 local 10.250.0.1 dstport 4789 learning', 'link set dev vxabc123 netns fl-abc123-fabric']);
  t.same(c.fabric, ['link set dev vxabc123 mtu 1500 master fabric up']);
  t.same(c.fdb, [['fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxabc123', 'dst', '10.250.0.2']]);
  t.equal(c.mtu, SEGMENT_MTU);
  const small = vxlanCommands(seg, 4789, { address: '10.250.0.1', underlayMtu: 1500 }, [{ address: '10.250.0.2', underlayMtu: 9000 }, { address: '10.250.0.3', underlayMtu: 1500 }], '4242');
  t.equal(small.mtu, 1450, 'the smallest underlay decides');
  t.equal(small.fdb.length, 2, 'one flood entry per other machine');
  t.equal(small.underlay[1], 'link set dev vxabc123 netns 4242', 'a PID where the share is a container of another engine');
  t.same(planSpan('abc123', ['c1'], { bridge: 'fabric', publicBridge: null }, ['a']), null);
});

t.test('the underlay is read from ip -j route get and ip -j link', async (t) => {
  const text = '[{"dst":"10.250.0.1","dev":"ul-b","prefsrc":"10.250.0.2","flags":[],"uid":0,"cache":[]}]\n[{"ifindex":1,"ifname":"lo","mtu":65536},{"ifindex":2,"ifname":"ul-b","mtu":1550}]\n';
  t.same(parseUnderlay(text, '10.250.0.1'), { address: '10.250.0.2', underlayMtu: 1550 });
  t.throws(() => parseUnderlay('[]\n[]', '10.9.9.9'), /no route to 10\.9\.9\.9/);
});

t.test('engine URLs as the docker CLI reads them', async (t) => {
  t.same(engineAddress('unix:///run/flatlab-engine-b/docker.sock', {}), { socketPath: '/run/flatlab-engine-b/docker.sock' });
  t.same(engineAddress('tcp://10.0.0.9:2375', {}), { host: '10.0.0.9', port: 2375, protocol: 'http' });
  t.same(engineAddress('tcp://engine-b', {}), { host: 'engine-b', port: 2375, protocol: 'http' });
  t.same(engineAddress('tcp://engine-b', { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs' }), { host: 'engine-b', port: 2376, protocol: 'https', certPath: '/certs' });
  t.same(engineAddress('tcp://[fd00::9]:2376', { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/c' }), { host: 'fd00::9', port: 2376, protocol: 'https', certPath: '/c' });
  t.same(engineAddress('tcp://b:2376', { DOCKER_CERT_PATH: '/c' }), { host: 'b', port: 2376, protocol: 'http' }, 'a cert path alone turns no TLS on (as the docker CLI)');
  t.match(engineAddress('tcp://b', { DOCKER_TLS_VERIFY: '1' }), { certPath: /\.docker$/ }, 'the files default to ~/.docker');
  for (const bad of ['ssh://me@', 'ssh://a b', 'http://b:2375', 'unix://run/docker.sock', 'tcp://', 'b']) t.throws(() => engineAddress(bad, {}), UserError, bad);
});

t.test('--engine and --underlay are checked before anything runs', async (t) => {
  t.same(backendOptionsOf({}), {});
  t.same(backendOptionsOf({ engine: ['a=unix:///var/run/docker.sock', 'b=tcp://b:2375'], underlay: 'flatlab-underlay-a@10.250.0.1' }), {
    engines: [
      { name: 'a', url: 'unix:///var/run/docker.sock' },
      { name: 'b', url: 'tcp://b:2375' },
    ],
    underlay: 'flatlab-underlay-a@10.250.0.1',
  });
  t.throws(() => backendOptionsOf({ engine: ['a=unix:///x', 'a=unix:///y'] }), /"a" is given twice/);
  t.throws(() => backendOptionsOf({ engine: ['=unix:///x'] }), /expected NAME=URL/);
  t.throws(() => backendOptionsOf({ engine: ['Big=unix:///x'] }), /expected NAME=URL/);
  t.throws(() => backendOptionsOf({ engine: ['a'] }), /expected NAME=URL/);
  t.throws(() => backendOptionsOf({ engine: ['a=unix:///x'], underlay: 'u' }), /give two or more --engine/);
  t.throws(() => backendOptionsOf({ engine: ['a=unix:///x', 'b=unix:///y'], underlay: 'u@999.1.1.1' }), /an IPv4 address/);
  t.throws(() => backendOptionsOf({ engine: ['a=unix:///x', 'b=unix:///y'], underlay: '../etc' }), /a network namespace name/);
  t.throws(() => createBackend('netns', { engines: [{ name: 'a', url: 'unix:///x' }] }), /use them with --backend docker/);
  t.throws(() => createBackend('docker', { engines: [{ name: 'a', url: 'ftp://x' }] }), UserError);
  // an ssh engine whose host key is not known is refused before anything connects
  t.throws(() => createBackend('docker', { engines: [{ name: 'a', url: 'ssh://root@flatlab-unknown.invalid' }] }), /flatlab-unknown\.invalid is not in \S*known_hosts/);
});

t.test('a flow between engines crosses the VXLAN of each share; within a share it does not', async (t) => {
  const p = plan(parseScenario(REFERENCE), { ...OPTS, engines: ['a', 'b'] });
  const across = vmFlow(p, 'vm_1', 'vm_3', 'icmp').hops.map((h) => `${h.label} @ ${h.target}`);
  t.same(across.slice(3, 7), ['fabric port compute1 @ fl-abc123-fabric', 'VXLAN vxabc123 on engine a @ fl-abc123-fabric', 'VXLAN vxabc123 on engine b @ fl-abc123-fabric-b', 'fabric port compute2 @ fl-abc123-fabric-b']);
  t.notOk(vmFlow(p, 'vm_1', 'vm_2', 'icmp').hops.some((h) => h.across), 'same node: no VXLAN');
  t.notOk(vmFlow(plan(parseScenario(REFERENCE), OPTS), 'vm_1', 'vm_3', 'icmp').hops.some((h) => h.across), 'one machine: no VXLAN');
  const ext = REFERENCE.replace('  flat_interface: eth0\n', '  flat_interface: eth0\n  public_interface: eth1\n') + 'external: {cidr: 192.168.50.0/24}\n';
  const pe = plan(parseScenario(ext), { ...OPTS, engines: ['a', 'b'] });
  const out = egressFlow(pe, 'vm_3').hops;
  t.same(out.filter((h) => h.across).map((h) => `${h.label} @ ${h.target}`), ['VXLAN vxabc123p on engine b @ fl-abc123-fabric-b', 'VXLAN vxabc123p on engine a @ fl-abc123-fabric'], 'compute2 out to the external host over the public segment\'s VXLAN');
  const [va, vb] = vmFlow(p, 'vm_1', 'vm_3', 'icmp').hops.filter((h) => h.across);
  const text = explainGap({ drops: [], nodes: {} } as unknown as Parameters<typeof explainGap>[0], va!, vb!, 'ARP request');
  t.equal(text, `the ARP request left engine a on vxabc123 (VNI ${0x2bc123}) and never arrived on engine b: lost on the underlay between the engines (no flood entry or learnt address for the other machine, the underlay's route, firewall or MTU), not in anything nova built`);
});

t.test('an engine whose containers run on another machine is refused at preflight, by its own account of its host', async (t) => {
  const { elsewhereProblem } = await import('../src/backend/docker/engine.js');
  const here = { hostname: 'vm', kernel: '6.1.0-18-amd64' };
  t.equal(elsewhereProblem({ Name: 'vm', KernelVersion: '6.1.0-18-amd64' }, here), null, 'an engine in a namespace of this machine');
  t.equal(elsewhereProblem({}, here), null, 'an engine that does not say');
  t.match(elsewhereProblem({ Name: 'rack7-node3', KernelVersion: '5.15.0-91-generic' }, here), /^runs its containers on another machine \(its host is "rack7-node3", this machine is "vm"; its kernel is 5\.15\.0-91-generic, this machine's 6\.1\.0-18-amd64\)$/);
  t.match(elsewhereProblem({ Name: 'dind', KernelVersion: '6.1.0-18-amd64' }, here), /its host is "dind"/, 'a daemon in a container of its own: its PIDs are not ours either');
});
