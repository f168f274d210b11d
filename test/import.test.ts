/**
 * flatlab import: nova.conf (INI and Essex flagfile) -> a scenario that validates, with
 * every modelled option mapped at its line and every other listed; malformed files
 * are one error at their line.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { UserError } from '../src/errors.js';
import { parseNovaConf, maskedValue } from '../src/import/nova-conf.js';
import { parseNetworkCreate } from '../src/import/network-create.js';
import { parsePlacement } from '../src/import/placement.js';
import { importScenario } from '../src/import/to-scenario.js';
import { parseScenarioFile } from '../src/scenario/load.js';

const example = (f: string): string => readFileSync(new URL(`../examples/bug-report/${f}`, import.meta.url), 'utf8');
const conf = (f: string) => parseNovaConf(example(f), f);

const errorOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    if (err instanceof UserError) return err.lines.join('\n');
    throw err;
  }
  throw new Error('no error');
};

t.test('the post\'s nova.conf: INI and Essex flagfile give the same scenario', async (t) => {
  const ini = importScenario({ shared: [conf('nova.conf')], perNode: [] });
  const flag = importScenario({ shared: [conf('nova.flagfile')], perNode: [] });
  const strip = (s: string) => parse(s) as Record<string, unknown>;
  const a = strip(ini.text);
  const b = strip(flag.text);
  delete a.description;
  delete b.description;
  t.same(a, b);
  t.same(a.nova, {
    network_manager: 'nova.network.manager.FlatDHCPManager',
    fixed_range: '10.0.0.0/24',
    flat_network_bridge: 'br100',
    flat_injected: true,
    flat_interface: 'eth0',
  });
  // no multi_host: a controller runs nova-network for every node
  t.same(a.nodes, { controller: { role: 'network' }, compute1: {} });
  t.equal(Object.keys(a.vms as object).length, 4);
  t.match(ini.text, /fixed_range: 10\.0\.0\.0\/24 # nova\.conf:9/);
  t.match(flag.text, /flat_injected: true # nova\.flagfile:6/);
  t.match(ini.text, /ignored: nothing/);
  // nova accepted flat_injected beside FlatDHCPManager: built, with the loader's warning
  t.match(ini.warnings.join('\n'), /flat_injected/);
  t.ok(parseScenarioFile(ini.text, 'x.yaml').variants.length === 1);
});

t.test('per-node files: ignored options listed with secrets masked, differences per node', async (t) => {
  const out = importScenario({ shared: [], perNode: [{ node: 'controller', conf: conf('controller.conf') }, { node: 'compute1', conf: conf('compute.conf') }], vms: 'controller:1,compute1:1' });
  const s = parse(out.text) as { nova: Record<string, unknown>; nodes: Record<string, unknown> };
  t.equal(s.nova.multi_host, true);
  t.equal(s.nova.flat_interface, 'eth1');
  t.equal(s.nova.public_interface, 'eth0');
  t.same(s.nodes, { controller: {}, compute1: {} });
  const ignored = out.ignored.join('\n');
  t.match(ignored, /controller\.conf:5 sql_connection=mysql:\/\/nova:\*\*\*@172\.16\.99\.84\/nova/);
  t.match(ignored, /rabbit_password=\*\*\*/);
  t.match(ignored, /\[keystone_authtoken\] admin_password=\*\*\*/);
  t.match(ignored, /compute\.conf:\d+ vncserver_proxyclient_address=172\.16\.99\.95/);
  t.match(ignored, /my_ip=172\.16\.99\.84 \(no way out modelled/);
  t.match(ignored, /firewall_driver=.*IptablesFirewallDriver's chains, as this names/);
  t.notMatch(out.text, /s3cret|verysecret/);
  // each ignored line is in the written file's header
  for (const l of out.ignored) t.ok(out.text.includes(l), l);
  // with a way out, my_ip is mapped per node
  const ext = parse(importScenario({ shared: [], perNode: [{ node: 'controller', conf: conf('controller.conf') }, { node: 'compute1', conf: conf('compute.conf') }], external: '172.16.96.0/21' }).text) as { nodes: Record<string, { my_ip?: string }> };
  t.equal(ext.nodes.compute1!.my_ip, '172.16.99.95');
  // a per-node option the nodes disagree on goes under the node
  const eth2 = parseNovaConf(example('compute.conf').replace('flat_interface=eth1', 'flat_interface=eth2'), 'compute.conf');
  const het = parse(importScenario({ shared: [], perNode: [{ node: 'controller', conf: conf('controller.conf') }, { node: 'compute1', conf: eth2 }] }).text) as { nova: Record<string, unknown>; nodes: Record<string, { nova?: Record<string, unknown> }> };
  t.equal(het.nova.flat_interface, undefined);
  t.same(het.nodes.compute1!.nova, { flat_interface: 'eth2' });
  // a cluster-wide option they disagree on is named, and one value taken
  const cidr = parseNovaConf(example('compute.conf').replace('fixed_range=10.0.0.0/24', 'fixed_range=10.0.1.0/24'), 'compute.conf');
  const split = importScenario({ shared: [], perNode: [{ node: 'controller', conf: conf('controller.conf') }, { node: 'compute1', conf: cidr }] });
  t.match(split.notes.join('\n'), /fixed_range differs between nodes \(controller: 10\.0\.0\.0\/24, compute1: 10\.0\.1\.0\/24\)/);
  t.match(split.text, /# note: fixed_range differs/);
});

t.test('malformed files: exit-2 errors at file:line', async (t) => {
  t.match(errorOf(() => parseNovaConf('[DEFAULT]\nflat_interface eth0\n', 'n.conf')), /^n\.conf:2 expected "option = value"/);
  t.match(errorOf(() => parseNovaConf('flat_interface=eth0\n', 'n.conf')), /^n\.conf:1 flat_interface comes before any section/);
  t.match(errorOf(() => parseNovaConf('[DEFAULT\n', 'n.conf')), /^n\.conf:1 a section must end/);
  t.match(errorOf(() => parseNovaConf('--a=1\nb=2\n', 'f')), /^f:2 expected --option=value/);
  t.match(errorOf(() => parseNovaConf('[DEFAULT]\n  x\n', 'n.conf')), /^n\.conf:2 an indented line continues no option/);
  // a value the scenario refuses is reported at its nova.conf line
  const bad = parseNovaConf('[DEFAULT]\nfixed_range=10.0.0.0/24\nflat_interface=eth0!\n', 'n.conf');
  t.match(errorOf(() => importScenario({ shared: [bad], perNode: [] })), /^n\.conf:3 flat_interface=eth0!: is not a valid interface name/);
  const bool = parseNovaConf('[DEFAULT]\nfixed_range=10.0.0.0/24\nmulti_host=maybe\n', 'n.conf');
  t.match(errorOf(() => importScenario({ shared: [bool], perNode: [] })), /^n\.conf:3 multi_host: "maybe" is not a boolean/);
  const vlan = parseNovaConf('[DEFAULT]\nnetwork_manager=nova.network.manager.VlanManager\nfixed_range=10.0.0.0/24\n', 'n.conf');
  t.match(errorOf(() => importScenario({ shared: [vlan], perNode: [] })), /^n\.conf:2 network_manager=.*flat managers only.*VlanManager/);
  const none = parseNovaConf('[DEFAULT]\nflat_interface=eth0\n', 'n.conf');
  t.match(errorOf(() => importScenario({ shared: [none], perNode: [] })), /no fixed_range/);
  t.match(errorOf(() => parseNovaConf('a\0b', 'bin')), /^bin:1 is not a text file/);
});

t.test('Essex flagfile details: --noflag, // comments, continuation in INI', async (t) => {
  const f = parseNovaConf('// comment\n--multi_host\n--noallow_same_net_traffic\n--fixed_range=10.1.0.0/16\n', 'f');
  t.equal(f.style, 'flagfile');
  t.same(f.options.map((o) => [o.name, o.value, o.line]), [['multi_host', 'true', 2], ['allow_same_net_traffic', 'false', 3], ['fixed_range', '10.1.0.0/16', 4]]);
  const i = parseNovaConf('[DEFAULT]\n; c\nx: 1\nlong = a\n  b\n', 'i');
  t.same(i.options.map((o) => [o.name, o.value]), [['x', '1'], ['long', 'a\nb']]);
});

t.test("quoted values lose their quotes as nova's iniparser took them, in both forms", async (t) => {
  const i = parseNovaConf(`[DEFAULT]\nmulti_host = "True"\nflat_interface='eth1'\npublic_interface = "eth0'\nfixed_range = 10.0.0.0/24 # a comment is part of it\n`, 'q.conf');
  t.same(i.options.map((o) => o.value), ['True', 'eth1', `"eth0'`, '10.0.0.0/24 # a comment is part of it']);
  // and the import says so where that made a value wrong
  t.match(errorOf(() => importScenario({ shared: [parseNovaConf('[DEFAULT]\nnetwork_manager=nova.network.manager.FlatDHCPManager\nfixed_range = 10.0.0.0/24 # private\n', 'c.conf')], perNode: [] })), /^c\.conf:3 fixed_range=10\.0\.0\.0\/24 # private: .* \(nova's iniparser knew comment lines only: what follows a value on its line is part of the value\)$/);
  const f = parseNovaConf(`--multi_host='T'\n--flat_network_bridge="br100"\n`, 'q.flags');
  t.same(f.options.map((o) => o.value), ['T', 'br100'], 'Essex wrote the flagfile out as INI for the same parser');
  // what the scenario then holds: a boolean nova read as true, an interface name without quotes
  const s = importScenario({ shared: [parseNovaConf('[DEFAULT]\nnetwork_manager = nova.network.manager.FlatDHCPManager\nmulti_host = "True"\nfixed_range = "10.0.0.0/24"\nflat_interface = "eth1"\n', 'q.conf')], perNode: [] });
  const nova = (parse(s.text) as { nova: Record<string, unknown> }).nova;
  t.equal(nova.multi_host, true);
  t.equal(nova.flat_interface, 'eth1');
  t.equal(nova.fixed_range, '10.0.0.0/24');
});

t.test("a real guide's file: the Grizzly admin guide's fixed_range='' needs the network create line, and Folsom refused it", async (t) => {
  const text = readFileSync(new URL('../examples/admin-guide-grizzly/nova.conf', import.meta.url), 'utf8');
  const file = parseNovaConf(text, 'nova.conf');
  t.equal(file.options.find((o) => o.name === 'fixed_range')?.value, '', 'the quotes are gone: an empty option');
  t.match(errorOf(() => importScenario({ shared: [file], perNode: [], release: 'grizzly' })), /^nova\.conf:13 fixed_range is empty: .*--network-create/);
  const line = "nova-manage network create --label=private --fixed_range_v4=10.0.0.0/24 --multi_host='T'";
  const out = importScenario({ shared: [file], perNode: [], release: 'grizzly', networkCreate: line, external: '203.0.113.0/24', vms: 'compute1:2,compute2:2' });
  t.match(out.text, /fixed_range: "" # nova\.conf:13/);
  t.match(out.text, /multi_host: true # --network-create:1:73/);
  t.match(out.ignored.join('\n'), /xenapi_vif_driver.*\n.*dhcpbridge_flagfile.*\n.*force_dhcp_release.*\n.*send_arp_for_ha.*\n.*Dom0IptablesFirewallDriver \(not modelled/);
  const scenario = parseScenarioFile(out.text, 'guide.yaml').scenario;
  t.same([scenario.nova.flat_network_bridge, scenario.nova.flat_interface, scenario.nova.public_interface, scenario.network.cidr], ['xenbr2', 'eth1', 'eth3', '10.0.0.0/24']);
  t.match(errorOf(() => importScenario({ shared: [file], perNode: [], release: 'folsom', networkCreate: line })), /nova\.conf:13 fixed_range=: an empty fixed_range is taken from 2013\.1 on/);
});

t.test('network create lines and placements', async (t) => {
  const positional = parseNetworkCreate('nova-manage network create private 10.0.0.0/24 1 256');
  t.same({ label: positional.label, cidr: positional.cidr, ignored: positional.ignored }, { label: 'private', cidr: '10.0.0.0/24', ignored: ['--num_networks=1', '--network_size=256'] });
  t.equal(positional.columns.fixed_range_v4, 36, 'each option keeps its column in the pasted line');
  const c = parseNetworkCreate("$ sudo nova-manage network create --label=private --fixed_range_v4=10.0.0.0/24 --bridge br100 --multi_host=T --bridge_interface=eth1");
  t.equal(c.cidr, '10.0.0.0/24');
  t.equal(c.multiHost, true);
  t.equal(c.bridgeInterface, 'eth1');
  t.match(errorOf(() => parseNetworkCreate('nova-manage floating create 1.2.3.0/24')), /expected a "nova-manage network create/);
  // the CIDR from the pasted line when nova.conf has none
  const noRange = parseNovaConf('[DEFAULT]\nflat_interface=eth0\n', 'n.conf');
  const s = parse(importScenario({ shared: [noRange], perNode: [], networkCreate: 'nova-manage network create --label=private --fixed_range_v4=10.9.0.0/24 --multi_host=T' }).text) as { nova: Record<string, unknown>; nodes: object };
  // the pasted line made the network; nova.conf's fixed_range (here none) is the option beside it
  t.equal((s as unknown as { network: { cidr: string } }).network.cidr, '10.9.0.0/24');
  t.equal(s.nova.fixed_range, undefined);
  t.equal(s.nova.multi_host, true);
  t.same(Object.keys(s.nodes), ['compute1', 'compute2']);
  t.same(parsePlacement('compute1:2,web@compute2'), [{ vm: 'vm_1', node: 'compute1' }, { vm: 'vm_2', node: 'compute1' }, { vm: 'web', node: 'compute2' }]);
  t.match(errorOf(() => parsePlacement('compute1=2')), /neither NODE:COUNT nor VM@NODE/);
  t.match(errorOf(() => parsePlacement('a@n1,a@n2')), /a is placed twice/);
  t.match(errorOf(() => importScenario({ shared: [noRange], perNode: [{ node: 'n1', conf: noRange }], vms: 'n2:1' })), /n2 is not one of the --node names/);
  t.equal(maskedValue('sql_connection', 'mysql://u:p@h/db'), 'mysql://u:***@h/db');
});

t.test('a flagfile says which releases read it', async (t) => {
  t.match(importScenario({ shared: [conf('nova.flagfile')], perNode: [] }).notes.join('\n'), /flagfile, which nova read until Folsom .*--release essex or folsom/);
  t.notMatch(importScenario({ shared: [conf('nova.flagfile')], perNode: [], release: 'essex' }).notes.join('\n'), /flagfile/);
  t.match(importScenario({ shared: [conf('nova.flagfile')], perNode: [], release: 'essex' }).text, /^release: essex$/m);
});

t.test('the default nodes follow the multi_host nova read: the last [DEFAULT] assignment', async (t) => {
  const nodesOf = (text: string) => Object.keys((parse(importScenario({ shared: [parseNovaConf(text, 'n.conf')], perNode: [] }).text) as { nodes: object }).nodes);
  t.same(nodesOf('[DEFAULT]\nfixed_range=10.0.0.0/24\nmulti_host=True\n'), ['compute1', 'compute2']);
  t.same(nodesOf('[DEFAULT]\nfixed_range=10.0.0.0/24\nmulti_host=True\nmulti_host=False\n'), ['controller', 'compute1'], 'a later False wins');
  t.same(nodesOf('[DEFAULT]\nfixed_range=10.0.0.0/24\n[other]\nmulti_host=True\n'), ['controller', 'compute1'], 'another section is not [DEFAULT]');
});

t.test('pasted material: shell quotes, the option beside the network, an empty fixed_range, nat options, nodes without VMs', async (t) => {
  // the shell took the quotes before nova-manage compared multi_host == 'T'
  t.equal(parseNetworkCreate("nova-manage network create --label=private --fixed_range_v4=10.0.0.0/24 --multi_host='T' --bridge=br100").multiHost, true);
  t.equal(parseNetworkCreate('nova-manage network create --multi_host="T" --fixed_range_v4=10.0.0.0/24').multiHost, true);
  t.equal(parseNetworkCreate("nova-manage network create --multi_host=t --fixed_range_v4=10.0.0.0/24").multiHost, false, "nova's == 'T' is exact");
  t.equal(parseNetworkCreate("nova-manage network create --label='my net' --fixed_range_v4=10.0.0.0/24").label, 'my net');
  t.match(errorOf(() => parseNetworkCreate("nova-manage network create --label='open")), /--network-create:1:\d+ a quote/);

  // a Folsom guide: fixed_range=10.0.0.0/24 in nova.conf, the network created as 192.168.100.0/24
  const guide = parseNovaConf('[DEFAULT]\nnetwork_manager=nova.network.manager.FlatDHCPManager\nfixed_range=10.0.0.0/24\nflat_interface=eth1\npublic_interface=eth0\nrouting_source_ip=$my_ip\ndmz_cidr=10.128.0.0/24, 169.254.0.0/16\n', 'guide.conf');
  const r = importScenario({ shared: [guide], perNode: [], release: 'folsom', networkCreate: "nova-manage network create private --fixed_range_v4=192.168.100.0/24 --multi_host='T' --bridge=br100" });
  const y = parse(r.text) as { nova: Record<string, unknown>; network: Record<string, unknown> };
  t.equal(y.nova.fixed_range, '10.0.0.0/24', 'the option stays the option');
  t.equal(y.network.cidr, '192.168.100.0/24', 'the network is what nova-manage made');
  t.same(y.nova.dmz_cidr, ['10.128.0.0/24', '169.254.0.0/16']);
  t.equal(y.nova.routing_source_ip, undefined, '$my_ip is nova\'s default');
  t.match(r.text, /cidr: 192\.168\.100\.0\/24 # --network-create:1:\d+/, 'annotated with the pasted line and column');
  t.match(r.text, /fixed_range: 10\.0\.0\.0\/24 # guide\.conf:3/);
  t.match(r.notes.join('\n'), /fixed_range=10\.0\.0\.0\/24 \(guide\.conf:3\) is not the network 192\.168\.100\.0\/24/);

  // devstack: fixed_range = (empty), the network from --network-create
  const devstack = parseNovaConf('[DEFAULT]\nnetwork_manager = nova.network.manager.FlatDHCPManager\nfixed_range =\n', 'devstack.conf');
  t.match(errorOf(() => importScenario({ shared: [devstack], perNode: [] })), /devstack\.conf:3 fixed_range is empty: .*--network-create/);
  const d = parse(importScenario({ shared: [devstack], perNode: [], release: 'grizzly', networkCreate: 'nova-manage network create private 10.0.0.0/24 1 256' }).text) as { nova: Record<string, unknown>; network: Record<string, unknown> };
  t.equal(d.nova.fixed_range, '');
  t.equal(d.network.cidr, '10.0.0.0/24');

  // a CIDR with host bits, as Essex-era guides wrote it: nova took it, with a warning
  const bits = parseNovaConf('[DEFAULT]\nfixed_range=172.31.248.32/23\nmulti_host=True\n', 'bits.conf');
  const b = importScenario({ shared: [bits], perNode: [] });
  t.match(b.warnings.join('\n'), /bits\.conf:2 fixed_range=172\.31\.248\.32\/23: warning: .*host bits.*172\.31\.248\.0\/23/);

  // the network host of a single-host cluster: named, no VM, kept, and it is the network host
  const ctl = parseNovaConf('[DEFAULT]\nfixed_range=10.0.0.0/24\nmulti_host=False\n', 'ctl.conf');
  const cmp = parseNovaConf('[DEFAULT]\nfixed_range=10.0.0.0/24\nmulti_host=False\n', 'cmp.conf');
  const single = importScenario({ shared: [], perNode: [{ node: 'controller', conf: ctl }, { node: 'compute01', conf: cmp }], vms: 'compute01:2' });
  const n = parse(single.text) as { nodes: Record<string, { role?: string }> };
  t.same(Object.keys(n.nodes), ['controller', 'compute01']);
  t.equal(n.nodes.controller!.role, 'network');
  t.match(single.notes.join('\n'), /controller is the network host .*the node given without VMs/);
});
