/** Security groups of a scenario as the firewall and the oracle need them. */
import type { Scenario, SecurityGroupRule } from '../scenario/schema.js';
import { DEFAULT_GROUP, groupSource } from '../scenario/nova-of.js';
import type { RulePlan } from './types.js';

export function planRule(r: SecurityGroupRule): RulePlan {
  const out: RulePlan = { proto: r.proto };
  if (r.port !== undefined) {
    const [a, b] = typeof r.port === 'number' ? [r.port, r.port] : (r.port.split('-').map(Number) as [number, number]);
    out.fromPort = a;
    out.toPort = b;
  }
  if (r.type !== undefined) out.icmpType = r.type;
  if (r.code !== undefined) out.icmpCode = r.code;
  const group = groupSource(r.from);
  if (group !== undefined) out.group = group;
  else out.cidr = r.from;
  return out;
}

/** Every group, `default` included (nova created it empty unless told otherwise). */
export function planSecurityGroups(s: Scenario): Record<string, RulePlan[]> {
  const out: Record<string, RulePlan[]> = { [DEFAULT_GROUP]: [] };
  for (const [name, sg] of Object.entries(s.security_groups)) out[name] = sg.rules.map(planRule);
  return out;
}
