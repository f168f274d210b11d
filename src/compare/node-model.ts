/**
 * The model of a collected node when no scenario is given: the node as its own nova.conf
 * (collected beside the dump) describes it.
 */
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { parseNovaConf } from '../import/nova-conf.js';
import { importScenario, validateImported } from '../import/to-scenario.js';
import { cidrContains } from '../net/ipv4.js';
import type { Release } from '../nova/releases.js';
import type { Plan } from '../plan/types.js';
import { planVariant, type VariantOptions } from '../plan/variant.js';
import { DEFAULT_VARIANT, NAME_PATTERN } from '../scenario/schema.js';
import type { NodeDump } from './dump.js';
import { networkCidr } from '../scenario/network.js';

/**
 * The model from the node's own nova.conf: the node as nova.conf describes it, its
 * instances as its dnsmasq lists them, its bridge address as the node holds it (nova
 * chose it by database order; a missing one is still a difference).
 */
export function modelFromNode(dump: NodeDump, node: string, release: Release | undefined, where: Pick<VariantOptions, 'runtimeRoot' | 'assets'>): { plan: Plan; label: string } {
  if (dump.novaConf === null) throw new UserError(`${dump.dir}: no nova.conf was collected; give the model with --scenario FILE, or collect again with NOVA_CONF=/path/to/nova.conf`);
  const conf = parseNovaConf(dump.novaConf, join(dump.dir, 'nova.conf'));
  const hosts = dump.dnsmasq[0]?.hosts ?? [];
  const names = hosts.map((h, k) => {
    const short = h.host.split('.')[0]!.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 15);
    return NAME_PATTERN.test(short) ? short : `vm_${k + 1}`;
  });
  const imported = importScenario({ shared: [], perNode: [{ node, conf }], vms: `${node}:0`, name: 'collected', ...(release ? { release } : {}) });
  // the imported scenario as data: the collected instances and the node's role added, then validated once
  const s = imported.data;
  s.vms = Object.fromEntries(hosts.map((h, k) => [names[k]!, { host: node, ip: h.ip, mac: h.mac }]));
  const cidr = networkCidr(imported.scenario);
  const bridge = imported.scenario.nova.flat_network_bridge;
  // the address nova gave this host: on its bridge, or, when the bridge lost it, the one
  // its dnsmasq was told to listen on
  const listen = dump.dnsmasq[0]?.argv.find((a) => a.startsWith('--listen-address='))?.split('=')[1];
  const pool = dump.addrs?.find((a) => a.dev === bridge && cidrContains(cidr, a.ip))?.ip ?? (listen && cidrContains(cidr, listen) ? listen : undefined);
  if (imported.scenario.nova.multi_host) {
    s.nodes[node] = { ...(s.nodes[node] ?? {}), ...(pool ? { bridge_ip: pool } : {}) };
  } else if (dump.dnsmasq.length === 0) {
    // multi_host False and no dnsmasq here: a compute node of a network host elsewhere
    s.nodes[node] = { ...(s.nodes[node] ?? {}), role: 'compute' };
    s.nodes.nethost = { role: 'network' };
  }
  const { scenario } = validateImported(s, imported.sources);
  return { plan: planVariant({ name: DEFAULT_VARIANT, scenario }, { runId: '000000', ...where }), label: `${node}'s nova.conf (${conf.style === 'flagfile' ? 'Essex flagfile' : 'INI'}), ${hosts.length} instance(s) from its dnsmasq hosts file` };
}
