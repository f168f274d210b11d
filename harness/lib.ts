/** Helpers for the real-namespace suite: run the CLI, snapshot the root namespace. */
import { readdir, readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa, type ResultPromise } from 'execa';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI = join(ROOT, 'bin', 'flatlab.js');
export const isRoot = process.getuid?.() === 0;
export const skipUnlessRoot = isRoot ? false : 'needs root (network namespaces)';

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs `flatlab ARGS` to completion. */
export async function flatlab(args: string[], opts: { env?: Record<string, string> } = {}): Promise<CliResult> {
  const r = await execa('node', [CLI, ...args], { reject: false, env: { NO_COLOR: '1', ...opts.env }, cwd: ROOT });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Starts `flatlab ARGS` without waiting. */
export function flatlabBackground(args: string[]): ResultPromise {
  return execa('node', [CLI, ...args], { reject: false, env: { NO_COLOR: '1' }, cwd: ROOT });
}

/**
 * What must not change in the machine's root namespace: links (without counters and
 * indexes), addresses, routes, iptables rules, bridge-netfilter sysctls and the list
 * of named namespaces.
 */
export async function rootSnapshot(): Promise<string> {
  const run = async (cmd: string, args: string[]): Promise<string> => (await execa(cmd, args, { reject: false })).stdout;
  const links = (await run('ip', ['-o', 'link'])).split('\n').map((l) => l.replace(/^\d+: /, '').replace(/ link\/.*/, '')).sort();
  const addrs = (await run('ip', ['-o', 'addr'])).split('\n').map((l) => l.replace(/^\d+: /, '').replace(/valid_lft.*/, '')).sort();
  const routes = await run('ip', ['route']);
  const ipt = (await run('iptables-save', [])).split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, ''));
  const sysctls = await Promise.all(
    ['net/ipv4/ip_forward', 'net/bridge/bridge-nf-call-iptables'].map(async (k) => `${k}=${(await readFile(`/proc/sys/${k}`, 'utf8').catch(() => '?')).trim()}`),
  );
  return [...links, '--', ...addrs, '--', routes, '--', ...ipt, '--', ...sysctls, '--', ...(await netnsList())].join('\n');
}

export async function netnsList(): Promise<string[]> {
  return (await readdir('/run/netns').catch(() => [] as string[])).sort();
}

/** flatlab's namespaces on the machine (prefix fl-xxxxxx-). */
export async function flatlabNamespaces(): Promise<string[]> {
  return (await netnsList()).filter((n) => /^fl-[0-9a-f]{6}-/.test(n));
}

export async function tempDir(prefix = 'flatlab-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function writeScenario(dir: string, name: string, text: string): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, text);
  return file;
}

export async function readResult(stdout: string): Promise<Record<string, any>> {
  const dir = /results: (\S+)/.exec(stdout)?.[1];
  if (!dir) throw new Error(`no results folder in output:\n${stdout}`);
  return JSON.parse(await readFile(join(dir, 'result.json'), 'utf8'));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
