/**
 * nova.conf files -> a flatlab scenario (`flatlab import`). Every option flatlab models
 * is mapped, with its source line written beside it; every other option is listed in
 * the file's header as ignored; options that nodes disagree on are written per node
 * where a scenario can say so (nodes.X.nova), and named where it cannot. Pure: parsed
 * files in, YAML text out; the text is validated as any scenario is before it is
 * returned, and a value the scenario refuses is reported at its nova.conf line.
 */
import { Document, isScalar, type Scalar } from 'yaml';
import { UserError } from '../errors.js';
import type { Release } from '../nova/releases.js';
import { parseScenarioFile } from '../scenario/load.js';
import { FLAT_DHCP_MANAGER, FLAT_MANAGER, NAME_PATTERN } from '../scenario/schema.js';
import { confBool, maskedValue, type ConfOption, type ParsedConf } from './nova-conf.js';
import { parseNetworkCreate, type NetworkCreate } from './network-create.js';
import { parsePlacement, type Placement } from './placement.js';

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

export interface Imported {
  text: string;
  /** `file:line name=value` of every option not modelled (secrets masked) */
  ignored: string[];
  /** what else the reader should know (differences between nodes, defaults chosen) */
  notes: string[];
  /** mistakes nova accepted, as the loader warns of them */
  warnings: string[];
}

/** Options that are one value for the whole network in a scenario. */
const CLUSTER = ['network_manager', 'multi_host', 'fixed_range', 'flat_network_bridge', 'flat_injected', 'flat_network_dns', 'dhcp_lease_time', 'dhcp_domain'] as const;
/** Options a scenario can set per node (nodes.X.nova), as nodes did differ in them. */
const PER_NODE = ['flat_interface', 'public_interface', 'allow_same_net_traffic', 'routing_source_ip', 'metadata_host'] as const;
/** Options nova-network's nat table and dnsmasq read (linux_net.py), one value for the cluster in a scenario. */
const CLUSTER_MORE = ['dmz_cidr', 'force_snat_range', 'dns_server', 'use_network_dns_servers', 'metadata_port'] as const;
const BOOLEAN = new Set(['multi_host', 'flat_injected', 'allow_same_net_traffic', 'use_network_dns_servers']);
/** ListOpts (and Essex's StrOpts of the same name): comma-separated */
const LISTS = new Set(['dmz_cidr', 'force_snat_range', 'dns_server']);
const MANAGERS: Record<string, string> = { FlatManager: FLAT_MANAGER, FlatDHCPManager: FLAT_DHCP_MANAGER };
/** What the imported lab's chains are: nova-compute's IptablesFirewallDriver (libvirt's wraps it). */
const MODELLED_FIREWALL = /(^|\.)IptablesFirewallDriver$/;

interface Source {
  file: string;
  opt: ConfOption;
  /** the column in a pasted line (--network-create) */
  col?: number;
}

export function importScenario(i: ImportInputs): Imported {
  if (i.shared.length === 0 && i.perNode.length === 0) throw new UserError('import: give at least one nova.conf');
  const ignored: string[] = [];
  const notes: string[] = [];
  const create = i.networkCreate !== undefined ? parseNetworkCreate(i.networkCreate) : null;
  const placement = nodesAndVms(i, create);
  const allConfs = [...i.shared, ...i.perNode.map((p) => p.conf)];
  const flagfiles = allConfs.filter((c) => c.style === 'flagfile');
  if (flagfiles.length > 0 && i.release === undefined) {
    // nova/compat/flagfile.py translated flagfiles in 2012.1 and 2012.2 (gone at 2013.1): the release is the operator's to say
    notes.push(`${flagfiles[0]!.file} is a flagfile, which nova read until Folsom (2012.2; Grizzly dropped nova/compat/flagfile.py): the scenario builds havana unless told, pass --release essex or folsom`);
  }
  // every node named, with VMs or without (a single host's network node runs nova-network and no guest)
  const nodeNames = [...new Set([...i.perNode.map((p) => p.node), ...placement.map((p) => p.node)])];
  const withoutVms = nodeNames.filter((n) => !placement.some((p) => p.node === n && p.vm !== ''));

  // each node's view: shared files, then its own, the last assignment winning (as nova read them)
  const views = new Map<string, Map<string, Source>>();
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

  const sources = new Map<string, Source>();
  const valueOf = (node: string, name: string): Source | undefined => views.get(node)!.get(name);
  const nova: Record<string, unknown> = {};
  for (const name of [...CLUSTER, ...CLUSTER_MORE]) {
    const per = nodeNames.map((n) => valueOf(n, name));
    const first = per.find((s) => s !== undefined);
    if (!first) continue;
    const distinct = new Set(per.map((s) => (s ? s.opt.value : '(unset)')));
    if (distinct.size > 1) {
      notes.push(
        `${name} differs between nodes (${nodeNames.map((n, k) => `${n}: ${per[k] ? per[k]!.opt.value : 'unset'}`).join(', ')}); ` +
          `a scenario has one ${name}: the value of ${first.file}:${first.opt.line} was taken`,
      );
    }
    const value = convert(name, first);
    if (value === undefined) continue;
    nova[name] = value;
    sources.set(`nova.${name}`, first);
  }
  const network: Record<string, unknown> = {};
  if (create) applyNetworkCreate(create, nova, network, sources, notes);
  if (network.cidr === undefined && (nova.fixed_range === undefined || nova.fixed_range === '')) {
    const src = sources.get('nova.fixed_range');
    const files = allConfs.map((c) => c.file).join(', ');
    throw new UserError(
      src
        ? `${src.file}:${src.opt.line} fixed_range is empty: nova then took each network's cidr from the networks nova-manage network create made (devstack's way); pass that line: --network-create "nova-manage network create --fixed_range_v4=<CIDR> ..."`
        : `${files}: no fixed_range, so the network's CIDR is unknown: add fixed_range=<CIDR> or pass the line that created it (--network-create "nova-manage network create ...")`,
    );
  }
  if (network.cidr !== undefined && typeof nova.fixed_range === 'string' && nova.fixed_range !== '' && nova.fixed_range !== network.cidr) {
    const src = sources.get('nova.fixed_range')!;
    notes.push(
      `fixed_range=${nova.fixed_range} (${src.file}:${src.opt.line}) is not the network ${String(network.cidr)} (--network-create): up to Grizzly nova-network built its SNAT rule and POSTROUTING accepts from the option, addresses and dnsmasq from the network; the scenario keeps both (nova.fixed_range, network.cidr)`,
    );
  }

  const nodes: Record<string, Record<string, unknown>> = {};
  for (const name of nodeNames) nodes[name] = {};
  /** a value of this node's own nova.conf, under nodes.X.nova */
  const setNodeNova = (n: string, key: string, value: unknown): void => {
    nodes[n]!.nova = { ...((nodes[n]!.nova as Record<string, unknown> | undefined) ?? {}), [key]: value };
  };
  for (const name of PER_NODE) {
    const per = nodeNames.map((n) => valueOf(n, name));
    const values = new Set(per.map((s) => (s ? s.opt.value : undefined)));
    if (values.size === 1 && per[0]) {
      const value = convert(name, per[0]);
      if (value === undefined) continue;
      nova[name] = value;
      sources.set(`nova.${name}`, per[0]);
    } else if (values.size > 1) {
      nodeNames.forEach((n, k) => {
        const s = per[k];
        if (!s) return;
        const value = convert(name, s);
        if (value === undefined) return;
        setNodeNova(n, name, value);
        sources.set(`nodes.${n}.nova.${name}`, s);
      });
    }
  }
  if (create?.bridgeInterface !== undefined) {
    // plug() took `FLAGS.flat_interface or network['bridge_interface']` (linux_net.py
    // LinuxBridgeInterfaceDriver.plug, 2012.1 to 2013.2): nova.conf wins where it is set
    const unset = nodeNames.filter((n) => !valueOf(n, 'flat_interface'));
    if (unset.length === nodeNames.length) nova.flat_interface = create.bridgeInterface;
    else for (const n of unset) setNodeNova(n, 'flat_interface', create.bridgeInterface);
    if (unset.length < nodeNames.length) notes.push(`--bridge_interface=${create.bridgeInterface} applies only where nova.conf sets no flat_interface (plug() preferred the flag)`);
  }
  if (nova.multi_host !== true) {
    // multi_host False: one node ran nova-network (the controller): a node given without
    // VMs is that one, else the first
    const host = withoutVms[0] ?? nodeNames[0]!;
    nodes[host]!.role = 'network';
    notes.push(`multi_host is False: ${host} is the network host (nova-network, dnsmasq, gateway of every VM)${withoutVms[0] ? ', the node given without VMs' : ''}`);
  }
  for (const n of withoutVms) if (nodes[n]!.role !== 'network') notes.push(`${n} has no VM: kept in the scenario (it runs nova-network${nova.multi_host === true ? ' for no guest' : ''})`);
  // the way out and my_ip
  let external: Record<string, unknown> | undefined;
  if (i.external !== undefined) {
    external = { cidr: i.external };
    for (const n of nodeNames) {
      const s = valueOf(n, 'my_ip');
      if (s) {
        nodes[n]!.my_ip = s.opt.value;
        sources.set(`nodes.${n}.my_ip`, s);
      }
    }
  }

  const vms: Record<string, { host: string }> = {};
  for (const p of placement) if (p.vm !== '') vms[p.vm] = { host: p.node };

  const name = i.name ?? 'imported';
  const scenario: Record<string, unknown> = {
    name,
    description: `Imported from ${[...i.shared.map((c) => c.file), ...i.perNode.map((p) => `${p.node}=${p.conf.file}`)].join(', ')}`,
    ...(i.release ? { release: i.release } : {}),
    nova,
    ...(Object.keys(network).length ? { network } : {}),
    nodes,
    vms,
    ...(external ? { external } : {}),
  };

  const text = render(scenario, sources, i, ignored, notes);
  let warnings: string[];
  try {
    // positioned where the value came from (no YAML file was written yet)
    warnings = parseScenarioFile(text, `${name}.yaml`).warnings.map((l) => pointAtSource(l, sources));
  } catch (err) {
    if (err instanceof UserError) throw new UserError(err.lines.map((l) => pointAtSource(l, sources)));
    throw err;
  }
  return { text, ignored, notes, warnings };
}

function nodesAndVms(i: ImportInputs, create: NetworkCreate | null): Placement[] {
  const declared = [...new Set(i.perNode.map((p) => p.node))];
  for (const n of declared) if (!NAME_PATTERN.test(n)) throw new UserError(`--node ${n}=...: "${n}" must start with a letter and hold at most 15 letters, digits, "_" or "-"`);
  if (i.vms !== undefined) {
    const placed = parsePlacement(i.vms);
    const unknown = placed.find((p) => declared.length > 0 && !declared.includes(p.node));
    if (unknown) throw new UserError(`--vms: ${unknown.node} is not one of the --node names (${declared.join(', ')})`);
    return placed;
  }
  // defaults: two VMs per node, as the reference cluster had; with no node named,
  // the reference's two compute nodes (or a controller and a compute node without multi_host)
  // no node named: only the shared files are there, read as nova read them (the last [DEFAULT] assignment)
  const said = lastAssignment(i.shared, 'multi_host');
  const multiHost = create?.multiHost ?? (said ? confBool(said.opt, said.file) : false);
  const nodes = declared.length > 0 ? declared : multiHost ? ['compute1', 'compute2'] : ['controller', 'compute1'];
  return parsePlacement(nodes.map((n) => `${n}:2`).join(','));
}

/** An option's name as the import matches it: dashes read as underscores (`flat-interface` is flat_interface). */
function optionName(opt: ConfOption): string {
  return opt.name.replace(/-/g, '_');
}

/** What nova read for `name` from these files: their last [DEFAULT] assignment, later files winning. */
function lastAssignment(confs: ParsedConf[], name: string): Source | undefined {
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
function convert(name: string, s: Source): unknown {
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

/**
 * The pasted `nova-manage network create` line: the network row (cidr, label, gateway,
 * dhcp_start, dns1, dns2 under network:), its bridge and multi_host. Each value's source
 * is the line itself, at the option's column.
 */
function applyNetworkCreate(c: NetworkCreate, nova: Record<string, unknown>, network: Record<string, unknown>, sources: Map<string, Source>, notes: string[]): void {
  const from = (flag: string, value: string): Source => ({ file: '--network-create', opt: { name: `--${flag}`, value, line: 1, section: 'DEFAULT' }, col: c.columns[flag] ?? 1 });
  const setNova = (key: string, value: unknown, flag: string): void => {
    const before = nova[key];
    if (before !== undefined && before !== value) {
      const src = sources.get(`nova.${key}`);
      notes.push(`${key}: nova.conf says ${before === '' ? '(empty)' : String(before)}${src ? ` (${src.file}:${src.opt.line})` : ''}, the network was created with --${flag}=${String(value)}; the network's value was taken`);
    }
    nova[key] = value;
    sources.set(`nova.${key}`, from(flag, String(value)));
  };
  const setNetwork = (key: string, value: string | undefined, flag: string): void => {
    if (value === undefined) return;
    network[key] = value;
    sources.set(`network.${key}`, from(flag, value));
  };
  setNetwork('cidr', c.cidr, 'fixed_range_v4');
  setNetwork('label', c.label, 'label');
  setNetwork('gateway', c.gateway, 'gateway');
  setNetwork('dhcp_start', c.dhcpStart, 'dhcp_start');
  setNetwork('dns1', c.dns1, 'dns1');
  setNetwork('dns2', c.dns2, 'dns2');
  if (c.bridge) setNova('flat_network_bridge', c.bridge, 'bridge');
  if (c.multiHost !== undefined) setNova('multi_host', c.multiHost, 'multi_host');
  for (const n of c.ignored) notes.push(`network create: ${n} not modelled`);
}

function oneLine(v: string): string {
  return v.replace(/\n/g, ' ');
}

/** The YAML, with each mapped value's source beside it and the ignored options on top. */
function render(scenario: Record<string, unknown>, sources: Map<string, Source>, i: ImportInputs, ignored: string[], notes: string[]): string {
  const doc = new Document(scenario);
  for (const [path, s] of sources) {
    const node = doc.getIn(path.split('.'), true);
    if (isScalar(node)) (node as Scalar).comment = ` ${s.file}:${s.opt.line}${s.col !== undefined ? `:${s.col}` : ''}`;
  }
  const files = [...i.shared.map((c) => `${c.file} (${c.style === 'flagfile' ? 'Essex flagfile' : 'INI'})`), ...i.perNode.map((p) => `${p.node}: ${p.conf.file} (${p.conf.style === 'flagfile' ? 'Essex flagfile' : 'INI'})`)];
  const header = [
    `Written by flatlab import from ${files.join(', ')}.`,
    'Each value from nova.conf names its file and line; everything else is flatlab\'s default.',
    ...notes.map((n) => `note: ${n}`),
    ...(ignored.length > 0 ? ['ignored (flatlab does not model these options):', ...ignored.map((l) => `  ${l}`)] : ['ignored: nothing, every option is modelled']),
  ];
  doc.commentBefore = header.map((l) => ` ${l}`).join('\n');
  return doc.toString({ lineWidth: 0 });
}

/**
 * `name.yaml:3:5 nova.fixed_range: msg` -> `nova.conf:4 fixed_range=...: msg` when the field
 * came from a file, `--network-create:1:20 --fixed_range_v4=...: msg` from the pasted line;
 * otherwise the field of the scenario import would have written (no file was written).
 */
function pointAtSource(line: string, sources: Map<string, Source>): string {
  const m = /^\S+:\d+:\d+ ([\w.-]+): (.*)$/.exec(line);
  if (!m) return line;
  const path = m[1]!;
  const s = sources.get(path) ?? sources.get(path.split('.').slice(0, -1).join('.'));
  if (!s) return `import: the scenario's ${path}: ${m[2]}`;
  // a comment after a value was part of it for nova: say so where it made the value wrong
  const trailing = /\s[#;]/.test(s.opt.value) ? " (nova's iniparser knew comment lines only: what follows a value on its line is part of the value)" : '';
  return `${s.file}:${s.opt.line}${s.col !== undefined ? `:${s.col}` : ''} ${s.opt.name}=${maskedValue(s.opt.name, s.opt.value)}: ${m[2]}${trailing}`;
}
