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
export async function ipBatch(netns: string | null, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  const argv = [...(netns ? ['-n', netns] : []), '-batch', '-'];
  const r = await execa('ip', argv, { input: lines.join('\n') + '\n', reject: false });
  if (r.exitCode !== 0) throw new CommandError(['ip', ...argv], r.stderr, r.exitCode);
}
