/**
 * `flatlab collect-script` and `flatlab compare NODE COLLECTED`: a real node's
 * networking, collected by a read-only POSIX sh script, held against what nova should
 * have built there.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import chalk from 'chalk';
import type { Command } from 'commander';
import { compareNode, UNSEEN, type Difference } from '../../compare/compare.js';
import { readDump } from '../../compare/dump.js';
import { modelFromNode } from '../../compare/node-model.js';
import { UserError } from '../../errors.js';
import { LAB_ASSETS } from '../../assets.js';
import { runtimeRoot } from '../../run/state.js';
import type { Plan } from '../../plan/types.js';
import { planRun, selectVariants } from '../../run/run-scenario.js';
import { loadScenarioFile } from '../../scenario/load.js';
import { resolveScenario } from '../../scenario/resolve.js';
import { releaseFlag, type SetExit } from './shared.js';


/** A folder, or a tarball collect.sh wrote (unpacked into a temporary folder, removed after). */
async function openCollected(path: string): Promise<{ dir: string; done: () => Promise<void> }> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new UserError(`${path}: no such folder or tarball (collect one with: sh collect.sh OUTDIR)`);
  }
  if (st.isDirectory()) return { dir: path, done: async () => {} };
  if (!/\.tar\.gz$|\.tgz$/.test(path)) throw new UserError(`${path}: neither a folder nor a .tar.gz written by collect.sh`);
  const tmp = await mkdtemp(join(tmpdir(), 'flatlab-compare-'));
  try {
    // tar by argv; --no-same-owner: the files are owned by whoever runs compare
    await promisify(execFile)('tar', ['-xzf', path, '-C', tmp, '--no-same-owner']);
    const inner = await readdir(tmp);
    return { dir: inner.length === 1 ? join(tmp, inner[0]!) : tmp, done: () => rm(tmp, { recursive: true, force: true }) };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw new UserError(`${path}: cannot unpack (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`, { cause: err });
  }
}

async function checkCollected(dir: string): Promise<void> {
  const meta = await readFile(join(dir, 'meta.txt'), 'utf8').catch(() => null);
  if (meta === null || !/^format \d+/m.test(meta)) throw new UserError(`${dir}: not written by collect.sh (no meta.txt with its format)`);
}

/** The model from a scenario: its variant's plan, the node looked up by name. */
async function modelFromScenario(file: string, variant: string | undefined, node: string): Promise<{ plan: Plan; label: string }> {
  const loaded = await loadScenarioFile(resolveScenario(file));
  const [v] = selectVariants(loaded, variant ?? loaded.variants[0]!.name);
  const plan = planRun(v!, '000000');
  if (!plan.nodes.some((n) => n.name === node)) throw new UserError(`${file}: no node "${node}" (it has: ${plan.nodes.map((n) => n.name).join(', ')})`);
  return { plan, label: `${loaded.scenario.name}/${v!.name}, ${plan.release}` };
}

export function renderDifferences(node: string, collected: string, label: string, diffs: Difference[]): string {
  const out = [`${chalk.bold(`compare ${node}`)} with ${collected} (model: ${label})`, ''];
  for (const d of diffs) {
    out.push(`  ${d.breaks ? chalk.red('✗') : chalk.yellow('!')} ${d.what}`);
    out.push(`      ${d.breaks ? 'breaks' : 'effect'}: ${d.symptom}${d.report ? ` (report ${d.report})` : ''}`);
  }
  const breaking = diffs.filter((d) => d.breaks).length;
  out.push(diffs.length === 0 ? `  ${chalk.green('no difference')}: the node is wired as the model says` : `  ${diffs.length} difference(s), ${breaking} break${breaking === 1 ? 's' : ''} a flow`);
  out.push('', '  not visible from inside a node:', ...UNSEEN.map((u) => `    - ${u}`), '');
  return out.join('\n');
}

export function registerCompare(program: Command, setExit: SetExit): void {
  program
    .command('compare')
    .argument('<node>', 'the node the dump was collected on, as the model names it')
    .argument('<collected>', 'the folder (or .tar.gz) collect.sh wrote')
    .option('--scenario <file>', 'the model: a scenario name or file (default: the nova.conf in the dump)')
    .option('--variant <name>', "the scenario's variant (default: its first)")
    .option('--release <release>', "the release of nova the node ran, when the model is the dump's nova.conf")
    .option('--json', 'the differences as JSON')
    .description('list what differs between a collected node and what nova should have built there; exit 1 when a difference breaks a flow')
    .action(async (node: string, collected: string, flags: { scenario?: string; variant?: string; release?: string; json?: boolean }) => {
      const { dir, done } = await openCollected(collected);
      try {
        await checkCollected(dir);
        const dump = readDump(dir);
        const { plan, label } = flags.scenario ? await modelFromScenario(flags.scenario, flags.variant, node) : modelFromNode(dump, node, flags.release !== undefined ? releaseFlag(flags.release) : undefined, { runtimeRoot: runtimeRoot(), assets: LAB_ASSETS });
        const diffs = compareNode(plan, node, dump);
        process.stdout.write(flags.json ? JSON.stringify({ node, collected, model: label, differences: diffs, breaks: diffs.some((d) => d.breaks) }, null, 2) + '\n' : renderDifferences(node, collected, label, diffs));
        setExit(diffs.some((d) => d.breaks) ? 1 : 0);
      } finally {
        await done();
      }
    });
}
