/** `flatlab inspect`: show a live lab: backend, nodes with bridge address and uplink, VMs with MAC, address and gateway, faults, age */
import chalk from 'chalk';
import type { Command } from 'commander';
import { findKeptLab, reattach } from '../../run/runs.js';
import { renderTable } from '../../report/table.js';
import { DEFAULT_VARIANT } from '../../scenario/schema.js';
import { labArguments, labNamed } from './shared.js';
import { DEFAULT_ENGINE, defaultEngineUrl } from '../../backends.js';

export function registerInspect(program: Command): void {
  labArguments(program.command('inspect'), 'which lab, when several are up')
    .option('--json', 'the lab as JSON')
    .description('show a live lab: backend, nodes with bridge address and uplink, VMs with MAC, address and gateway, faults, age')
    .action(async (arg: string | undefined, flags: { run?: string; json?: boolean }) => {
      // read-only: a running lab may be inspected too, when named
      const lab = await findKeptLab(labNamed('inspect', arg, flags.run), true);
      const { plan, backend, clients } = reattach(lab.state);
      const states = await Promise.all(plan.vms.map((v) => backend.readVmState(v, clients[v.name])));
      const ageS = Math.round((Date.now() - Date.parse(lab.state.createdAt)) / 1000);
      const info = {
        prefix: lab.prefix,
        status: lab.status,
        scenario: plan.scenario,
        variant: plan.variant,
        release: plan.release,
        backend: lab.state.backend,
        // the lab's own engines and placement, from its state (not the caller's DOCKER_HOST)
        ...(lab.state.backend === 'docker' ? { engines: lab.state.backendOptions?.engines ?? [{ name: DEFAULT_ENGINE, url: defaultEngineUrl() }], placement: plan.span?.placement ?? null } : {}),
        owner: lab.state.owner,
        ageSeconds: ageS,
        nodes: plan.nodes.map((n) => ({ name: n.name, namespace: n.netns, bridge: n.bridge, bridgeIp: n.bridgeIp, uplink: n.uplink, ...(n.public ? { myIp: n.public.ip, publicInterface: n.public.iface } : {}), vms: n.vms })),
        vms: plan.vms.map((v, i) => ({ name: v.name, node: v.node, mac: states[i]!.mac ?? v.mac, tap: v.tap, address: states[i]!.addresses[0]?.ip ?? null, planned: v.ip, gateway: states[i]!.defaultGateway })),
        faults: plan.faults.map((f) => ({ type: f.type, node: f.node, change: f.change, models: f.models })),
      };
      if (flags.json) {
        process.stdout.write(JSON.stringify(info, null, 2) + '\n');
        return;
      }
      const out = [
        `${chalk.bold(lab.prefix)} ${lab.status}: ${plan.scenario}${plan.variant !== DEFAULT_VARIANT ? ` · variant ${plan.variant}` : ''}, release ${plan.release}, backend ${info.backend}${'engines' in info && info.engines ? ` (${info.engines.map((e) => `${e.name}=${e.url}`).join(', ')})` : ''}, up ${ageS} s, owner ${lab.state.owner.user ?? '?'} pid ${lab.state.owner.pid}`,
        '',
        renderTable(['node', 'bridge', 'address', 'uplink', 'my_ip', 'VMs'], info.nodes.map((n) => [n.name, n.bridge, n.bridgeIp ?? '—', n.uplink, n.myIp ?? '—', n.vms.join(', ')])),
        '',
        renderTable(['VM', 'node', 'tap', 'MAC', 'address', 'gateway'], info.vms.map((v) => [v.name, v.node, v.tap, v.mac, v.address ?? '—', v.gateway ?? '—'])),
        ...(info.faults.length ? ['', ...info.faults.map((f) => chalk.yellow(`  fault ${f.type}${f.node ? ` on ${f.node}` : ''}: ${f.change} (${f.models})`))] : []),
        '',
      ];
      process.stdout.write(out.join('\n'));
    });
}
