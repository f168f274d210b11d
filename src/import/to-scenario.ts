/**
 * nova.conf files -> a flatlab scenario (`flatlab import`). Every option flatlab models
 * is mapped, with its source line written beside it; every other option is listed in
 * the file's header as ignored; options that nodes disagree on are written per node
 * where a scenario can say so (nodes.X.nova), and named where it cannot. Pure: parsed
 * files in, a typed scenario with its source map (and its YAML text) out; the scenario
 * is validated once, as data, and a value it refuses is reported at its nova.conf line.
 */
import { Document, isScalar, type Scalar } from 'yaml';
import { UserError } from '../errors.js';
import { fieldName, type FieldPath, type Problem } from '../scenario/problem.js';
import { NAME_PATTERN, type Scenario } from '../scenario/schema.js';
import { validateScenario } from '../scenario/validate.js';
import { confBool, maskedValue, type ParsedConf } from './nova-conf.js';
import { parseNetworkCreate, type NetworkCreate } from './network-create.js';
import { CLUSTER, CLUSTER_MORE, convert, lastAssignment, nodeViews, PER_NODE, type ImportInputs, type Source } from './options.js';
import { parsePlacement, type Placement } from './placement.js';

export type { ImportInputs } from './options.js';

/** The scenario as data, before validation: what a caller may still change (compare's model adds the collected instances). */
export type ScenarioData = Record<string, unknown> & {
  nova: Record<string, unknown>;
  nodes: Record<string, Record<string, unknown>>;
  vms: Record<string, Record<string, unknown>>;
};

export interface Imported {
  /** the scenario as data and as validated */
  data: ScenarioData;
  scenario: Scenario;
  /** each value's origin, by its path in the scenario (`nova.fixed_range`, `nodes.c1.nova.flat_interface`); a value not here is flatlab's default */
  sources: Map<string, Source>;
  /** the YAML, each value's source beside it */
  text: string;
  /** `file:line name=value` of every option not modelled (secrets masked) */
  ignored: string[];
  /** what else the reader should know (differences between nodes, defaults chosen) */
  notes: string[];
  /** mistakes nova accepted, as the loader warns of them, at their nova.conf lines */
  warnings: string[];
}

export function importScenario(i: ImportInputs): Imported {
  if (i.shared.length === 0 && i.perNode.length === 0) throw new UserError('import: give at least one nova.conf');
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
  const { views, ignored } = nodeViews(i, nodeNames);
  const read: Reading = { nodeNames, valueOf: (node, name) => views.get(node)!.get(name), sources: new Map(), notes };
  const nova = clusterOptions(read);
  const network: Record<string, unknown> = {};
  if (create) applyNetworkCreate(create, nova, network, read.sources, notes);
  requireNetwork(nova, network, read.sources, allConfs);
  if (network.cidr !== undefined && typeof nova.fixed_range === 'string' && nova.fixed_range !== '' && nova.fixed_range !== network.cidr) {
    const src = read.sources.get('nova.fixed_range')!;
    notes.push(
      `fixed_range=${nova.fixed_range} (${src.file}:${src.opt.line}) is not the network ${String(network.cidr)} (--network-create): up to Grizzly nova-network built its SNAT rule and POSTROUTING accepts from the option, addresses and dnsmasq from the network; the scenario keeps both (nova.fixed_range, network.cidr)`,
    );
  }
  const nodes = nodeOptions(read, nova, create);
  const withoutVms = nodeNames.filter((n) => !placement.some((p) => p.node === n && p.vm !== ''));
  assignRoles(read, nova, nodes, withoutVms);
  if (i.external !== undefined) {
    for (const n of nodeNames) {
      const s = read.valueOf(n, 'my_ip');
      if (!s) continue;
      nodes[n]!.my_ip = s.opt.value;
      read.sources.set(`nodes.${n}.my_ip`, s);
    }
  }
  const vms: Record<string, Record<string, unknown>> = {};
  for (const p of placement) if (p.vm !== '') vms[p.vm] = { host: p.node };
  const data: ScenarioData = {
    name: i.name ?? 'imported',
    description: `Imported from ${[...i.shared.map((c) => c.file), ...i.perNode.map((p) => `${p.node}=${p.conf.file}`)].join(', ')}`,
    ...(i.release ? { release: i.release } : {}),
    nova,
    ...(Object.keys(network).length ? { network } : {}),
    nodes,
    vms,
    ...(i.external !== undefined ? { external: { cidr: i.external } } : {}),
  };
  const { scenario, warnings } = validateImported(data, read.sources);
  return { data, scenario, sources: read.sources, text: render(data, read.sources, i, ignored, notes), ignored, notes, warnings };
}

/**
 * Validates imported data once, each problem said at the nova.conf line (or the flag)
 * its value came from (no YAML file was written yet).
 */
export function validateImported(data: ScenarioData, sources: Map<string, Source>): { scenario: Scenario; warnings: string[] } {
  const v = validateScenario(data);
  if (v.scenario === null) throw new UserError(v.errors.map((p) => atSource(p, sources)));
  return { scenario: v.scenario, warnings: v.warnings.map((p) => atSource(p, sources)) };
}

/** What every step of the import reads: the nodes, each node's view of its options, the source map and the notes. */
interface Reading {
  nodeNames: string[];
  valueOf(node: string, name: string): Source | undefined;
  sources: Map<string, Source>;
  notes: string[];
}

/** The options a scenario holds once for the network: the first node's value, a difference named. */
function clusterOptions(r: Reading): Record<string, unknown> {
  const nova: Record<string, unknown> = {};
  for (const name of [...CLUSTER, ...CLUSTER_MORE]) {
    const per = r.nodeNames.map((n) => r.valueOf(n, name));
    const first = per.find((s) => s !== undefined);
    if (!first) continue;
    const distinct = new Set(per.map((s) => (s ? s.opt.value : '(unset)')));
    if (distinct.size > 1) {
      const each = r.nodeNames.map((n, k) => `${n}: ${per[k] ? per[k]!.opt.value : 'unset'}`).join(', ');
      r.notes.push(`${name} differs between nodes (${each}); a scenario has one ${name}: the value of ${first.file}:${first.opt.line} was taken`);
    }
    const value = convert(name, first);
    if (value === undefined) continue;
    nova[name] = value;
    r.sources.set(`nova.${name}`, first);
  }
  return nova;
}

/** The network's block, from the option or the pasted create line; without either nothing can be built. */
function requireNetwork(nova: Record<string, unknown>, network: Record<string, unknown>, sources: Map<string, Source>, allConfs: ParsedConf[]): void {
  if (network.cidr === undefined && (nova.fixed_range === undefined || nova.fixed_range === '')) {
    const src = sources.get('nova.fixed_range');
    const files = allConfs.map((c) => c.file).join(', ');
    throw new UserError(
      src
        ? `${src.file}:${src.opt.line} fixed_range is empty: nova then took each network's cidr from the networks nova-manage network create made (devstack's way); pass that line: --network-create "nova-manage network create --fixed_range_v4=<CIDR> ..."`
        : `${files}: no fixed_range, so the network's CIDR is unknown: add fixed_range=<CIDR> or pass the line that created it (--network-create "nova-manage network create ...")`,
    );
  }
}

/** The options nodes may hold apart: one value for all where they agree, else each node's own (nodes.X.nova). */
function nodeOptions(r: Reading, nova: Record<string, unknown>, create: NetworkCreate | null): Record<string, Record<string, unknown>> {
  const nodes: Record<string, Record<string, unknown>> = Object.fromEntries(r.nodeNames.map((n) => [n, {}]));
  const setNodeNova = (n: string, key: string, value: unknown): void => {
    nodes[n]!.nova = { ...((nodes[n]!.nova as Record<string, unknown> | undefined) ?? {}), [key]: value };
  };
  for (const name of PER_NODE) {
    const per = r.nodeNames.map((n) => r.valueOf(n, name));
    const values = new Set(per.map((s) => (s ? s.opt.value : undefined)));
    if (values.size === 1 && per[0]) {
      const value = convert(name, per[0]);
      if (value === undefined) continue;
      nova[name] = value;
      r.sources.set(`nova.${name}`, per[0]);
    } else if (values.size > 1) {
      r.nodeNames.forEach((n, k) => {
        const s = per[k];
        const value = s && convert(name, s);
        if (!s || value === undefined) return;
        setNodeNova(n, name, value);
        r.sources.set(`nodes.${n}.nova.${name}`, s);
      });
    }
  }
  if (create?.bridgeInterface !== undefined) {
    // plug() took `FLAGS.flat_interface or network['bridge_interface']` (linux_net.py
    // LinuxBridgeInterfaceDriver.plug, 2012.1 to 2013.2): nova.conf wins where it is set
    const unset = r.nodeNames.filter((n) => !r.valueOf(n, 'flat_interface'));
    if (unset.length === r.nodeNames.length) nova.flat_interface = create.bridgeInterface;
    else for (const n of unset) setNodeNova(n, 'flat_interface', create.bridgeInterface);
    if (unset.length < r.nodeNames.length) r.notes.push(`--bridge_interface=${create.bridgeInterface} applies only where nova.conf sets no flat_interface (plug() preferred the flag)`);
  }
  return nodes;
}

/**
 * multi_host False: one node ran nova-network (the controller): a node given without VMs
 * is that one, else the first. Nodes without VMs are kept, and said so.
 */
function assignRoles(r: Reading, nova: Record<string, unknown>, nodes: Record<string, Record<string, unknown>>, withoutVms: string[]): void {
  if (nova.multi_host !== true) {
    const host = withoutVms[0] ?? r.nodeNames[0]!;
    nodes[host]!.role = 'network';
    r.notes.push(`multi_host is False: ${host} is the network host (nova-network, dnsmasq, gateway of every VM)${withoutVms[0] ? ', the node given without VMs' : ''}`);
  }
  for (const n of withoutVms) if (nodes[n]!.role !== 'network') r.notes.push(`${n} has no VM: kept in the scenario (it runs nova-network${nova.multi_host === true ? ' for no guest' : ''})`);
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
 * A problem at the source of the field it blames: `nova.conf:4 fixed_range=...: msg` for
 * a value from a file, `--network-create:1:20 --fixed_range_v4=...: msg` for one from the
 * pasted line, else the scenario's field (a default of flatlab's, or a value it derived).
 * The nearest ancestor with a source answers for a field within it (a list's item).
 */
function atSource(p: Problem, sources: Map<string, Source>): string {
  const message = `${p.warning ? 'warning: ' : ''}${p.message}`;
  let s: Source | undefined;
  for (let n = p.path.length; n > 0 && !s; n--) s = sources.get(p.path.slice(0, n).join('.'));
  if (!s) return `import: the scenario's ${fieldName(p.path as FieldPath)}: ${message}`;
  // a comment after a value was part of it for nova: say so where it made the value wrong
  const trailing = /\s[#;]/.test(s.opt.value) ? " (nova's iniparser knew comment lines only: what follows a value on its line is part of the value)" : '';
  return `${s.file}:${s.opt.line}${s.col !== undefined ? `:${s.col}` : ''} ${s.opt.name}=${maskedValue(s.opt.name, s.opt.value)}: ${message}${trailing}`;
}
