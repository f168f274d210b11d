/** `flatlab graph`: a plan's topology as Mermaid or Graphviz DOT text. */
import type { Plan } from '../plan/types.js';

const id = (s: string): string => s.replace(/[^A-Za-z0-9_]/g, '_');

export function renderMermaid(p: Plan): string {
  const out = ['flowchart TB', `  fabric(["fabric: flat segment ${p.network.cidr}"])`];
  if (p.fabric.publicBridge) out.push(`  public(["public segment ${p.external?.cidr ?? ''}"])`);
  for (const n of p.nodes) {
    out.push(`  subgraph ${id(n.name)}["${n.name}${n.role === 'network' ? ' (network host)' : ''}"]`);
    out.push(`    ${id(n.name)}_br["${n.bridge} ${n.bridgeIp ?? '(no address)'}"]`);
    for (const vm of p.vms.filter((v) => v.node === n.name)) {
      out.push(`    ${id(vm.name)}["${vm.name} ${vm.ip}<br/>gw ${vm.gateway ?? '-'}"] ---|${vm.tap}| ${id(n.name)}_br`);
    }
    out.push('  end', `  ${id(n.name)}_br ---|${n.uplink}| fabric`);
    if (n.public?.layout === 'two-nics') out.push(`  ${id(n.name)}_br -.-|${n.public.iface} ${n.public.ip}| public`);
  }
  if (p.external) out.push(`  external["external host ${p.external.ip}"] --- ${p.external.segment === 'public' ? 'public' : 'fabric'}`);
  if (p.dhcpServer) out.push(`  dhcp["DHCP server ${p.dhcpServer.ip}"] --- fabric`);
  return out.join('\n') + '\n';
}

export function renderDot(p: Plan): string {
  const q = (s: string): string => `"${s.replace(/"/g, '\\"')}"`;
  const out = ['graph flatlab {', '  rankdir=TB;', '  node [shape=box, fontname="sans-serif"];', `  fabric [label=${q(`fabric\\n${p.network.cidr}`)}, shape=ellipse];`];
  if (p.fabric.publicBridge) out.push(`  public [label=${q(`public\\n${p.external?.cidr ?? ''}`)}, shape=ellipse];`);
  for (const n of p.nodes) {
    out.push(`  subgraph cluster_${id(n.name)} {`, `    label=${q(n.name + (n.role === 'network' ? ' (network host)' : ''))};`);
    out.push(`    ${id(n.name)}_br [label=${q(`${n.bridge}\\n${n.bridgeIp ?? '(no address)'}`)}];`);
    for (const vm of p.vms.filter((v) => v.node === n.name)) {
      out.push(`    ${id(vm.name)} [label=${q(`${vm.name}\\n${vm.ip}\\ngw ${vm.gateway ?? '-'}`)}];`, `    ${id(vm.name)} -- ${id(n.name)}_br [label=${q(vm.tap)}];`);
    }
    out.push('  }', `  ${id(n.name)}_br -- fabric [label=${q(n.uplink)}];`);
    if (n.public?.layout === 'two-nics') out.push(`  ${id(n.name)}_br -- public [style=dashed, label=${q(`${n.public.iface} ${n.public.ip}`)}];`);
  }
  if (p.external) out.push(`  external [label=${q(`external host\\n${p.external.ip}`)}];`, `  external -- ${p.external.segment === 'public' ? 'public' : 'fabric'};`);
  if (p.dhcpServer) out.push(`  dhcp [label=${q(`DHCP server\\n${p.dhcpServer.ip}`)}];`, '  dhcp -- fabric;');
  out.push('}');
  return out.join('\n') + '\n';
}
