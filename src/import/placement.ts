/**
 * Where the imported VMs run: `compute1:2,compute2:2` (counts, VMs named vm_1, vm_2, ...
 * in that order, as the reference scenario names them) or a placement list
 * `web1@compute1,db1@compute2`; both forms mix.
 */
import { UserError } from '../errors.js';
import { NAME_PATTERN } from '../scenario/schema.js';

export interface Placement {
  vm: string;
  node: string;
}

/** at most this many VMs from one --vms: a lab, not a cloud */
const MAX_VMS = 1024;

export function parsePlacement(spec: string): Placement[] {
  const out: Placement[] = [];
  const name = (s: string, what: string): string => {
    if (!NAME_PATTERN.test(s)) throw new UserError(`--vms: ${what} "${s}" must start with a letter and hold at most 15 letters, digits, "_" or "-"`);
    return s;
  };
  const items = spec.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UserError('--vms: empty; write NODE:COUNT,... or VM@NODE,...');
  let counter = 0;
  for (const item of items) {
    const count = /^([^:@]+):(\d+)$/.exec(item);
    const at = /^([^:@]+)@([^:@]+)$/.exec(item);
    if (count) {
      const node = name(count[1]!, 'node');
      const n = Number(count[2]);
      if (out.length + n > MAX_VMS) throw new UserError(`--vms: more than ${MAX_VMS} VMs`);
      for (let k = 0; k < n; k++) out.push({ vm: `vm_${++counter}`, node });
      if (n === 0) out.push({ vm: '', node }); // a node with no VM still exists
    } else if (at) {
      out.push({ vm: name(at[1]!, 'VM'), node: name(at[2]!, 'node') });
    } else {
      throw new UserError(`--vms: "${item}" is neither NODE:COUNT nor VM@NODE`);
    }
  }
  const seen = new Set<string>();
  for (const p of out) {
    if (p.vm === '') continue;
    if (seen.has(p.vm)) throw new UserError(`--vms: ${p.vm} is placed twice`);
    seen.add(p.vm);
  }
  return out;
}
