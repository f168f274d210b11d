/**
 * A pasted `nova-manage network create ...` line: the network's CIDR, bridge, uplink and
 * multi_host as the network was created (bin/nova-manage NetworkCommands.create at
 * 2012.1). Both forms of the time: options (`--fixed_range_v4=10.0.0.0/24 --label=private`)
 * and Diablo's positional `network create private 10.0.0.0/24 1 256`, which nova-manage
 * passed to create() in its argument order (label, fixed_range_v4, num_networks,
 * network_size, multi_host, ...).
 */
import { UserError } from '../errors.js';

export interface NetworkCreate {
  label?: string;
  cidr?: string;
  bridge?: string;
  bridgeInterface?: string;
  /** nova-manage: `multi_host == 'T'`; unset, the nova.conf flag decided */
  multiHost?: boolean;
  dns1?: string;
  /** options given that flatlab does not model, as written */
  ignored: string[];
}

const POSITIONAL = ['label', 'fixed_range_v4', 'num_networks', 'network_size', 'multi_host'];

/** Splits like a shell for the simple quoting such lines use ('...' and "..."). */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"([^"]*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) out.push(m[1] ?? m[2] ?? m[3]!);
  return out;
}

export function parseNetworkCreate(line: string): NetworkCreate {
  const w = words(line.trim().replace(/^\$\s*/, '').replace(/^sudo\s+/, ''));
  const at = w.findIndex((x, k) => x === 'create' && w[k - 1] === 'network');
  if (at < 0) throw new UserError(`--network-create: expected a "nova-manage network create ..." line, found ${JSON.stringify(line.slice(0, 80))}`);
  const opts: Record<string, string> = {};
  const positional: string[] = [];
  const rest = w.slice(at + 1);
  for (let k = 0; k < rest.length; k++) {
    const x = rest[k]!;
    if (x.startsWith('--')) {
      const eq = x.indexOf('=');
      if (eq >= 0) opts[x.slice(2, eq)] = x.slice(eq + 1);
      else if (rest[k + 1] !== undefined && !rest[k + 1]!.startsWith('--')) opts[x.slice(2)] = rest[++k]!;
      else throw new UserError(`--network-create: ${x} has no value`);
    } else positional.push(x);
  }
  positional.forEach((v, k) => {
    const name = POSITIONAL[k];
    if (name === undefined) throw new UserError(`--network-create: too many positional arguments (${positional.join(' ')}); nova-manage took ${POSITIONAL.join(', ')}`);
    opts[name] ??= v;
  });
  const out: NetworkCreate = { ignored: [] };
  for (const [k, v] of Object.entries(opts)) {
    if (k === 'label') out.label = v;
    else if (k === 'fixed_range_v4') out.cidr = v;
    else if (k === 'bridge') out.bridge = v;
    else if (k === 'bridge_interface') out.bridgeInterface = v;
    else if (k === 'multi_host') out.multiHost = v === 'T';
    else if (k === 'dns1') out.dns1 = v;
    else out.ignored.push(`--${k}=${v}`);
  }
  return out;
}
