/**
 * The release matrix held against nova's own text: what flatlab renders under each
 * release must have the form of the line quoted from nova at that tag, and, where a copy
 * of nova's history is at hand (NOVA_GIT, or the tool library's mirror), every quote must
 * be in nova's file at its tag (and Havana's uplink-up line absent before it).
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { renderInterfaces } from '../src/plan/injection.js';
import { plan } from '../src/plan/plan.js';
import { MATRIX, RELEASE_TAGS, RELEASES, type Release } from '../src/nova/releases.js';
import type { Plan } from '../src/plan/types.js';
import { parseScenario } from '../src/scenario/load.js';
import { REFERENCE } from './helpers.js';
import { assetsIn } from '../src/assets.js';

const OPTS = { runId: 'abc123', runtimeRoot: '/run/flatlab', assets: assetsIn('/x') };
const planAt = (release: Release, extra = ''): Plan =>
  plan(parseScenario(REFERENCE.replace('name: ref', `name: ref\nrelease: ${release}`).replace('compute2: {}', 'compute2: {uplink_up: false}') + extra), OPTS);

/** nova's Python format string in a quoted line, as a regex over what it renders. */
function formOf(quote: string): RegExp {
  const literal = /'((?:\\'|[^'])*)'/.exec(quote)![1]!.replace(/\\'/g, "'");
  const escaped = literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/%s/g, "[^, ]+");
  return new RegExp(escaped);
}

t.test('dnsmasq: the argv of each release has the form of nova\'s line at its tag', async (t) => {
  for (const r of RELEASES) {
    const d = planAt(r).nodes[0]!.dhcp!;
    const argv = d.argv.join(' ');
    t.match(argv, formOf(MATRIX.dnsmasq.quotes[r]), `${r}: ${MATRIX.dnsmasq.quotes[r]}`);
    t.ok(r === 'essex' || r === 'folsom' ? 'FLAGFILE' in d.env : 'CONFIG_FILE' in d.env, `${r}: the flag file's variable`);
  }
  const argvOf = (r: Release): string[] => planAt(r).nodes[0]!.dhcp!.argv;
  t.ok(argvOf('essex').includes('--dhcp-range=10.0.0.2,static,120s'));
  t.ok(argvOf('folsom').includes("--dhcp-range=set:'private',10.0.0.2,static,120s"));
  t.ok(argvOf('grizzly').includes('--no-hosts') && !argvOf('grizzly').some((a) => a.startsWith('--addn-hosts')), 'Grizzly built --addn-hosts and dropped it');
  t.ok(argvOf('havana').some((a) => a.startsWith('--addn-hosts=')));
  t.equal(argvOf('essex').indexOf('--domain=novalocal'), 3, '2012: --domain right after --conf-file');
  t.ok(argvOf('havana').indexOf('--domain=novalocal') > argvOf('havana').indexOf('--leasefile-ro'), '2013.2: --domain after the fixed part');
});

t.test('flat_interface: brought up by ensure_bridge in Havana only', async (t) => {
  for (const r of RELEASES) {
    const up = planAt(r).wiring.nodes.compute2!.includes('link set dev eth0 master br100 up');
    t.equal(up, MATRIX.ensureBridgeUplinkUp.values[r], `${r}: a node without a stanza for eth0 has it ${up ? 'up' : 'down'}`);
  }
});

t.test('taps: libvirt\'s vnetN on each node in creation order, every release', async (t) => {
  for (const r of RELEASES) {
    t.same(planAt(r).vms.map((v) => v.tap), ['vnet0', 'vnet1', 'vnet0', 'vnet1'], r);
  }
});

t.test('SNAT: no -o in Essex, -o public_interface after, -d 0.0.0.0/0 in Havana', async (t) => {
  const ext = '\nexternal: {cidr: 203.0.113.0/24}\n';
  for (const r of RELEASES) {
    const text = REFERENCE.replace('name: ref', `name: ref\nrelease: ${r}`).replace('flat_interface: eth0', 'flat_interface: eth1') + ext;
    const nat = plan(parseScenario(text), OPTS).nodes[0]!.firewall.split('\n').find((l) => l.startsWith('-A nova-network-snat -s'))!;
    const quote = MATRIX.snatRule.quotes[r];
    if (r === 'essex') t.match(nat, /^-A nova-network-snat -s 10\.0\.0\.0\/24 -j SNAT --to-source 203\.0\.113\.2$/, `${r}: ${nat}`);
    else if (quote.startsWith('rule +=')) t.match(nat, / -o eth0$/, `${r}: ${nat}`);
    else t.match(nat, formOf(quote), `${r}: ${nat}`);
  }
});

t.test('instance chains: the DHCP accept and the same-net accept in every release; the DHCP-request accepts from Grizzly', async (t) => {
  for (const r of RELEASES) {
    const fw = planAt(r).nodes[0]!.firewall;
    t.match(fw, /-A nova-compute-inst-1 -s 10\.0\.0\.1 -p udp --sport 67 --dport 68 -j ACCEPT/, r);
    t.match(fw, /-A nova-compute-inst-1 -s 10\.0\.0\.0\/24 -j ACCEPT/, r);
    const requests = fw.split('\n').filter((l) => l.includes('-s 0.0.0.0/32 -d 255.255.255.255/32'));
    t.same(requests.map((l) => l.split(' ')[1]), MATRIX.dhcpRequestAccept.values[r] ? ['nova-compute-INPUT', 'nova-compute-FORWARD'] : [], `${r}: DHCP-request accepts`);
  }
});

t.test("FlatManager: the gateway's DHCP accept up to Grizzly (legacy dhcp_server), none in Havana", async (t) => {
  const flat = (r: Release): Plan =>
    plan(parseScenario(`name: f\nrelease: ${r}\nnova: {network_manager: nova.network.manager.FlatManager, fixed_range: 10.0.0.0/24}\nnodes: {c1: {}}\nvms: {a: {host: c1}}\n`), OPTS);
  for (const r of RELEASES) {
    const fw = flat(r).nodes[0]!.firewall;
    const accept = /-A nova-compute-inst-1 -s 10\.0\.0\.1 -p udp --sport 67 --dport 68 -j ACCEPT/.test(fw);
    t.equal(accept, MATRIX.flatManagerDhcpAccept.values[r] === 'gateway', `${r}: accept from the gateway`);
    t.equal(fw.includes('-A nova-compute-INPUT -s 0.0.0.0/32'), accept && MATRIX.dhcpRequestAccept.values[r], `${r}: request accepts only where an instance chain has a DHCP accept`);
  }
});

t.test('injected interfaces: a gateway line always up to Grizzly, only when set in Havana', async (t) => {
  const nic = { name: 'eth0', address: '10.0.0.2', netmask: '255.255.255.0', broadcast: '10.0.0.255', gateway: null, dns: '8.8.4.4' };
  for (const r of RELEASES) {
    const text = renderInterfaces(nic, r);
    t.equal(/gateway None/.test(text), MATRIX.injectedGateway.values[r] === 'always', r);
  }
});

/** a copy git will read for this user (as another user than its owner git refuses it: "dubious ownership") */
const readable = (p: string): boolean => {
  try {
    execFileSync('git', ['-C', p, 'rev-parse', '--verify', '-q', '2012.1^{commit}'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
// FLATLAB_NOVA_REPO: a git directory of openstack/nova with its tags (the conformance suite's variable)
const NOVA_GIT = [process.env.FLATLAB_NOVA_REPO].find((p) => p && existsSync(p) && readable(p));
const FILES: Record<keyof typeof MATRIX, string[]> = {
  ensureBridgeUplinkUp: ['nova/network/linux_net.py'],
  tapNames: ['nova/virt/libvirt/connection.py', 'nova/virt/libvirt/driver.py', 'nova/virt/libvirt/vif.py', 'nova/network/model.py'],
  dnsmasq: ['nova/network/linux_net.py'],
  snatRule: ['nova/network/linux_net.py'],
  flatManagerDhcpAccept: ['nova/compute/utils.py', 'nova/network/model.py', 'nova/virt/firewall.py'],
  dhcpRequestAccept: ['nova/virt/firewall.py'],
  ipForwardByNova: ['nova/network/linux_net.py'],
  snatRange: ['nova/network/linux_net.py', 'nova/network/manager.py'],
  dmzDefault: ['nova/network/linux_net.py'],
  metadataForward: ['nova/network/linux_net.py'],
  forceSnatRange: ['nova/network/linux_net.py'],
  shareDhcpAddress: ['nova/network/manager.py'],
  injectedGateway: ['nova/virt/interfaces.template'],
  floatingForward: ['nova/network/linux_net.py'],
  dhcpChecksumFill: ['nova/network/linux_net.py'],
};

t.test("every quote is in nova's file at its tag", { skip: NOVA_GIT ? false : `FLATLAB_NOVA_REPO ${process.env.FLATLAB_NOVA_REPO ? 'names no git directory of openstack/nova with its tags that git reads for this user' : 'is not set (a git directory of openstack/nova with the tags 2012.1-2013.2)'}` }, async (t) => {
  const show = (tag: string, file: string): string => {
    try {
      return execFileSync('git', ['-C', NOVA_GIT!, 'show', `${tag}:${file}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return '';
    }
  };
  for (const [key, row] of Object.entries(MATRIX) as [keyof typeof MATRIX, (typeof MATRIX)[keyof typeof MATRIX]][]) {
    for (const r of RELEASES) {
      const text = FILES[key].map((f) => show(RELEASE_TAGS[r], f)).join('\n');
      const lines = text.split('\n').map((l) => l.trim());
      t.ok(lines.some((l) => l.includes(row.quotes[r])), `${key} ${r} (${RELEASE_TAGS[r]}): ${row.quotes[r]}`);
    }
  }
  // and where a value is an absence, the line is not there at that tag
  for (const [key, row] of Object.entries(MATRIX) as [keyof typeof MATRIX, { absent?: Partial<Record<Release, string>> }][]) {
    for (const [r, line] of Object.entries(row.absent ?? {}) as [Release, string][]) {
      const text = FILES[key].map((f) => show(RELEASE_TAGS[r], f)).join('\n');
      t.ok(text.length > 0 && !text.includes(line), `${key} ${r} (${RELEASE_TAGS[r]}): not in nova: ${line}`);
    }
  }
});
