/**
 * nova.conf as the import reads it: which options a scenario models (and where: for the
 * whole network, or per node), each node's view of the files (shared ones, then its own;
 * the last assignment wins, as nova read them), and a value converted to the scenario's
 * type. Each value keeps its source (file and line), the import's source map.
 */
import { UserError } from '../errors.js';
import { FLAT_DHCP_MANAGER, FLAT_MANAGER } from '../scenario/schema.js';
import { confBool, maskedValue, type ConfOption, type ParsedConf } from './nova-conf.js';
import type { Release } from '../nova/releases.js';

/** What `flatlab import` is given. */
export interface ImportInputs {
  /** files that hold for every node, in order (later ones override) */
  shared: ParsedConf[];
  /** `--node NAME=FILE`: a node's own nova.conf, over the shared ones */
  perNode: { node: string; conf: ParsedConf }[];
  /** `--vms compute1:2,compute2:2` or `vm_a@compute1,...` */
  vms?: string;
  /** a pasted `nova-manage network create ...` line */
  networkCreate?: string;
  /** `--external CIDR`: model the way out, with my_ip on it */
  external?: string;
  name?: string;
  release?: Release;
}

/** Options that are one value for the whole network in a scenario. */
export const CLUSTER = ['network_manager', 'multi_host', 'fixed_range', 'flat_network_bridge', 'flat_injected', 'flat_network_dns', 'dhcp_lease_time', 'dhcp_domain'] as const;
/** Options a scenario can set per node (nodes.X.nova), as nodes did differ in them. */
export const PER_NODE = ['flat_interface', 'public_interface', 'allow_same_net_traffic', 'routing_source_ip', 'metadata_host'] as const;
/** Options nova-network's nat table and dnsmasq read (linux_net.py), one value for the cluster in a scenario. */
export const CLUSTER_MORE = ['dmz_cidr', 'force_snat_range', 'dns_server', 'use_network_dns_servers', 'metadata_port'] as const;
const BOOLEAN = new Set(['multi_host', 'flat_injected', 'allow_same_net_traffic', 'use_network_dns_servers']);
/** ListOpts (and Essex's StrOpts of the same name): comma-separated */
const LISTS = new Set(['dmz_cidr', 'force_snat_range', 'dns_server']);
const MANAGERS: Record<string, string> = { FlatManager: FLAT_MANAGER, FlatDHCPManager: FLAT_DHCP_MANAGER };
/** What the imported lab's chains are: nova-compute's IptablesFirewallDriver (libvirt's wraps it). */
const MODELLED_FIREWALL = /(^|\.)IptablesFirewallDriver$/;

/** Where a scenario value came from: a nova.conf line, or a flag of the pasted network create line. */
export interface Source {
  file: string;
  opt: ConfOption;
  /** the column in a pasted line (--network-create) */
  col?: number;
}

/** Each node's view of the files, and the `file:line name=value` of every option not modelled. */
export function nodeViews(i: ImportInputs, nodeNames: string[]): { views: Map<string, Map<string, Source>>; ignored: string[] } {
  const views = new Map<string, Map<string, Source>>();
  const ignored: string[] = [];
  const seenIgnored = new Set<string>();
  const visit = (conf: ParsedConf, into: Map<string, Source>): void => {
    for (const opt of conf.options) {
      const name = optionName(opt);
      const modelled = opt.section === 'DEFAULT' && isModelled(name) && (name !== 'my_ip' || i.external !== undefined);
      if (modelled) {
        into.set(name, { file: conf.file, opt });
        continue;
      }
      const key = `${conf.file}:${opt.line}`;
      if (seenIgnored.has(key)) continue;
      seenIgnored.add(key);
      const where = opt.section === 'DEFAULT' ? '' : `[${opt.section}] `;
      ignored.push(`${key} ${where}${opt.name}=${maskedValue(opt.name, oneLine(opt.value))}${ignoreReason(name, opt, i)}`);
    }
  };
  for (const node of nodeNames) {
    const view = new Map<string, Source>();
    for (const conf of i.shared) visit(conf, view);
    for (const own of i.perNode.filter((p) => p.node === node)) visit(own.conf, view);
    views.set(node, view);
  }
  return { views, ignored };
}

/** An option's name as the import matches it: dashes read as underscores (`flat-interface` is flat_interface). */
export function optionName(opt: ConfOption): string {
  return opt.name.replace(/-/g, '_');
}

/** What nova read for `name` from these files: their last [DEFAULT] assignment, later files winning. */
export function lastAssignment(confs: ParsedConf[], name: string): Source | undefined {
  let found: Source | undefined;
  for (const conf of confs) for (const opt of conf.options) if (opt.section === 'DEFAULT' && optionName(opt) === name) found = { file: conf.file, opt };
  return found;
}

function isModelled(name: string): boolean {
  return (CLUSTER as readonly string[]).includes(name) || (CLUSTER_MORE as readonly string[]).includes(name) || (PER_NODE as readonly string[]).includes(name) || name === 'my_ip';
}

function ignoreReason(name: string, opt: ConfOption, i: ImportInputs): string {
  if (name === 'my_ip' && i.external === undefined) return ' (no way out modelled: pass --external CIDR to place my_ip on it)';
  if (name === 'host') return ' (nodes are named by --node / --vms)';
  if (name === 'firewall_driver') {
    return MODELLED_FIREWALL.test(opt.value) ? ' (flatlab builds IptablesFirewallDriver\'s chains, as this names)' : ' (not modelled: flatlab builds IptablesFirewallDriver\'s chains)';
  }
  if (name === 'network_size' || name === 'num_networks') return ' (the network is fixed_range; one network)';
  return '';
}

/** A value as the scenario takes it; undefined: nova's own default, written as a substitution (`$my_ip`). */
export function convert(name: string, s: Source): unknown {
  const o = s.opt;
  if (/^\$\{?\w+\}?$/.test(o.value.trim())) return undefined;
  if (BOOLEAN.has(name)) return confBool(o, s.file);
  if (LISTS.has(name)) return o.value.split(',').map((x) => x.trim()).filter((x) => x !== '');
  if (name === 'metadata_port') {
    if (!/^\d+$/.test(o.value)) throw new UserError(`${s.file}:${o.line} metadata_port: "${o.value}" is not a port`);
    return Number(o.value);
  }
  if (name === 'dhcp_lease_time') {
    if (!/^\d+$/.test(o.value)) throw new UserError(`${s.file}:${o.line} dhcp_lease_time: "${o.value}" is not a number of seconds`);
    return Number(o.value);
  }
  if (name === 'network_manager') {
    const short = o.value.split('.').pop()!;
    const full = MANAGERS[short];
    if (!full) {
      throw new UserError(
        `${s.file}:${o.line} network_manager=${o.value}: flatlab models the flat managers only (${FLAT_MANAGER}, ${FLAT_DHCP_MANAGER})` +
          (short === 'VlanManager' ? '; VlanManager gives each project its own VLAN and bridge' : ''),
      );
    }
    return full;
  }
  return o.value;
}

function oneLine(v: string): string {
  return v.replace(/\n/g, ' ');
}

