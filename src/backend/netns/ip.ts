/**
 * Running iproute2. One `ip -batch` process per namespace: iproute2 6.1 rejects a
 * per-line `-n NS` inside a batch (kernel-recipes.md).
 */
import { execa } from 'execa';

export class CommandError extends Error {
  constructor(readonly argv: string[], readonly stderr: string, readonly exitCode: number | undefined) {
    super(`${argv.join(' ')} failed (exit ${exitCode ?? '?'}): ${stderr.trim().split('\n').slice(-3).join(' / ')}`);
    this.name = 'CommandError';
  }
}

/** Runs `ip [-n NETNS] -batch -` with the given lines on stdin. */
export function ipBatch(netns: string | null, lines: string[]): Promise<void> {
  return batch('ip', netns, lines);
}

/** Runs `bridge [-n NETNS] -batch -` (fdb, link, vlan lines) the same way. */
export function bridgeBatch(netns: string | null, lines: string[]): Promise<void> {
  return batch('bridge', netns, lines);
}

async function batch(cmd: 'ip' | 'bridge', netns: string | null, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  const argv = [...(netns ? ['-n', netns] : []), '-batch', '-'];
  const r = await execa(cmd, argv, { input: lines.join('\n') + '\n', reject: false });
  if (r.exitCode !== 0) throw new CommandError([cmd, ...argv], r.stderr, r.exitCode);
}
