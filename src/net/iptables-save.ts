/**
 * iptables-save text (a node's, with or without `-c` counters, or a plan's
 * iptables-restore input) as tables of chains and rules, each rule with its packet
 * counter and a canonical key: two spellings of one rule (nova's `-j ACCEPT -p tcp
 * --dport 22 -s 1.2.3.4`, and iptables-save's `-s 1.2.3.4/32 -p tcp -m tcp --dport 22 -j
 * ACCEPT`) have the same key. The one reader of that text: the lab's read-back of a
 * loaded firewall, the drop counters and `compare` all use it.
 */

export interface Rule {
  chain: string;
  /** the rule as written, after `-A chain` */
  text: string;
  /** order-free, spelling-free identity */
  key: string;
  target: string | null;
  packets: number | null;
}

export interface Table {
  /** built-in chains' policies (user chains: "-") */
  policies: Map<string, string>;
  rules: Rule[];
}

export type Tables = Map<string, Table>;

const LONG: Record<string, string> = {
  '--source': '-s',
  '--destination': '-d',
  '--in-interface': '-i',
  '--out-interface': '-o',
  '--protocol': '-p',
  '--jump': '-j',
  '--match': '-m',
  '--goto': '-g',
};

/** Splits a rule's arguments, keeping iptables-save's quoted comments whole. */
function tokens(text: string): string[] {
  const out: string[] = [];
  const re = /"((?:\\"|[^"])*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) out.push(m[1] ?? m[2]!);
  return out;
}

const withPrefix = (v: string): string => (/^[\d.]+$/.test(v) ? `${v}/32` : v);

/** The canonical key of a rule's arguments. */
export function ruleKey(args: string[]): string {
  const pairs: string[] = [];
  // nova wrote DNAT and SNAT's option by its prefix (`--to`, floating_forward_rules); iptables-save spells it out
  const j = args.findIndex((a) => a === '-j' || a === '--jump');
  const toOption = args[j + 1] === 'DNAT' ? '--to-destination' : args[j + 1] === 'SNAT' ? '--to-source' : '--to';
  for (let k = 0; k < args.length; k++) {
    let neg = '';
    if (args[k] === '!') {
      neg = '!';
      k++;
    }
    const raw = args[k]!;
    const opt = raw === '--to' ? toOption : (LONG[raw] ?? raw);
    const values: string[] = [];
    while (k + 1 < args.length && !args[k + 1]!.startsWith('-') && args[k + 1] !== '!') values.push(args[++k]!);
    let value = values.join(' ');
    // `-m tcp` / `-m udp` / `-m icmp` is implied by `-p` (iptables-save adds it)
    if (opt === '-m' && (value === 'tcp' || value === 'udp' || value === 'icmp')) continue;
    if (opt === '-s' || opt === '-d') value = withPrefix(value);
    // any address: iptables-save leaves it out
    if ((opt === '-s' || opt === '-d') && value === '0.0.0.0/0' && !neg) continue;
    if (opt === '--state' || opt === '--ctstate') value = value.split(',').sort().join(',');
    pairs.push(`${neg}${opt}${value ? `=${value}` : ''}`);
  }
  return pairs.sort().join(' ');
}

export function parseIptablesSave(text: string): Tables {
  const tables: Tables = new Map();
  let current: Table | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) {
      current = { policies: new Map(), rules: [] };
      tables.set(line.slice(1), current);
      continue;
    }
    const chain = /^:(\S+) (\S+)/.exec(line);
    if (chain && current) {
      current.policies.set(chain[1]!, chain[2]!);
      continue;
    }
    const m = /^(?:\[(\d+):\d+\] )?-A (\S+) ?(.*)$/.exec(line);
    if (!m) continue;
    // rule lines before any `*table` (a fragment of the output): the table named ""
    if (!current) tables.set('', (current = { policies: new Map(), rules: [] }));
    const args = tokens(m[3]!);
    const j = args.findIndex((a) => a === '-j' || a === '--jump' || a === '-g' || a === '--goto');
    current.rules.push({ chain: m[2]!, text: m[3]!, key: ruleKey(args), target: j >= 0 ? (args[j + 1] ?? null) : null, packets: m[1] !== undefined ? Number(m[1]) : null });
  }
  return tables;
}


/** A rule as iptables-save prints it: `-A chain args`. */
export function ruleLine(r: Pick<Rule, 'chain' | 'text'>): string {
  return `-A ${r.chain}${r.text ? ` ${r.text}` : ''}`;
}

/** `table/chain` -> number of rules, from iptables-restore input or iptables-save output. */
export function rulesPerChain(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [table, t] of parseIptablesSave(text)) {
    for (const r of t.rules) out.set(`${table}/${r.chain}`, (out.get(`${table}/${r.chain}`) ?? 0) + 1);
  }
  return out;
}
