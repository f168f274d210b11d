/** Applying the plan's faults: each a real change inside the lab, at its phase. */
import type { ProcessRecord } from '../backend/backend.js';
import type { Plan } from '../plan/types.js';
import type { RunningLab } from './running-lab.js';

type FaultLab = Pick<RunningLab, 'plan' | 'backend'>;

/** The faults that come after the healthy build, in order. */
export async function applyFaults(lab: FaultLab, dhcpReady: Map<string, Promise<unknown>>): Promise<void> {
  await applyFaultList(lab, lab.plan.faults.filter((f) => f.phase === undefined), dhcpReady);
}

/** Faults that hit a guest once it holds its address (a hand-set foreign address), before any probe. */
export async function applyAfterBootFaults(lab: FaultLab): Promise<void> {
  await applyFaultList(lab, lab.plan.faults.filter((f) => f.phase === 'after-boot'), new Map());
}

/** `dhcpReady`: each node's dnsmasq once started (null when a fault kept it from starting). */
export async function applyFaultList(lab: FaultLab, faults: Plan['faults'], dhcpReady: Map<string, Promise<unknown>>): Promise<void> {
  const { plan, backend } = lab;
  for (const f of faults) {
    for (const a of f.actions) {
      if (a.kind === 'exec') {
        const r = await backend.exec(a.target, a.argv, a.input !== undefined ? { input: a.input } : {});
        if (r.exitCode !== 0) throw new Error(`fault ${f.type}: ${a.argv.join(' ')} in ${a.target} failed: ${r.stderr.trim()}`);
      } else {
        const node = plan.nodes.find((n) => n.name === a.node)!;
        await backend.writeFile(node.netns, node.dhcp!.hostsFile, a.text);
        // nova's restart_dhcp: a running dnsmasq re-reads its hosts file on SIGHUP
        const dnsmasq = (await dhcpReady.get(a.node)) as ProcessRecord | null;
        if (dnsmasq) await backend.signal(dnsmasq, 'SIGHUP');
      }
    }
  }
}
