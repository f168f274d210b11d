/** The node's links, addresses, routes, kernel settings and neighbours against the model. */
import { cidrContains, inSubnet, networkOf } from '../net/ipv4.js';
import { INSTANCE_CHAIN, isSameNetAccept, jumpsToFallback } from '../nova/iptables.js';
import { parseIptablesSave } from '../net/iptables-save.js';
import type { NodePlan } from '../plan/types.js';
import { add, notCollected, vmNames, type Ctx } from './difference.js';
import type { NodeDump } from './dump.js';

export function links(c: Ctx, dump: NodeDump): void {
  const { node } = c;
  if (!dump.links) return notCollected(c, 'ip -d link');
  const byName = new Map(dump.links.map((l) => [l.name, l]));
  const br = byName.get(node.bridge);
  if (!br || !br.bridge) {
    add(c, { kind: 'bridge-missing', what: `no bridge ${node.bridge}`, symptom: `${vmNames(c.here)} are plugged into nothing: no lease, no traffic`, breaks: true });
    return;
  }
  if (!br.up) add(c, { kind: 'bridge-down', what: `${node.bridge} is down`, symptom: `nothing is bridged on ${node.name}: ${vmNames(c.here)} get no lease and reach nothing`, breaks: true });
  const up = byName.get(node.uplink);
  if (!up) {
    add(c, { kind: 'uplink-missing', what: `no ${node.uplink} (flat_interface)`, symptom: `${node.name}'s instances reach only each other: nothing crosses to other nodes`, breaks: true });
  } else {
    if (up.master !== node.bridge) {
      add(c, {
        kind: 'uplink-not-enslaved',
        what: `${node.uplink} (flat_interface) is ${up.master ? `a port of ${up.master}` : 'in no bridge'}, not a port of ${node.bridge}`,
        symptom: `instances on ${node.name} reach each other and ${node.name}, but no instance on another node (ARP for them goes unanswered)`,
        breaks: true,
      });
    }
    if (!up.up && node.uplinkUp) {
      add(c, {
        kind: 'uplink-down',
        what: `${node.uplink} (flat_interface) is down`,
        symptom: `nothing leaves ${node.bridge}: instances on ${node.name} reach only each other; ARP requests go out on ${node.bridge} and no reply comes back`,
        breaks: true,
        report: 8,
      });
    }
  }
  const seen = new Set<string>([node.uplink]);
  for (const vm of c.here) {
    const tap = byName.get(vm.tap) ?? dump.links.find((l) => l.mac === vm.tapMac.toLowerCase());
    if (!tap) {
      add(c, { kind: 'tap-missing', what: `no tap for ${vm.name} (${vm.tap} or MAC ${vm.tapMac})`, symptom: `${vm.name} is not running on ${node.name}, or under another MAC`, breaks: false });
      continue;
    }
    seen.add(tap.name);
    if (tap.master !== node.bridge) {
      add(c, { kind: 'tap-outside-bridge', what: `${vm.name}'s tap ${tap.name} is ${tap.master ? `a port of ${tap.master}` : 'in no bridge'}, not of ${node.bridge}`, symptom: `${vm.name} gets no lease and reaches nothing`, breaks: true });
    } else if (!tap.up) {
      add(c, { kind: 'tap-down', what: `${vm.name}'s tap ${tap.name} is down`, symptom: `${vm.name} gets no lease and reaches nothing`, breaks: true });
    }
  }
  const extra = dump.links.filter((l) => l.master === node.bridge && !seen.has(l.name)).map((l) => l.name);
  if (extra.length > 0) {
    add(c, { kind: 'extra-port', what: `${node.bridge} has ports the model has not: ${extra.join(', ')}`, symptom: 'instances the model does not know of, or another segment bridged into the flat one', breaks: false });
  }
}

export function addresses(c: Ctx, dump: NodeDump): void {
  const { node, cidr } = c;
  if (!dump.addrs) return notCollected(c, 'ip addr');
  const onBridge = dump.addrs.filter((a) => a.dev === node.bridge);
  const pool = onBridge.filter((a) => cidrContains(cidr, a.ip));
  const bridgeExists = dump.links === null || dump.links.some((l) => l.name === node.bridge);
  const single = node.public?.layout === 'single-interface' ? node.public.ip : null;
  if (node.bridgeIp !== null && bridgeExists) {
    if (pool.length === 0) {
      add(c, {
        kind: 'bridge-address-missing',
        what: `${node.bridge} has no address from ${cidr.text} (model: ${node.bridgeIp}/${cidr.prefixLength})`,
        symptom: `${node.name} has no route to the pool and is no gateway: dnsmasq cannot listen on ${node.bridgeIp}, so ${vmNames(c.here)} get no lease and no gateway`,
        breaks: true,
        report: 5,
      });
    } else if (!pool.some((a) => a.ip === node.bridgeIp)) {
      add(c, {
        kind: 'bridge-address-differs',
        what: `${node.bridge} has ${pool.map((a) => a.ip).join(', ')}, the model ${node.bridgeIp}`,
        symptom: 'none by itself: nova took the address in database order; the instances\' gateway is whatever dnsmasq hands out',
        breaks: false,
      });
    }
  } else if (pool.length > 0) {
    const clash = pool.find((a) => a.ip === c.plan.network.gateway);
    add(c, {
      kind: 'bridge-address-extra',
      what: `${node.bridge} has ${pool.map((a) => a.ip).join(', ')} from the pool; nova gives this node none`,
      symptom: clash ? `${clash.ip} is the network host's address too: every instance's gateway answers from two nodes` : `${node.name} answers on the flat network, where nova left it silent`,
      breaks: clash !== undefined,
    });
  }
  for (const a of onBridge.filter((x) => !cidrContains(cidr, x.ip) && x.ip !== single)) {
    const overlaps = inSubnet(cidr.network, a.ip, a.prefix) || cidrContains(cidr, a.ip);
    add(c, {
      kind: 'extra-subnet',
      what: `${node.bridge} also carries ${a.ip}/${a.prefix}, outside ${cidr.text}`,
      symptom: overlaps
        ? `its subnet covers the pool: ${node.name} routes instances' traffic by the wrong address`
        : `${node.name} routes ${networkOf(a.ip, a.prefix)} onto the flat segment every instance shares: instances reach that subnet directly and unSNATed, and its hosts see the instances' broadcasts (nova's initialize_gateway_device keeps the addresses flat_interface had on the bridge, after the pool address)`,
      breaks: overlaps,
      report: 1,
    });
  }
  const elsewhere = dump.addrs.filter((a) => a.dev !== node.bridge && cidrContains(cidr, a.ip));
  for (const a of elsewhere) {
    add(c, { kind: 'pool-address-elsewhere', what: `${a.dev} has ${a.ip}/${a.prefix} from the pool, outside ${node.bridge}`, symptom: `${node.name} sends traffic for the pool out of ${a.dev}, not onto ${node.bridge}`, breaks: true });
  }
  const route = dump.routes?.find((r) => r.dst === cidr.text);
  if (route && route.dev !== node.bridge) {
    add(c, { kind: 'pool-route', what: `the route to ${cidr.text} goes ${route.via ? `via ${route.via} ` : ''}dev ${route.dev}, not ${node.bridge}`, symptom: `${node.name} does not reach its instances on ${node.bridge}`, breaks: true });
  }
}

/** A node whose instance chains drop something: isolation rests on bridged frames passing iptables. */
function reliesOnFiltering(node: NodePlan, cidr: string): boolean {
  const rules = parseIptablesSave(node.firewall).get('filter')?.rules ?? [];
  return jumpsToFallback(node.firewall) && !rules.some((r) => INSTANCE_CHAIN.test(r.chain) && isSameNetAccept(r, cidr));
}

export function sysctls(c: Ctx, dump: NodeDump): void {
  const { node } = c;
  if (!dump.sysctls) return notCollected(c, 'the sysctls');
  for (const [key, want] of Object.entries(node.sysctls)) {
    const got = dump.sysctls[key];
    if (got === undefined || got === want) continue;
    if (key === 'net.ipv4.ip_forward') {
      add(c, {
        kind: 'ip-forward-off',
        what: `net.ipv4.ip_forward=${got} (model ${want})`,
        symptom: node.isGateway ? `${node.name} routes nothing: its instances cannot leave the flat network through their gateway ${node.bridgeIp ?? ''}`.trim() : `none while ${node.name} routes for no instance`,
        breaks: node.isGateway,
        report: 2,
      });
    } else if (key === 'net.bridge.bridge-nf-call-iptables') {
      const relies = reliesOnFiltering(node, c.cidr.text);
      add(c, {
        kind: 'bridge-nf-off',
        what: got === 'absent' ? 'net.bridge.bridge-nf-call-iptables is absent (br_netfilter not loaded)' : `net.bridge.bridge-nf-call-iptables=${got}`,
        symptom: `bridged frames never pass ${node.name}'s iptables: nova's instance chains see no instance traffic${relies ? ', so allow_same_net_traffic=False and security groups are not enforced' : ''}`,
        breaks: relies,
        report: 3,
      });
    } else {
      add(c, { kind: 'sysctl', what: `${key}=${got} (model ${want})`, symptom: 'differs from what the model sets', breaks: false });
    }
  }
}

// ---------------------------------------------------------------------------------------
// iptables

export function neighbours(c: Ctx, dump: NodeDump): void {
  for (const n of dump.neigh ?? []) {
    if (n.dev !== c.node.bridge || !n.mac || !cidrContains(c.cidr, n.ip)) continue;
    const vm = c.byIp.get(n.ip);
    const isNode = c.plan.nodes.some((x) => x.bridgeIp === n.ip);
    if (vm && vm.mac.toLowerCase() !== n.mac) {
      add(c, { kind: 'neigh-mac', what: `${n.ip} answers from ${n.mac}; nova gave it to ${vm.name} (${vm.mac})`, symptom: `another guest uses ${vm.name}'s address: traffic for ${vm.name} goes astray`, breaks: false });
    } else if (!vm && !isNode && n.ip !== c.plan.network.gateway) {
      add(c, { kind: 'neigh-unknown', what: `${n.ip} (MAC ${n.mac}) is on ${c.node.bridge}; nova gave it to no instance`, symptom: 'a guest set an address by hand: answers to it pass no instance chain nova wrote', breaks: false });
    }
  }
}

