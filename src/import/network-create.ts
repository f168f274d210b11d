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
  gateway?: string;
  dhcpStart?: string;
  dns2?: string;
  /** the line as given and each option's 1-based column in it, so annotations and errors can point into it */
  text: string;
  columns: Record<string, number>;
  bridge?: string;
  bridgeInterface?: string;
  /** nova-manage: `multi_host == 'T'`; unset, the nova.conf flag decided */
  multiHost?: boolean;
  dns1?: string;
  /** options given that flatlab does not model, as written */
  ignored: string[];
}

const POSITIONAL = ['label', 'fixed_range_v4', 'num_networks', 'network_size', 'multi_host'];

/**
 * Splits as the shell split the line the operator typed, before nova-manage saw it:
 * single quotes literal, double quotes with backslash escapes, a backslash outside
 * quotes escaping the next character, quoted and bare parts joined into one word
 * (`--multi_host='T'` is `--multi_host=T`). Each word keeps its 1-based column.
 */
export function shellWords(line: string): { word: string; col: number }[] {
  const out: { word: string; col: number }[] = [];
  let k = 0;
  while (k < line.length) {
    while (k < line.length && /\s/.test(line[k]!)) k++;
    if (k >= line.length) break;
    const col = k + 1;
    let word = '';
    while (k < line.length && !/\s/.test(line[k]!)) {
      const c = line[k]!;
      if (c === "'") {
        const end = line.indexOf("'", k + 1);
        if (end < 0) throw new UserError(`--network-create:1:${k + 1} a quote (') that is never closed`);
        word += line.slice(k + 1, end);
        k = end + 1;
      } else if (c === '"') {
        k++;
        while (k < line.length && line[k] !== '"') {
          if (line[k] === '\\' && k + 1 < line.length && '"\\$`'.includes(line[k + 1]!)) k++;
          word += line[k++];
        }
        if (k >= line.length) throw new UserError(`--network-create:1:${col} a quote (") that is never closed`);
        k++;
      } else if (c === '\\' && k + 1 < line.length) {
        word += line[k + 1];
        k += 2;
      } else {
        word += c;
        k++;
      }
    }
    out.push({ word, col });
  }
  return out;
}

export function parseNetworkCreate(line: string): NetworkCreate {
  const all = shellWords(line);
  // a prompt or sudo before the command, as guides printed it
  const start = all.findIndex((x) => x.word !== '$' && x.word !== '#' && x.word !== 'sudo');
  const w = all.slice(Math.max(0, start));
  const at = w.findIndex((x, k) => x.word === 'create' && w[k - 1]?.word === 'network');
  if (at < 0) throw new UserError(`--network-create: expected a "nova-manage network create ..." line, found ${JSON.stringify(line.slice(0, 80))}`);
  const opts: Record<string, { value: string; col: number }> = {};
  const positional: { word: string; col: number }[] = [];
  const rest = w.slice(at + 1);
  for (let k = 0; k < rest.length; k++) {
    const x = rest[k]!;
    if (x.word.startsWith('--')) {
      const eq = x.word.indexOf('=');
      if (eq >= 0) opts[x.word.slice(2, eq)] = { value: x.word.slice(eq + 1), col: x.col };
      else if (rest[k + 1] !== undefined && !rest[k + 1]!.word.startsWith('--')) opts[x.word.slice(2)] = { value: rest[++k]!.word, col: x.col };
      else throw new UserError(`--network-create:1:${x.col} ${x.word} has no value`);
    } else positional.push(x);
  }
  positional.forEach((v, k) => {
    const name = POSITIONAL[k];
    if (name === undefined) throw new UserError(`--network-create:1:${v.col} too many positional arguments (${positional.map((p) => p.word).join(' ')}); nova-manage took ${POSITIONAL.join(', ')}`);
    opts[name] ??= { value: v.word, col: v.col };
  });
  const out: NetworkCreate = { ignored: [], text: line, columns: {} };
  for (const [k, { value: v, col }] of Object.entries(opts)) {
    out.columns[k] = col;
    if (k === 'label') out.label = v;
    else if (k === 'fixed_range_v4') out.cidr = v;
    else if (k === 'bridge') out.bridge = v;
    else if (k === 'bridge_interface') out.bridgeInterface = v;
    // nova-manage NetworkCommands.create: `multi_host == 'T'` (2012.1-2013.2), after the shell took the quotes
    else if (k === 'multi_host') out.multiHost = v === 'T';
    else if (k === 'dns1') out.dns1 = v;
    else if (k === 'dns2') out.dns2 = v;
    else if (k === 'gateway') out.gateway = v;
    else if (k === 'dhcp_start') out.dhcpStart = v;
    else out.ignored.push(`--${k}=${v}`);
  }
  return out;
}
