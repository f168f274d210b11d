/** The node's dnsmasq (its argv, its hosts file) against the one nova would have started. */
import { LAB_ONLY_DNSMASQ_OPTIONS } from '../plan/dnsmasq.js';
import { add, vmNames, type Ctx } from './difference.js';
import type { NodeDump } from './dump.js';

/** argv without the program, flatlab's own additions, and with paths by their base names. */
function normalisedArgv(argv: string[]): string[] {
  const args = argv[0] && !argv[0].startsWith('-') ? argv.slice(1) : argv;
  return args
    .filter((a) => !LAB_ONLY_DNSMASQ_OPTIONS.some((o) => a === o || a.startsWith(`${o}=`)))
    .map((a) => a.replace(/^(--[\w-]+=)(\/\S*\/)([^/]+)$/, '$1…/$3'));
}

export function dnsmasq(c: Ctx, dump: NodeDump): void {
  const d = c.node.dhcp;
  if (!d) {
    if (dump.dnsmasq.length > 0) add(c, { kind: 'dnsmasq-extra', what: `dnsmasq runs (pid ${dump.dnsmasq.map((x) => x.pid).join(', ')}); the model has none on ${c.node.name}`, symptom: 'a second DHCP server on the flat segment may answer instances nova placed elsewhere', breaks: false });
    return;
  }
  const own = dump.dnsmasq.find((x) => x.argv.includes(`--listen-address=${d.listenAddress}`)) ?? dump.dnsmasq[0];
  if (!own) {
    add(c, { kind: 'dnsmasq-missing', what: `no dnsmasq (model: listening on ${d.listenAddress})`, symptom: `${vmNames(c.here)} get no lease from ${c.node.name}`, breaks: true, report: 5 });
    return;
  }
  const want = normalisedArgv(['dnsmasq', ...d.argv]);
  const got = normalisedArgv(own.argv);
  const listen = got.find((a) => a.startsWith('--listen-address='));
  if (listen !== `--listen-address=${d.listenAddress}`) {
    add(c, { kind: 'dnsmasq-listen', what: `dnsmasq ${listen ?? 'has no --listen-address'} (model --listen-address=${d.listenAddress})`, symptom: `its offers name a router and server the instances on ${c.node.name} were not planned with`, breaks: false });
  }
  const missing = want.filter((a) => !got.includes(a) && !a.startsWith('--listen-address='));
  const extra = got.filter((a) => !want.includes(a) && !a.startsWith('--listen-address='));
  if (missing.length + extra.length > 0) {
    const range = [...missing, ...extra].some((a) => a.startsWith('--dhcp-range='));
    add(c, {
      kind: 'dnsmasq-argv',
      what: `dnsmasq's argv differs from nova ${c.plan.release}'s: ${[...missing.map((a) => `missing ${a}`), ...extra.map((a) => `extra ${a}`)].join(', ')}`,
      symptom: range ? 'the range or lease time it serves differs: leases may not be what nova recorded' : 'none known for leases, unless an option above changes what it answers',
      breaks: false,
    });
  }
  hostsFile(c, own.hosts);
}

function hostsFile(c: Ctx, hosts: { mac: string; host: string; ip: string }[] | null): void {
  if (hosts === null) {
    add(c, { kind: 'hosts-unread', what: "dnsmasq's --dhcp-hostsfile was not collected", symptom: 'which instances it answers is unknown', breaks: false });
    return;
  }
  const listed = new Map(hosts.map((h) => [h.ip, h]));
  for (const vm of c.here) {
    const h = listed.get(vm.ip);
    if (!h) add(c, { kind: 'hosts-missing', what: `${vm.name} (${vm.mac}, ${vm.ip}) is not in dnsmasq's hosts file`, symptom: `${vm.name} gets no lease (static ranges answer listed MACs only)`, breaks: true });
    else if (h.mac !== vm.mac.toLowerCase()) add(c, { kind: 'hosts-mac', what: `dnsmasq's hosts file gives ${vm.ip} to ${h.mac}, the model to ${vm.name} (${vm.mac})`, symptom: `${vm.name} gets no lease`, breaks: true });
  }
  const foreign = hosts.filter((h) => !c.here.some((v) => v.ip === h.ip));
  if (foreign.length > 0) {
    const names = foreign.map((h) => {
      const vm = c.byIp.get(h.ip);
      return vm ? `${vm.name} (${h.ip}, on ${vm.node})` : `${h.host} (${h.ip}, no instance of the model)`;
    });
    add(c, {
      kind: 'hosts-foreign',
      what: `dnsmasq's hosts file lists instances of other nodes: ${names.join(', ')}`,
      symptom: `this dnsmasq answers them too and may hand them ${c.node.name}'s bridge as their gateway (nova filtered the file by the instance's host)`,
      breaks: foreign.some((h) => c.byIp.has(h.ip)),
    });
  }
}

