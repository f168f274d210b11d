/** Helpers for the real-namespace suite: run the CLI, snapshot the root namespace. */
import { readdir, readFile, stat, writeFile, mkdtemp, rm } from 'node:fs/promises';
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
/**
 * A bound on one flatlab command of a test (the longest, the stress test's suite, takes
 * about 6 minutes here): a command that hangs (an engine stuck on a container) is
 * interrupted as a user would (SIGINT: it tears its lab down), killed a minute later if
 * that hangs too, and its test fails with its output, instead of the whole file running
 * into tap's 20-minute timeout with nothing said and the run's processes left behind.
 */
export const COMMAND_BOUND_MS = 900_000;

export async function flatlab(args: string[], opts: { env?: Record<string, string>; boundMs?: number } = {}): Promise<CliResult> {
  const r = await execa('node', [CLI, ...args], { reject: false, env: { NO_COLOR: '1', ...opts.env }, cwd: ROOT, timeout: opts.boundMs ?? COMMAND_BOUND_MS, killSignal: 'SIGINT', forceKillAfterDelay: 60_000 });
  const bound = r.timedOut ? `\n[harness] flatlab ${args.join(' ')} was still running after ${(opts.boundMs ?? COMMAND_BOUND_MS) / 1000} s: interrupted` : '';
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr + bound };
}

/** Starts `flatlab ARGS` without waiting. */
export function flatlabBackground(args: string[], opts: { env?: Record<string, string>; detached?: boolean } = {}): ResultPromise {
  return execa('node', [CLI, ...args], { reject: false, env: { NO_COLOR: '1', ...opts.env }, cwd: ROOT, ...(opts.detached ? { detached: true } : {}) });
}

/** The tests' handle on tap's test object: just what the helpers need. */
interface Owner {
  teardown(fn: () => unknown): void;
}

/**
 * A run id of the test's own (FLATLAB_RUN_ID): the test knows the prefixes of the labs
 * it starts before they exist, so it asserts on those and never on the machine's other
 * labs. Variant i of the run gets id + i.
 */
export function ownRunId(): string {
  return (0xe00000 + Math.floor(Math.random() * 0x100000)).toString(16);
}

/** The prefixes of a run started with FLATLAB_RUN_ID=id and `variants` variants. */
export function prefixesFor(id: string, variants = 1): string[] {
  return Array.from({ length: variants }, (_, i) => `fl-${((parseInt(id, 16) + i) % 0x1000000).toString(16).padStart(6, '0')}`);
}

/**
 * What must not change in the machine's root namespace: links (without counters and
 * indexes), addresses, routes, iptables rules, bridge-netfilter sysctls and the list
 * of named namespaces, less those of flatlab labs (another process's lab may come or
 * go meanwhile; a test checks its own labs' namespaces by their prefixes).
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
  // other runs' labs (fl-...) and other jobs' test engines (scripts/second-engine.sh and
  // remote-engine.sh: flatlab-...) come and go beside a test: not this test's to judge
  const foreign = /^(fl-[0-9a-f]{6}-|flatlab-)/;
  return [...links, '--', ...addrs, '--', routes, '--', ...ipt, '--', ...sysctls, '--', ...(await netnsList()).filter((n) => !foreign.test(n))].join('\n');
}

export async function netnsList(): Promise<string[]> {
  return (await readdir('/run/netns').catch(() => [] as string[])).sort();
}

/** The namespaces of the given labs that still exist. */
export async function namespacesOf(prefixes: string[]): Promise<string[]> {
  return (await netnsList()).filter((n) => prefixes.some((p) => n.startsWith(`${p}-`)));
}

/** The lab prefixes a run's result.json names (one per variant). */
export function prefixesOf(result: Record<string, any>): string[] {
  return (result.variants ?? []).map((v: any) => v.prefix as string);
}

/** The prefix `flatlab up` printed. */
export function upPrefix(stdout: string): string | null {
  return /lab (fl-[0-9a-f]{6}) \(variant/.exec(stdout)?.[1] ?? null;
}

/**
 * `flatlab up` that tears its lab down when the test ends, whatever happened in it.
 * Returns the CLI result and the kept lab's prefix (null when it did not come up).
 */
export async function upOwned(t: Owner, args: string[], opts: { env?: Record<string, string> } = {}): Promise<CliResult & { prefix: string | null }> {
  const id = ownRunId();
  const prefix = prefixesFor(id)[0]!;
  t.teardown(() => flatlab(['down', '--run', prefix, '--force']));
  const r = await flatlab(['up', ...args], { env: { FLATLAB_RUN_ID: id, ...opts.env } });
  return { ...r, prefix: upPrefix(r.stdout) };
}

/** `flatlab run ARGS` with a run id of the test's own: the prefixes its labs may have (up to 16 variants). */
export async function runOwned(args: string[], opts: { env?: Record<string, string> } = {}): Promise<CliResult & { prefixes: string[] }> {
  const id = ownRunId();
  const r = await flatlab(['run', ...args], { env: { FLATLAB_RUN_ID: id, ...opts.env } });
  return { ...r, prefixes: prefixesFor(id, 16) };
}

/** The lab prefixes of every result.json under a results folder (what a suite ran). */
export async function prefixesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.name === 'result.json') out.push(...prefixesOf(JSON.parse(await readFile(join(d, e.name), 'utf8'))));
    }
  };
  await walk(dir);
  return out;
}

/** A temporary folder removed when the test ends. */
export async function tempDir(t: Owner, prefix = 'flatlab-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
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

/** bugs/cross-node-arp-no-ping: each variant's fault, the symptom it gives and the cause its diagnosis names. */
export const CROSS_NODE_CAUSES: Record<string, { symptom: RegExp; cause: RegExp }> = {
  'nic-promisc-deny': { symptom: /^across nodes: ARP resolves but no ping \(8 pairs\); same node fine$/, cause: /dropped at fabric port to compute2 \(frame not addressed to the NIC's MAC/ },
  'firewall-drop': { symptom: /same node: 2 of 4 pairs get no answer/, cause: /dropped on compute2 by nova-compute-sg-fallback/ },
  'uplink-not-enslaved': { symptom: /^across nodes: no ARP at all \(8 pairs\); same node fine$/, cause: /compute2's eth0 is not enslaved to br100/ },
  'bridge-without-address': { symptom: /^no lease for vm_3, vm_4 \(on compute2\)$/, cause: /compute2's br100 holds no address from 10\.0\.0\.0\/24/ },
  'forged-transmit-deny': { symptom: /across nodes: .*no ARP at all/, cause: /dropped at fabric port from compute2 \(a frame whose source MAC is not the NIC's own: the node's NIC rejects forged transmits/ },
};

/** What a run concluded, backend aside: per variant, each check's kind, subject, verdict and observed address/route. */
export function verdicts(res: any): string[] {
  return res.variants.flatMap((v: any) => v.verdicts.map((x: any) => `${v.variant} ${x.kind} ${x.subject} ${x.ok} ${x.kind === 'lease' ? x.observed.split(' on ')[0] : x.observed}`)).sort();
}

/** The containers of these runs (never another run's) on an engine (default: DOCKER_HOST's). */
export async function containersOn(url: string | null, prefixes: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of prefixes) {
    const r = await execa('docker', [...(url ? ['-H', url] : []), 'ps', '-a', '--filter', `label=org.flatlab.run=${p}`, '--format', '{{.Names}}'], { reject: false });
    out.push(...r.stdout.split('\n').filter(Boolean));
  }
  return out;
}

/**
 * Ctrl-C, then SIGKILL: `flatlab ARGS` twice with run ids of the test's own, the first
 * interrupted (SIGINT to its process group) and the second killed outright, each once
 * `reached(prefixes)` holds (plus `laterMs`, to be killed further into the build: any
 * moment must leave nothing, so no race hides behind it). Returns the first's exit code
 * and what `left(prefixes)` found after each; after the kill it waits for that state to be
 * empty (the run's reaper removing it), 30 s at most.
 */
export async function interruptThenKill(
  args: string[],
  reached: (prefixes: string[]) => Promise<boolean>,
  left: (prefixes: string[]) => Promise<string[]>,
  laterMs = 0,
  /** how flatlab is started: a command it runs under (nsenter into a namespace) and its environment */
  launch: { wrap?: string[]; env?: Record<string, string> } = {},
): Promise<{ prefixes: string[]; reached: [boolean, boolean]; interruptedExit: number | undefined; afterInterrupt: string[]; afterKill: string[] }> {
  const [cmd, ...pre] = [...(launch.wrap ?? []), 'node', CLI];
  const waitFor = async (prefixes: string[]): Promise<boolean> => {
    let ok = false;
    for (let i = 0; i < 500 && !(ok = await reached(prefixes)); i++) await sleep(20);
    if (laterMs) await sleep(laterMs);
    return ok;
  };
  const id1 = ownRunId();
  const first = prefixesFor(id1, 2);
  const child = execa(cmd!, [...pre, ...args], { reject: false, detached: true, cwd: ROOT, env: { NO_COLOR: '1', ...launch.env, FLATLAB_RUN_ID: id1 } });
  const reachedFirst = await waitFor(first);
  process.kill(-child.pid!, 'SIGINT');
  const interruptedExit = (await child).exitCode;
  const afterInterrupt = await left(first);
  const id2 = ownRunId();
  const second = prefixesFor(id2, 2);
  const killed = execa(cmd!, [...pre, ...args], { reject: false, cwd: ROOT, env: { NO_COLOR: '1', ...launch.env, FLATLAB_RUN_ID: id2 } });
  const reachedSecond = await waitFor(second);
  killed.kill('SIGKILL');
  await killed;
  let afterKill = await left(second);
  for (let i = 0; i < 300 && afterKill.length > 0; i++) {
    await sleep(100);
    afterKill = await left(second);
  }
  return { prefixes: [...first, ...second], reached: [reachedFirst, reachedSecond], interruptedExit, afterInterrupt, afterKill };
}

/**
 * What the shipped scenarios add up to, read from the files themselves (not a number
 * written into a test): how many scenario files and how many variant runs a whole
 * `flatlab suite` makes.
 */
export async function shippedSuite(): Promise<{ scenarios: string[]; runs: number }> {
  const { findScenarios } = await import('../src/scenario/resolve.js');
  const { loadScenarioFile } = await import('../src/scenario/load.js');
  const files = await findScenarios([], join(ROOT, 'scenarios'));
  let runs = 0;
  const names: string[] = [];
  for (const f of files) {
    const loaded = await loadScenarioFile(f);
    names.push(loaded.scenario.name);
    runs += loaded.variants.length;
  }
  return { scenarios: names, runs };
}

/**
 * Runs `node CLI ARGS` as another user (nobody, from /), with the PATH and nothing of
 * tap's: tap's process-info hook rewrites the environment of every node it sees spawned
 * (its NODE_OPTIONS loader writes into the clone, which that user may not read or write),
 * so the child is started through `env -i`, which tap does not touch.
 */
export async function asNobody(cli: string, args: string[]): Promise<CliResult> {
  const path = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin';
  const r = await execa('env', ['-i', `PATH=${path}`, 'HOME=/tmp', 'NO_COLOR=1', 'node', cli, ...args], { reject: false, uid: 65534, gid: 65534, cwd: '/' });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A second installation of this flatlab in a temporary folder every user can enter: its
 * dist/, bin/, assets/, scenarios/ and package.json copied, node_modules linked. It is
 * "another checkout" for ownership (labs are the caller's by user and checkout), and a
 * CLI other users can run wherever the clone itself lives. Removed with the test.
 */
export async function cliCopy(t: Owner): Promise<{ root: string; cli: string }> {
  const { cp, chmod, mkdtemp: mk } = await import('node:fs/promises');
  const root = await mk(join(tmpdir(), 'flatlab-copy-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await chmod(root, 0o755);
  for (const d of ['dist', 'bin', 'assets', 'scenarios', 'schema', 'package.json']) await cp(join(ROOT, d), join(root, d), { recursive: true });
  // the runtime dependencies copied, not linked: the clone's folder may be closed to other
  // users (CI's is not ours to choose), and a link would lead them back into it
  for (const dep of await runtimeDependencies()) await cp(join(ROOT, 'node_modules', dep), join(root, 'node_modules', dep), { recursive: true });
  return { root, cli: join(root, 'bin', 'flatlab.js') };
}

/** The packages flatlab needs at run time: its dependencies and theirs, as npm laid them out at the top of node_modules. */
async function runtimeDependencies(): Promise<string[]> {
  const seen = new Set<string>();
  const depsOf = async (dir: string): Promise<string[]> => {
    const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    return Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies });
  };
  const queue = await depsOf(ROOT);
  while (queue.length) {
    const name = queue.pop()!;
    if (seen.has(name)) continue;
    const dir = join(ROOT, 'node_modules', name);
    // a dependency nested under its dependent's own node_modules is copied with it
    if (!(await stat(dir).then(() => true, () => false))) continue;
    seen.add(name);
    queue.push(...(await depsOf(dir)));
  }
  return [...seen];
}

/**
 * Runs a scenario (as its test's own run) that must come out as expected, and gives its
 * variants by name; the caller asserts on them and on its prefixes.
 */
export async function runExpected(t: Owner & { equal: (found: any, wanted: any, msg: string, extra: object) => unknown }, scenario: string): Promise<{ prefixes: string[]; by: Record<string, any> }> {
  const r = await runOwned([scenario, '--results', await tempDir(t)]);
  t.equal(r.exitCode, 0, `${scenario}: every variant as expected`, { output: r.stdout + r.stderr });
  const res = await readResult(r.stdout);
  return { prefixes: r.prefixes, by: Object.fromEntries(res.variants.map((v: any) => [v.variant, v])) };
}

/** The bug scenarios whose faulty node a multi-engine test places on another engine. */
const PLACED_BUGS = ['cross-node-arp-no-ping', 'foreign-gateway', 'guest-foreign-address', 'ip-forward-off', 'isolation-bypassed', 'no-bridge-address', 'snat-one-nic', 'uplink-left-down'];

/**
 * Each of PLACED_BUGS as shipped, written into `dir` with a placement that puts every node
 * a fault names on `engine`; with, per scenario, the nodes so placed.
 */
export async function placedBugScenarios(dir: string, engine: string): Promise<{ files: string[]; faulty: Record<string, string[]> }> {
  const { parseScenarioFile } = await import('../src/scenario/load.js');
  const files: string[] = [];
  const faulty: Record<string, string[]> = {};
  for (const name of PLACED_BUGS) {
    const text = await readFile(join(ROOT, 'scenarios', 'bugs', `${name}.yaml`), 'utf8');
    const parsed = parseScenarioFile(text, name);
    const nodes = new Set<string>();
    for (const v of parsed.variants) {
      for (const f of v.scenario.faults) {
        if (f.node) nodes.add(f.node);
        if (f.vm) nodes.add(v.scenario.vms[f.vm]!.host);
      }
    }
    faulty[parsed.scenario.name] = [...nodes];
    const placement = [...nodes].map((n) => `${n}: ${engine}`).join(', ');
    files.push(await writeScenario(dir, name, `${text.replace('$schema=../../schema', `$schema=${ROOT}/schema`)}${placement ? `\nplacement: {${placement}}\n` : ''}`));
  }
  return { files, faulty };
}

/**
 * What `flatlab suite --json` over placedBugScenarios must show, and the report's own
 * question (cross-node-arp-no-ping with --ignore-expect, through `run`) diagnosed as
 * itself with the faulty node on `engine`.
 */
export async function checkPlacedBugs(
  t: Owner & { equal: (found: any, wanted: any, msg: string, extra: object) => unknown; ok: (found: any, msg: string, extra: object) => unknown },
  placed: { files: string[]; faulty: Record<string, string[]> },
  engine: string,
  suite: CliResult,
  run: (args: string[]) => Promise<CliResult>,
): Promise<void> {
  t.equal(suite.exitCode, 0, 'every variant as expected', { output: suite.stdout.slice(-3000) + suite.stderr.slice(-3000) });
  const runs = JSON.parse(suite.stdout).runs as { resultsDir: string }[];
  t.equal(runs.length, placed.files.length, 'a run per scenario', {});
  for (const r of runs) {
    const res = JSON.parse(await readFile(join(r.resultsDir, 'result.json'), 'utf8'));
    for (const v of res.variants) for (const n of placed.faulty[res.scenario]!) t.equal(v.plan.span.placement[n], engine, `${res.scenario} [${v.variant}]: the faulty ${n} on engine ${engine}`, {});
  }
  const cross = placed.files.find((f) => f.endsWith('cross-node-arp-no-ping.yaml'))!;
  const ig = await run([cross, '--ignore-expect']);
  t.equal(ig.exitCode, 1, 'the faults found', { output: ig.stderr.slice(-2000) });
  const res = await readResult(ig.stdout);
  for (const [variant, { cause }] of Object.entries(CROSS_NODE_CAUSES)) {
    const v = res.variants.find((x: any) => x.variant === variant);
    t.ok(v.diagnoses.length > 0 && v.diagnoses.every((d: any) => cause.test(d.text)), `${variant}: diagnosed as itself with compute2 on engine ${engine}`, { diagnoses: v.diagnoses.map((d: any) => d.text) });
  }
}
