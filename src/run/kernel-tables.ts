/**
 * Loading a node's iptables and ebtables as the plan wrote them, and proving the kernel
 * took them: the checks that follow rest on these rules.
 */
import type { Backend } from '../backend/backend.js';
import { rulesPerChain } from '../net/iptables-save.js';

/**
 * Loads a node's tables and reads them back: a rule the kernel did not take (an iptables
 * that rewrote or refused part of the input) is an error here, not a wrong verdict later.
 */
export async function applyFirewall(backend: Backend, target: string, rules: string): Promise<void> {
  const r = await backend.exec(target, ['iptables-restore'], { input: rules });
  if (r.exitCode !== 0) throw new Error(`iptables-restore in ${target} failed: ${r.stderr.trim()}`);
  const saved = await backend.exec(target, ['iptables-save']);
  const want = rulesPerChain(rules);
  const got = rulesPerChain(saved.stdout);
  const differ = [...want].filter(([chain, n]) => got.get(chain) !== n).map(([chain, n]) => `${chain}: ${got.get(chain) ?? 0} rules of ${n}`);
  if (saved.exitCode !== 0 || differ.length > 0) throw new Error(`the firewall of ${target} is not as loaded: ${saved.exitCode !== 0 ? saved.stderr.trim() : differ.join(', ')}`);
}

/** nova-network's ebtables rules and libvirt's nwfilter on a node's taps, one ebtables command each, in order (before any guest boots). */
export async function applyEbtables(backend: Backend, target: string, rules: string[][]): Promise<void> {
  for (const argv of rules) {
    const r = await backend.exec(target, argv);
    if (r.exitCode !== 0) throw new Error(`${argv.join(' ')} in ${target} failed: ${r.stderr.trim()}`);
  }
}
