/**
 * nova's own tests as the oracle. test/fixtures/nova-conformance.json holds, per tag
 * (2012.1, 2012.2, 2013.1, 2013.2), what nova's unit tests assert about flat networking:
 * the test, its line, strings quoted from it and the asserted value in flatlab's
 * vocabulary. Each case is translated here into a scenario, planned under the tag's
 * release, and what flatlab would build is held against it. A cell is
 *   equal           the value, as it is;
 *   equal*          equal after the named normalisations (names, paths, ids the test chose);
 *   not expressible what flatlab deliberately does not model, and why (README: not modelled);
 *   -               the test is not in nova at that tag;
 *   DIFFERENT       a difference: the suite fails.
 * With FLATLAB_NOVA_REPO naming a git directory of openstack/nova (with its tags), every
 * quoted string must be in the test file at its tag and the test must start at its line;
 * without it that half is skipped, saying why.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { MATRIX, type Release } from '../src/nova/releases.js';
import { COMPUTE_LOCAL, DHCP_DISCOVER_ACCEPT, PROVIDER_CHAIN, instanceChain } from '../src/nova/iptables.js';
import { LAB_ONLY_DNSMASQ_OPTIONS } from '../src/plan/dnsmasq.js';
import { plan } from '../src/plan/plan.js';
import type { NodePlan, Plan } from '../src/plan/types.js';
import { parseScenario } from '../src/scenario/load.js';
import { assetsIn } from '../src/assets.js';

interface AtTag {
  file?: string;
  test?: string;
  line?: number;
  quotes?: string[];
  expected?: unknown;
  notExpressible?: string;
  unexpressed?: string;
  absent?: string;
}
interface Case {
  id: string;
  covers: string;
  at: Record<string, AtTag>;
}
const DATA = JSON.parse(readFileSync(new URL('fixtures/nova-conformance.json', import.meta.url), 'utf8')) as { cases: Case[] };
const TAGS = ['2012.1', '2012.2', '2013.1', '2013.2'] as const;
const RELEASE: Record<(typeof TAGS)[number], Release> = { '2012.1': 'essex', '2012.2': 'folsom', '2013.1': 'grizzly', '2013.2': 'havana' };
const OPTS = { runId: 'c0ffee', runtimeRoot: '/run/flatlab', assets: assetsIn('/opt/flatlab/assets') };

const planOf = (yaml: string): Plan => plan(parseScenario(yaml), OPTS);
const firewallLines = (n: NodePlan): string[] => n.firewall.split('\n');

/** What flatlab builds for a case at a release, with the normalisations that make it comparable. */
interface Translation {
  observed: unknown;
  /** the expected value after the normalisations (nova's test's own names replaced) */
  expected?: unknown;
  normalisations: string[];
  /** compare as "every expected item is among the observed" (nova's `line in new_lines`) */
  subset?: boolean;
}
type Translator = (release: Release, expected: unknown) => Translation;

const singleHost = (release: Release, extra = '', network = '{cidr: 192.168.0.0/24}'): string =>
  `name: c\nrelease: ${release}\nnova: {network_manager: nova.network.manager.FlatDHCPManager, multi_host: false, flat_interface: eth1${extra}}\nnetwork: ${network}\nnodes: {net: {role: network}, c1: {}}\n`;
/** a multi_host node with a way out; `nova` adds options (`, key: value`), over eth0 flat and eth1 public */
const multiHost = (release: Release, nova: string, network: string, vms = 'vms: {a: {host: c1}}\n'): string => {
  const defaults = ['flat_interface: eth0', 'public_interface: eth1'].filter((d) => !nova.includes(`${d.split(':')[0]}:`));
  return `name: c\nrelease: ${release}\nnova: {network_manager: nova.network.manager.FlatDHCPManager, multi_host: true${defaults.map((d) => `, ${d}`).join('')}${nova}}\nnetwork: ${network}\nexternal: {cidr: 203.0.113.0/24}\nnodes: {c1: {}}\n${vms}`;
};

/** the test's fixture names a MAC upper-case and a hostname nova's sanitize_hostname would have changed */
const hostLine = (line: string): string => line.replace(/^([0-9A-F:]{17})/, (m) => m.toLowerCase()).replace('fake_instance00', 'fake-instance00');
const HOST_NORMALISATIONS = ['MAC lower-case (flatlab writes MACs as Linux prints them)', 'hostname fake-instance00: the test sets the hostname column to fake_instance00 itself; nova.hostname.sanitize_hostname (flatlab) turns "_" into "-"'];

/** dnsmasq's command line as nova ran it: env, variables, dnsmasq, argv without flatlab's own options, paths by base name */
function dnsmasqCommand(p: Plan): string[] {
  const d = p.nodes.find((n) => n.dhcp)!.dhcp!;
  const env = Object.entries(d.env).filter(([k]) => !k.startsWith('FLATLAB_')).map(([k, v]) => `${k}=${v}`);
  const argv = d.argv
    .filter((a) => !LAB_ONLY_DNSMASQ_OPTIONS.some((o) => (o === '--no-resolv' ? false : a === o || a.startsWith(`${o}=`))))
    .map((a) => a.replace(/^(--[\w-]+=)\/\S*\/([^/]+)$/, '$1$2'));
  // --no-resolv is flatlab's own only where nova passed no servers (dnsmasq.ts)
  const servers = argv.some((a) => a.startsWith('--server='));
  return ['env', ...env, 'dnsmasq', ...argv.filter((a) => servers || a !== '--no-resolv')];
}
const DNSMASQ_NORMALISATIONS = [
  "NETWORK_ID=fake: the test's network id; flatlab's network is 1",
  "dhcp_start 1.0.0.2: the test's fixture lies outside its own cidr, which flatlab refuses; planned with 10.0.0.2",
  'paths by base name (nova: $state_path/networks, $bindir/nova-dhcpbridge; flatlab: its run directory, its dhcpbridge stand-in)',
  "flatlab's own options left out (--keep-in-foreground, --log-dhcp, --log-facility, --no-resolv where nova passed no servers: dnsmasq.ts)",
];
function dnsmasqCase(extra: string): Translator {
  return (release, expected) => {
    const p = planOf(singleHost(release, extra, '{cidr: 10.0.0.0/24, label: fake, dhcp_start: 10.0.0.2}'));
    const cmd = dnsmasqCommand(p).map((a) => a.replace(/^NETWORK_ID=1$/, 'NETWORK_ID=fake'));
    return { observed: cmd, expected: (expected as string[]).map((a) => a.replace('1.0.0.2', '10.0.0.2')), normalisations: DNSMASQ_NORMALISATIONS };
  };
}

const natLines = (p: Plan): string[] => {
  const fw = firewallLines(p.nodes[0]!);
  return fw.slice(fw.indexOf('*nat')).filter((l) => l.startsWith('-A nova-network-'));
};

const TRANSLATE: Record<string, Translator> = {
  'host-dhcp-line': (release, expected) => {
    const p = planOf(singleHost(release) + 'vms: {fake_instance00: {host: c1, mac: "DE:AD:BE:EF:00:00", ip: 192.168.0.100}}\n');
    return { observed: p.nodes.find((n) => n.dhcp)!.dhcp!.hostsFileText.trim(), expected: hostLine(expected as string), normalisations: HOST_NORMALISATIONS };
  },
  'dhcp-hosts-file': (release, expected) => {
    const p = planOf(singleHost(release, ', use_single_default_gateway: true') + 'vms: {fake_instance00: {host: c1, mac: "DE:AD:BE:EF:00:00", ip: 192.168.0.100}}\n');
    const d = p.nodes.find((n) => n.dhcp)!.dhcp!;
    return {
      observed: d.hostsFileText.trim().replace(/,net:NW-1$/, ',net:NW-0'),
      expected: hostLine(expected as string),
      normalisations: [...HOST_NORMALISATIONS, `NW-0: the test's virtual_interfaces.id; flatlab numbers a lab's VIFs like its instances, from 1 (NW-1 here), and passes --dhcp-optsfile=${d.optsFile ? 'nova-br100.opts' : 'NONE'} with no line (one network: no router to blank)`],
    };
  },
  'isolated-host': (release, expected) => {
    const p = planOf(multiHost(release, ', share_dhcp_address: true', '{cidr: 192.168.1.0/24}'));
    const n = p.nodes[0]!;
    const e = expected as { ebtables: string[][]; forward: string[] };
    return {
      observed: { ebtables: n.novaEbtables, forward: firewallLines(n).filter((l) => l.includes('-m physdev')) },
      expected: { ebtables: e.ebtables, forward: e.forward.map((l) => l.replace('-A test-FORWARD', '-A nova-network-FORWARD')) },
      normalisations: [
        "ensure_ebtables_rules' -D before each -I left out (it deletes a rule that may be there; a fresh node has none)",
        "nova-network-FORWARD for the test's binary 'test'",
        'the network 192.168.1.0/24 whose gateway is the shared address (the test passes dhcp_server 192.168.1.1 itself)',
      ],
    };
  },
  'host-dns-line': (release, expected) => {
    const p = planOf(multiHost(release, '', '{cidr: 192.168.0.0/24}', 'vms: {fake_instance00: {host: c1, mac: "de:ad:be:ef:00:00", ip: 192.168.0.100}}\n'));
    return { observed: p.nodes[0]!.dhcp!.addnHostsText.trim(), expected: hostLine(expected as string), normalisations: HOST_NORMALISATIONS.slice(1) };
  },
  'dnsmasq-execute': dnsmasqCase(''),
  'dnsmasq-dns-servers': dnsmasqCase(', dns_server: [1.1.1.1, 2.2.2.2]'),
  'dnsmasq-network-dns': dnsmasqCase(', use_network_dns_servers: true'),
  'add-snat-rule': (release) => ({
    observed: natLines(planOf(multiHost(release, ', public_interface: eth0, flat_interface: eth1, routing_source_ip: 10.10.10.1', '{cidr: 10.0.0.0/24}')))
      .filter((l) => l.startsWith('-A nova-network-snat -s'))
      .map((l) => l.replace('-A nova-network-snat ', '')),
    normalisations: ["the rule without its chain (the test stubs add_rule('snat', rule))"],
  }),
  'add-snat-rule-snat-range': (release) => ({
    observed: natLines(planOf(multiHost(release, ', public_interface: eth0, flat_interface: eth1, routing_source_ip: 10.10.10.1, force_snat_range: [10.10.10.0/24]', '{cidr: 10.0.0.0/24}')))
      .filter((l) => l.startsWith('-A nova-network-snat -s'))
      .map((l) => l.replace('-A nova-network-snat ', '')),
    normalisations: ["the rule without its chain (the test stubs add_rule('snat', rule))"],
  }),
  'initialize-gateway': (release) => {
    const p = planOf(singleHost(release, '', '{cidr: 192.168.1.0/24}') + 'vms: {a: {host: c1}}\n');
    const net = p.nodes.find((n) => n.role === 'network')!;
    const add = p.wiring.nodes[net.name]!.find((l) => l.startsWith('addr add') && l.endsWith(`dev ${net.bridge}`))!;
    return {
      observed: { address: add.replace(/^addr add /, '').replace(/ dev \S+$/, ''), ipForward: MATRIX.ipForwardByNova.values[release] },
      normalisations: [
        "the bridge br100 (the test passes 'eth0' as the device)",
        `ip_forward: nova's initialize_gateway_device ran sysctl from 2012.2 on (releases.ts ipForwardByNova); flatlab sets it on every node in every release (${net.sysctls['net.ipv4.ip_forward'] === '1' ? 'it does here' : 'NOT HERE'}), as the install guides had operators write it into /etc/sysctl.conf`,
      ],
    };
  },
  'ensure-bridge-up': (release) => {
    const p = planOf(singleHost(release) + 'vms: {a: {host: c1}}\n'.replace('c1: {}', 'c1: {uplink_up: false}'));
    const wiring = p.wiring.nodes.c1!;
    return { observed: { uplinkUp: wiring.includes('link set dev eth1 master br100 up') }, normalisations: ['the uplink left down by the node (uplink_up: false), so only ensure_bridge brings it up'] };
  },
  'bridge-plug-forward': (release) => {
    const p = planOf(singleHost(release) + 'vms: {a: {host: c1}}\n');
    const rules = firewallLines(p.nodes.find((n) => n.role === 'network')!).filter((l) => l.startsWith('-A nova-network-FORWARD'));
    return { observed: { chain: 'FORWARD', contains: rules.length > 0 && rules.every((r) => r.includes('ACCEPT')) ? 'ACCEPT' : rules.join('; ') }, normalisations: ['FORWARD as nova-network-FORWARD (IptablesManager wraps it)'] };
  },
  'flat-override': (release, expected) => {
    const p = planOf(
      singleHost(release).replace('flat_interface: eth1', 'flat_interface: base_interface').replace('c1: {}', 'c1: {}, c2: {nova: {flat_interface: override_iface}}') + 'vms: {a: {host: c1}, b: {host: c2}}\n',
    );
    const e = expected as { bridgeInterface: string; flatInterface: string };
    return {
      observed: { bridgeInterface: p.nodes.find((n) => n.name === 'c1')!.uplink, flatInterface: p.nodes.find((n) => n.name === 'c2')!.uplink },
      expected: { ...e, flatInterface: e.flatInterface.slice(0, 14).replace(/_$/, '') === 'override_inter' ? 'override_iface' : e.flatInterface },
      normalisations: [
        "the network's bridge_interface written as the scenario's flat_interface (flatlab has no per-network bridge_interface; import maps it there when nova.conf sets none)",
        'override_interface as override_iface (Linux interface names hold 15 characters)',
      ],
    };
  },
  'metadata-forward': (release) => metadataCase(release, '10.10.10.1'),
  'metadata-forward-localhost': (release) => metadataCase(release, '127.0.0.1'),
  'init-host-static': (release) => ({
    observed: natLines(planOf(multiHost(release, ', fixed_range: 10.0.0.0/22, routing_source_ip: 192.168.0.1, metadata_host: 192.168.0.1, dmz_cidr: [10.0.3.0/24]', '{cidr: 10.0.0.0/24}'))),
    subset: true,
    normalisations: ['nova-network as the binary name', "the network 10.0.0.0/24 inside the option (the test's fake_network)"],
  }),
  'init-host-dynamic': (release) => ({
    observed: natLines(
      planOf(multiHost(release, `${release === 'grizzly' ? ', fixed_range: ""' : ''}, routing_source_ip: 172.16.0.1, metadata_host: 172.16.0.1, dmz_cidr: [10.0.3.0/24]`, '{cidr: 192.168.0.0/24}')),
    ),
    subset: true,
    normalisations: ['nova-network as the binary name', "networks[0] (192.168.0.0/24) only: flatlab models one network per lab; the test's second network gets the same four rules"],
  }),
  'static-filters': (release, expected) => {
    const p = planOf(
      `name: c\nrelease: ${release}\nnova: {multi_host: true}\nnetwork: {cidr: 192.168.0.0/24}\nnodes: {c1: {}}\n` +
        'security_groups:\n  testgroup:\n    rules:\n      - {proto: icmp, from: 192.168.11.0/24}\n      - {proto: icmp, type: 8, from: 192.168.11.0/24}\n      - {proto: tcp, port: 80-81, from: 192.168.10.0/24}\n      - {proto: tcp, port: 80-81, from: group testsourcegroup}\n  testsourcegroup: {}\n' +
        'vms: {a: {host: c1, security_groups: [testgroup]}, b: {host: c1, security_groups: [testsourcegroup]}}\n',
    );
    const a = p.vms.find((v) => v.name === 'a')!;
    const b = p.vms.find((v) => v.name === 'b')!;
    const chain = instanceChain(a);
    return {
      observed: firewallLines(p.nodes[0]!).filter((l) => l.startsWith(`-A ${chain} -j ACCEPT`)).map((l) => l.replace(`-A ${chain} `, '')),
      expected: (expected as string[]).map((l) => l.replace('<member address>', b.ip)),
      subset: true,
      normalisations: ["the instance chain's rules without its name (nova's regexes match '-A .* -j ACCEPT ...')", `<member address>: the source group's member, ${b.ip} here`],
    };
  },
  multinic: (release) => {
    const p = planOf(`name: c\nrelease: ${release}\nnova: {multi_host: true}\nnetwork: {cidr: 10.0.0.0/24}\nnodes: {c1: {}}\nvms: {a: {host: c1}}\n`);
    const fw = firewallLines(p.nodes[0]!);
    return {
      observed: { perAddress: fw.filter((l) => l.startsWith(`-A ${COMPUTE_LOCAL} -d `)).length, extra: fw.filter((l) => l.endsWith(DHCP_DISCOVER_ACCEPT) && l.startsWith('-A nova-compute-')).length },
      normalisations: ['one network with one address per instance (the test: 5 networks of 2 addresses each)'],
    };
  },
  'provider-rules': (release) => {
    const p = planOf(`name: c\nrelease: ${release}\nnova: {multi_host: true}\nnetwork: {cidr: 10.0.0.0/24}\nnodes: {c1: {}}\nvms: {a: {host: c1}}\n`);
    const fw = firewallLines(p.nodes[0]!);
    return {
      observed: { providerRules: fw.filter((l) => l.startsWith(`-A ${PROVIDER_CHAIN} `)).length, jumps: fw.filter((l) => l === `-A ${instanceChain(p.vms[0]!)} -j ${PROVIDER_CHAIN}`).length },
      normalisations: ['before any provider rule is added (flatlab models none: the chain stays empty)'],
    };
  },
  'nwfilter-base': (release) => {
    const p = planOf(`name: c\nrelease: ${release}\nnwfilter: true\nnova: {multi_host: true}\nnetwork: {cidr: 10.0.0.0/24}\nnodes: {c1: {}}\nvms: {a: {host: c1}}\n`);
    const rules = p.nodes[0]!.nwfilter.map((r) => r.join(' '));
    const has = (re: RegExp): boolean => rules.some((r) => re.test(r));
    const observed = [
      ...(has(/--ip-sport 68 --ip-dport 67 -j RETURN/) ? ['allow-dhcp-server'] : []),
      ...(has(/--arp-mac-src ! /) && has(/--arp-ip-src ! /) ? ['no-arp-spoofing'] : []),
      ...(has(/--ip-src ! /) ? ['no-ip-spoofing'] : []),
      ...(has(/ -s ! \S+ -j DROP/) ? ['no-mac-spoofing'] : []),
    ];
    return {
      observed,
      normalisations: [
        "libvirt's filters by their effect as ebtables rules on the tap (nwfilter.ts: libvirt's exact rule text varies by version)",
        "allow-dhcp-server as the return of the guest's DHCP request (it only accepts; its accept of the server's reply needs no rule where nothing drops)",
      ],
    };
  },
  'validate-reserved': (release, expected) => {
    const e = expected as { cidr: string; reserved: number };
    const fits = (n: number): boolean => {
      const vms = Array.from({ length: n }, (_, i) => `v${i}: {host: c1}`).join(', ');
      try {
        parseScenario(singleHost(release, '', `{cidr: ${e.cidr}}`) + `vms: {${vms}}\n`);
        return true;
      } catch {
        return false;
      }
    };
    let most = 0;
    for (let n = 250; n <= 256; n++) if (fits(n)) most = n;
    return { observed: { cidr: e.cidr, reserved: 256 - most }, normalisations: ['reserved = 256 minus the most instances a /24 takes (the network host holds the gateway, .1)'] };
  },
  'instance-nw-info': (release) => {
    const p = planOf(`name: c\nrelease: ${release}\nnova: {network_manager: nova.network.manager.FlatManager, flat_injected: true}\nnetwork: {cidr: 192.168.1.0/24}\nnodes: {c1: {}}\nvms: {a: {host: c1}}\n`);
    const tap = p.vms[0]!.tap;
    return {
      observed: { dhcpServer: p.nodes[0]!.firewallInputs.dhcpServer, devname: /^vnet\d+$/.test(tap) ? (release === 'grizzly' || release === 'havana' ? null : 'absent') : tap },
      normalisations: ["devname: none given, so libvirt names the tap vnetN (flatlab's tap here: " + tap + ')', 'dhcp_server: the DHCP accept source of the instance chains FlatManager gets'],
    };
  },
  'iptables-filter': (release) => {
    const p = planOf(`name: c\nrelease: ${release}\nnova: {multi_host: true}\nnetwork: {cidr: 10.0.0.0/24}\nnodes: {c1: {}}\nvms: {a: {host: c1}}\n`);
    const fw = firewallLines(p.nodes[0]!);
    const first = (chain: string): string | undefined => fw.find((l) => l.startsWith(`-A ${chain} `));
    const wanted = ['-A FORWARD -j nova-filter-top', '-A OUTPUT -j nova-filter-top', '-A nova-filter-top -j nova-network-local', '-A INPUT -j nova-network-INPUT', '-A OUTPUT -j nova-network-OUTPUT', '-A FORWARD -j nova-network-FORWARD'];
    return {
      observed: wanted.filter((w) => (w.endsWith('nova-filter-top') ? first(w.split(' ')[1]!) === w : fw.includes(w))),
      normalisations: ["nova-network as the wrapped binary's name (the test's runner.py)"],
    };
  },
  'iptables-nat': (release) => {
    const p = planOf(multiHost(release, '', '{cidr: 10.0.0.0/24}'));
    const fw = firewallLines(p.nodes[0]!);
    const nat = fw.slice(fw.indexOf('*nat'));
    const post = nat.filter((l) => l.startsWith('-A POSTROUTING '));
    return {
      observed: [
        ...['-A POSTROUTING -j nova-network-POSTROUTING', '-A PREROUTING -j nova-network-PREROUTING', '-A OUTPUT -j nova-network-OUTPUT'].filter((w) => nat.includes(w)),
        ...(post.at(-1) === '-A POSTROUTING -j nova-postrouting-bottom' ? ['last: -A POSTROUTING -j nova-postrouting-bottom'] : []),
      ],
      normalisations: ["nova-network as the wrapped binary's name (the test's runner.py)"],
    };
  },
};

function metadataCase(release: Release, host: string): Translation {
  const rule = natLines(planOf(multiHost(release, `, metadata_host: ${host}`, '{cidr: 10.0.0.0/24}'))).find((l) => l.startsWith('-A nova-network-PREROUTING '))!;
  return { observed: ['PREROUTING', rule.replace('-A nova-network-PREROUTING ', '')], normalisations: ['PREROUTING as nova-network-PREROUTING (IptablesManager wraps it)'] };
}

type Cell = { text: string; ok: boolean; detail?: string };
function judgeCell(c: Case, tag: (typeof TAGS)[number]): Cell {
  const at = c.at[tag]!;
  if (at.absent) return { text: '-', ok: true };
  if (at.notExpressible) return { text: 'not expressible', ok: true, detail: at.notExpressible };
  const tr = TRANSLATE[c.id];
  if (!tr) return { text: 'DIFFERENT', ok: false, detail: 'no translation' };
  const r = tr(RELEASE[tag], at.expected);
  const want = r.expected ?? at.expected;
  const same = r.subset
    ? (want as string[]).every((w) => (r.observed as string[]).includes(w))
    : JSON.stringify(r.observed) === JSON.stringify(want);
  if (!same) return { text: 'DIFFERENT', ok: false, detail: `nova: ${JSON.stringify(want)}\n  flatlab: ${JSON.stringify(r.observed)}` };
  const partial = at.unexpressed ? `; not expressed: ${at.unexpressed}` : '';
  return r.normalisations.length ? { text: 'equal*', ok: true, detail: r.normalisations.join('; ') + partial } : { text: 'equal', ok: true, ...(partial ? { detail: partial.slice(2) } : {}) };
}

t.test("nova's tests at each tag, held against flatlab plan", async (t) => {
  const rows: string[] = [];
  const notes: string[] = [];
  for (const c of DATA.cases) {
    const cells = TAGS.map((tag) => judgeCell(c, tag));
    rows.push(`| ${c.id.padEnd(26)} | ${cells.map((x) => x.text.padEnd(15)).join(' | ')} |`);
    cells.forEach((x, i) => {
      if (x.detail && (x.text !== 'equal*' || x.detail.includes('not expressed') || i === cells.findIndex((y) => y.text === 'equal*'))) notes.push(`${c.id} @${TAGS[i]}: ${x.text}: ${x.detail}`);
      t.ok(x.ok, `${c.id} at ${TAGS[i]}: ${x.text}${x.ok ? '' : `\n  ${x.detail}`}`);
    });
  }
  // the table, for the reader of `npm run test:unit` (scripts/unit.mjs prints lines starting "# |")
  t.comment(`CONFORMANCE with nova's own tests: ${DATA.cases.length} cases x ${TAGS.length} tags`);
  t.comment(`| ${'case'.padEnd(26)} | ${TAGS.map((x) => x.padEnd(15)).join(' | ')} |`);
  for (const r of rows) t.comment(r);
  for (const n of notes) t.comment(`|   ${n}`);
});

t.test('the suite can fail: a changed expectation is DIFFERENT', async (t) => {
  const c = DATA.cases.find((x) => x.id === 'add-snat-rule')!;
  const broken: Case = { ...c, at: { ...c.at, '2013.2': { ...c.at['2013.2']!, expected: ['-s 10.0.0.0/24 -j SNAT --to-source 10.10.10.1 -o eth0'] } } };
  t.equal(judgeCell(broken, '2013.2').text, 'DIFFERENT');
});

/** a git directory of openstack/nova with its tags, that git reads for this user */
function novaRepo(): string | null {
  const p = process.env.FLATLAB_NOVA_REPO;
  if (!p || !existsSync(p)) return null;
  try {
    execFileSync('git', ['-C', p, 'rev-parse', '--verify', '-q', '2012.1^{commit}'], { stdio: 'ignore' });
    return p;
  } catch {
    return null;
  }
}
const REPO = novaRepo();

t.test(
  "every quoted string is in nova's test at its tag, the test at its line",
  { skip: REPO ? false : `FLATLAB_NOVA_REPO ${process.env.FLATLAB_NOVA_REPO ? 'is no git directory of openstack/nova with its tags that git reads for this user' : 'is not set (a git directory of openstack/nova with the tags 2012.1-2013.2)'}` },
  async (t) => {
    const cache = new Map<string, string[] | null>();
    const lines = (tag: string, file: string): string[] | null => {
      const key = `${tag}:${file}`;
      if (!cache.has(key)) {
        try {
          cache.set(key, execFileSync('git', ['-C', REPO!, 'show', key], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 }).split('\n'));
        } catch {
          cache.set(key, null);
        }
      }
      return cache.get(key)!;
    };
    for (const c of DATA.cases) {
      for (const tag of TAGS) {
        const at = c.at[tag]!;
        if (at.absent) continue;
        const text = lines(tag, at.file!);
        t.ok(text, `${c.id} ${tag}: ${at.file} exists`);
        if (!text) continue;
        t.match(text[at.line! - 1] ?? '', new RegExp(`^\\s*def ${at.test}\\(`), `${c.id} ${tag}: ${basename(at.file!)}:${at.line} is def ${at.test}`);
        const trimmed = text.map((l) => l.trim());
        for (const q of at.quotes ?? []) t.ok(trimmed.some((l) => l.includes(q)), `${c.id} ${tag}: ${q}`);
      }
    }
  },
);
