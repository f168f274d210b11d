#!/usr/bin/env node
/**
 * npm run bench: times flatlab on generated scale scenarios (all DHCP, multi_host) phase
 * by phase, next to two references for the same topology: the floor (the same
 * namespaces, bridges and veths from hand-written `ip -batch` input, torn down the same
 * way) and, where installed, Mininet (Linux-bridge switches, no controller).
 * Writes bench/results/<date>.md and .json. Not a test: it asserts nothing.
 *   BENCH_SIZES=2x2,4x16,16x64  BENCH_RUNS=3
 *   BENCH_MININET_MAX=256   largest host count given to Mininet (about 5 hosts/s here)
 *   BENCH_DOCKER_MAX=64     largest lab also run on the Docker backend, when an engine answers,
 *                           and across two engines when scripts/second-engine.sh runs one,
 *                           and with half the nodes on a remote engine when
 *                           scripts/remote-engine.sh runs one (flatlab run from its underlay)
 *   BENCH_RUN_TIMEOUT=900   seconds a flatlab run may take before the bench interrupts it
 *                           (SIGINT: it tears its lab down) and reports it as not finished
 *   BENCH_VM_SIZES=2x2,4x4  labs also run with `guest: vm` (QEMU guests, their own kernel),
 *                           when qemu-system-x86_64 is installed ("" for none)
 *   BENCH_GC_THRESH3=8192   opt-in: raise the machine's neighbour table for the run and
 *                           restore it after (the only machine setting the bench may touch,
 *                           and only when asked: 1024 VMs need more than the default 1024)
 */
import { execa } from 'execa';
import { mkdtemp, readFile, writeFile, mkdir, rm } from 'node:fs/promises';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'bin', 'flatlab.js');
const SIZES = (process.env.BENCH_SIZES ?? '2x2,4x16,16x64').split(',').filter(Boolean).map((s) => s.split('x').map(Number));
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const PHASES = ['build', 'dhcp', 'leases', 'checks', 'teardown', 'total'];
const RUN_TIMEOUT_MS = Number(process.env.BENCH_RUN_TIMEOUT ?? 900) * 1000;

const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1] };
};
const fmt = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`);
const fmtStats = (s) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;

function scenario(nodes, perNode) {
  // a /20 as the earlier rows had, wider where the lab needs more addresses (a gateway
  // per node, an address per VM, the network's own)
  let prefix = 20;
  while (prefix > 8 && 2 ** (32 - prefix) - 2 < nodes * (perNode + 1) + 8) prefix--;
  const lines = ['name: bench-' + nodes + 'x' + perNode, 'nova:', '  multi_host: true', `  fixed_range: 10.0.0.0/${prefix}`, 'nodes:'];
  for (let n = 0; n < nodes; n++) lines.push(`  n${n}: {}`);
  lines.push('vms:');
  for (let n = 0; n < nodes; n++) for (let v = 0; v < perNode; v++) lines.push(`  v${n}x${v}: {host: n${n}}`);
  return lines.join('\n') + '\n';
}

async function flatlabRun(file, results, backend = 'netns', extra = [], launch = {}) {
  const t0 = performance.now();
  const [cmd, ...pre] = [...(launch.wrap ?? []), 'node', CLI];
  // bounded: a lab this machine cannot serve (a DHCP retry storm) ends as a row that says
  // so, not as a bench that never ends; SIGINT lets flatlab tear its lab down
  const r = await execa(cmd, [...pre, 'run', file, '--json', '-q', '--backend', backend, ...extra, '--results', results], {
    reject: false,
    timeout: RUN_TIMEOUT_MS,
    killSignal: 'SIGINT',
    forceKillAfterDelay: 120000,
    ...(launch.env ? { env: launch.env } : {}),
  });
  const wall = performance.now() - t0;
  if (r.timedOut) throw new Error(`flatlab run ${file} did not finish within BENCH_RUN_TIMEOUT=${RUN_TIMEOUT_MS / 1000} s and was interrupted`);
  if (!r.stdout.trim().startsWith('{')) throw new Error(`flatlab run ${file} ended with exit code ${r.exitCode} and no result:\n${r.stderr.trim()}`);
  const res = JSON.parse(r.stdout);
  const t = res.variants[0].timings;
  return {
    ok: res.ok,
    summary: res.summary,
    sampling: res.variants[0].plan.expected.sampling,
    wall,
    build: t.build,
    dhcp: t.dhcp,
    leases: t.leases,
    checks: (t.observe ?? 0) + (t.reach ?? 0),
    observe: t.observe ?? 0,
    reach: t.reach ?? 0,
    teardown: t.teardown,
    total: t.total,
    refused: res.neighbourTable?.refused ?? 0,
    // the machine's busy CPU per phase (all cores) and how the DHCP guests were admitted
    cpu: res.variants[0].cpu ?? {},
    boot: res.variants[0].boot ?? null,
    vmGuests: res.vmGuests ?? null,
  };
}

async function dockerAvailable() {
  const r = await execa('docker', ['image', 'inspect', 'flatlab-node:latest'], { reject: false });
  return r.exitCode === 0;
}

const THRESH = '/proc/sys/net/ipv4/neigh/default/gc_thresh';
async function setNeighbourTable(t3) {
  const old = { 2: (await readFile(`${THRESH}2`, 'utf8')).trim(), 3: (await readFile(`${THRESH}3`, 'utf8')).trim() };
  await writeFile(`${THRESH}3`, String(t3));
  await writeFile(`${THRESH}2`, String(Math.floor(t3 / 2)));
  return async () => {
    await writeFile(`${THRESH}2`, old[2]);
    await writeFile(`${THRESH}3`, old[3]);
  };
}

/** The same kernel objects from hand-written batches: one `ip` for the namespaces, one per node. */
async function floorRun(nodes, perNode) {
  const p = `fl-be${String(Math.floor(Math.random() * 0xfff)).padStart(4, '0')}`.slice(0, 9);
  const ns = [`${p}-fab`, ...Array.from({ length: nodes }, (_, n) => `${p}-n${n}`)];
  for (let n = 0; n < nodes; n++) for (let v = 0; v < perNode; v++) ns.push(`${p}-v${n}x${v}`);
  const t0 = performance.now();
  await execa('ip', ['-batch', '-'], { input: ns.map((x) => `netns add ${x}`).join('\n') + '\n' });
  const fab = ['link add name fabric type bridge', 'link set dev fabric up'];
  for (let n = 0; n < nodes; n++) fab.push(`link add name n${n} type veth peer name eth0 netns ${p}-n${n}`, `link set dev n${n} master fabric up`);
  await execa('ip', ['-n', `${p}-fab`, '-batch', '-'], { input: fab.join('\n') + '\n' });
  await Promise.all(
    Array.from({ length: nodes }, (_, n) => {
      const l = ['link add name br100 type bridge', 'link set dev br100 up', 'link set dev eth0 master br100 up', `addr add 10.0.${n}.1/20 dev br100`];
      for (let v = 0; v < perNode; v++) l.push(`link add name vnet${v} type veth peer name eth0 netns ${p}-v${n}x${v}`, `link set dev vnet${v} master br100 up`);
      return execa('ip', ['-n', `${p}-n${n}`, '-batch', '-'], { input: l.join('\n') + '\n' });
    }),
  );
  const build = performance.now() - t0;
  const t1 = performance.now();
  await execa('ip', ['-batch', '-'], { input: ns.map((x) => `netns del ${x}`).join('\n') + '\n' });
  return { build, teardown: performance.now() - t1 };
}

/**
 * Mininet raises machine limits when it starts (util.fixLimits: the neighbour table to
 * 16384, the receive backlog to 5000, socket buffers, ptys), exactly the limits a large
 * flat lab meets; it never lowers them again. The bench puts them back after each Mininet
 * run, so that flatlab's figures are the machine's own.
 */
const MININET_SYSCTLS = [
  'net/ipv4/neigh/default/gc_thresh1',
  'net/ipv4/neigh/default/gc_thresh2',
  'net/ipv4/neigh/default/gc_thresh3',
  'net/core/netdev_max_backlog',
  'net/core/wmem_max',
  'net/core/rmem_max',
  'net/ipv4/tcp_rmem',
  'net/ipv4/tcp_wmem',
  'kernel/pty/max',
];

async function mininetRun(hosts) {
  const which = await execa('sh', ['-c', 'command -v mn'], { reject: false });
  if (which.exitCode !== 0) return null;
  const saved = await Promise.all(MININET_SYSCTLS.map(async (k) => [k, (await readFile(`/proc/sys/${k}`, 'utf8')).trim()]));
  try {
    const t0 = performance.now();
    const r = await execa('mn', ['--switch', 'lxbr', '--controller', 'none', '--topo', `single,${hosts}`, '--test', 'none'], { reject: false });
    const wall = performance.now() - t0;
    return r.exitCode === 0 ? { wall } : { error: r.stderr.split('\n').slice(-2).join(' ') };
  } finally {
    await execa('mn', ['-c'], { reject: false });
    for (const [k, v] of saved) await writeFile(`/proc/sys/${k}`, v.replace(/\s+/g, ' ')).catch(() => {});
  }
}

const MININET_MAX = Number(process.env.BENCH_MININET_MAX ?? 256);
const DOCKER_MAX = Number(process.env.BENCH_DOCKER_MAX ?? 64);
const GC_THRESH3 = process.env.BENCH_GC_THRESH3 ? Number(process.env.BENCH_GC_THRESH3) : null;
const docker = await dockerAvailable();
// a second engine (scripts/second-engine.sh start): the same labs across two engines
const second = docker ? await execa('bash', [join(ROOT, 'scripts', 'second-engine.sh'), 'url'], { reject: false }) : null;
const TWO_ENGINES = second?.exitCode === 0 ? ['--engine', 'a=unix:///var/run/docker.sock', '--engine', `b=${second.stdout.trim()}`, '--underlay', 'flatlab-underlay-a'] : null;
// a remote engine (scripts/remote-engine.sh start): half the nodes there (the plan places
// them alternately), flatlab run from the underlay that reaches it, over TLS
const remoteScript = (what) => execa('bash', [join(ROOT, 'scripts', 'remote-engine.sh'), what], { reject: false });
const remoteUrl = docker ? await remoteScript('url') : null;
const REMOTE =
  remoteUrl?.exitCode === 0
    ? await (async () => {
        const underlay = (await remoteScript('underlay')).stdout.trim();
        return {
          args: ['--engine', 'a=unix:///var/run/docker.sock', '--engine', `r=${remoteUrl.stdout.trim()}`, '--underlay', underlay],
          launch: { wrap: ['nsenter', `--net=/run/netns/${underlay}`], env: { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: (await remoteScript('certs')).stdout.trim() } },
        };
      })()
    : null;
const restoreTable = GC_THRESH3 ? await setNeighbourTable(GC_THRESH3) : null;
const gcThresh3 = Number((await readFile(`${THRESH}3`, 'utf8')).trim());
const dir = await mkdtemp(join(tmpdir(), 'flatlab-bench-'));
const rows = [];
const vmRows = [];
try {
for (const [nodes, perNode] of SIZES) {
  const file = join(dir, `bench-${nodes}x${perNode}.yaml`);
  await writeFile(file, scenario(nodes, perNode));
  const runs = nodes * perNode > 256 ? 1 : RUNS; // one run of the largest keeps npm run bench within 10 minutes
  const fl = [];
  const floor = [];
  for (let i = 0; i < runs; i++) {
    process.stderr.write(`  ${nodes}x${perNode}: flatlab run ${i + 1}/${runs}…\n`);
    fl.push(await flatlabRun(file, dir));
    floor.push(await floorRun(nodes, perNode));
  }
  let mn = null;
  if (nodes * perNode <= MININET_MAX) {
    process.stderr.write(`  ${nodes}x${perNode}: Mininet…\n`);
    mn = await mininetRun(nodes * perNode);
  } else mn = { skipped: `more than BENCH_MININET_MAX=${MININET_MAX} hosts` };
  let dk = null;
  let two = null;
  let remoteRow = null;
  if (docker && nodes * perNode <= DOCKER_MAX) {
    const dks = [];
    const twos = [];
    const remotes = [];
    for (let i = 0; i < runs; i++) {
      process.stderr.write(`  ${nodes}x${perNode}: flatlab on the Docker backend ${i + 1}/${runs}…\n`);
      dks.push(await flatlabRun(file, dir, 'docker'));
      if (TWO_ENGINES) {
        process.stderr.write(`  ${nodes}x${perNode}: flatlab on two Docker engines ${i + 1}/${runs}…\n`);
        twos.push(await flatlabRun(file, dir, 'docker', TWO_ENGINES));
      }
      if (REMOTE) {
        process.stderr.write(`  ${nodes}x${perNode}: flatlab with half the nodes on a remote engine ${i + 1}/${runs}…\n`);
        remotes.push(await flatlabRun(file, dir, 'docker', REMOTE.args, REMOTE.launch));
      }
    }
    dk = { ok: dks.every((r) => r.ok), total: stats(dks.map((r) => r.total)) };
    if (TWO_ENGINES) two = { ok: twos.every((r) => r.ok), total: stats(twos.map((r) => r.total)) };
    if (REMOTE) remoteRow = { ok: remotes.every((r) => r.ok), total: stats(remotes.map((r) => r.total)) };
  }
  const row = {
    size: `${nodes}x${perNode}`,
    vms: nodes * perNode,
    runs,
    ok: fl.every((r) => r.ok),
    sampling: fl[0].sampling,
    flatlab: Object.fromEntries([...PHASES, 'observe', 'reach', 'wall'].map((p) => [p, stats(fl.map((r) => r[p]))])),
    floor: { build: stats(floor.map((r) => r.build)), teardown: stats(floor.map((r) => r.teardown)) },
    mininet: mn,
    docker: dk,
    twoEngines: two,
    halfRemote: remoteRow,
    refused: fl.reduce((n, r) => n + r.refused, 0),
    // where the time goes: each phase's wall time beside the machine's busy CPU in it
    cpu: Object.fromEntries(['build', 'dhcp', 'leases', 'observe', 'reach', 'teardown'].map((p) => [p, stats(fl.map((r) => r.cpu[p] ?? 0))])),
    boot: fl[fl.length - 1].boot,
  };
  const vms = nodes * perNode;
  // hosts per second, build to teardown: flatlab's kernel work alone and its whole run
  // (DHCP and checks included) against Mininet's build and teardown of as many hosts
  row.hostsPerSec = {
    buildTeardown: vms / ((row.flatlab.build.median + row.flatlab.teardown.median) / 1000),
    wholeRun: vms / (row.flatlab.wall.median / 1000),
    mininet: mn?.wall ? vms / (mn.wall / 1000) : null,
  };
  row.buildPerVm = row.flatlab.build.median / row.vms;
  row.ratioBuild = row.flatlab.build.median / row.floor.build.median;
  rows.push(row);
}
// vm guests: the same generated labs with every guest a QEMU VM (--guest vm)
const qemu = (await execa('sh', ['-c', 'command -v qemu-system-x86_64'], { reject: false })).exitCode === 0;
const VM_SIZES = qemu ? (process.env.BENCH_VM_SIZES ?? '2x2,4x4').split(',').filter(Boolean).map((x) => x.split('x').map(Number)) : [];
for (const [nodes, perNode] of VM_SIZES) {
  const file = join(dir, `bench-vm-${nodes}x${perNode}.yaml`);
  await writeFile(file, scenario(nodes, perNode).replace(/^name: bench-/, 'name: bench-vm-'));
  const runs = [];
  for (let i = 0; i < RUNS; i++) {
    process.stderr.write(`  ${nodes}x${perNode} vm guests: flatlab run ${i + 1}/${RUNS}…\n`);
    runs.push(await flatlabRun(file, dir, 'netns', ['--guest', 'vm']));
  }
  vmRows.push({
    size: `${nodes}x${perNode}`,
    vms: nodes * perNode,
    ok: runs.every((r) => r.ok),
    flatlab: Object.fromEntries([...PHASES, 'observe', 'reach', 'wall'].map((p) => [p, stats(runs.map((r) => r[p]))])),
    cpu: Object.fromEntries(['build', 'dhcp', 'leases', 'observe', 'reach', 'teardown'].map((p) => [p, stats(runs.map((r) => r.cpu[p] ?? 0))])),
    accel: runs[0].vmGuests?.text ?? '',
  });
}
} finally {
  await restoreTable?.();
  // the scenarios and the runs' results: nothing of the bench is left in the temp folder
  await rm(dir, { recursive: true, force: true });
}

const date = new Date().toISOString().slice(0, 10);
const head = `| size | VMs | build | dhcp up | all leases | checks | teardown | run total | wall (process) | floor build | floor teardown | build / floor | build per VM | Mininet build+teardown | hosts/s flatlab build+teardown / whole run / Mininet | Docker backend run total | two Docker engines run total | half the nodes on a remote engine run total (× Docker backend) | ARP entries refused |`;
const mnCell = (r) => (r.mininet === null ? 'not installed' : r.mininet.skipped ? `not run (${r.mininet.skipped})` : r.mininet.wall ? fmt(r.mininet.wall) : `failed: ${r.mininet.error}`);
const rate = (x) => (x === null ? '–' : x.toFixed(0));
const ratio = (r) => (r.hostsPerSec.mininet ? ` (${(r.hostsPerSec.buildTeardown / r.hostsPerSec.mininet).toFixed(0)}× / ${(r.hostsPerSec.wholeRun / r.hostsPerSec.mininet).toFixed(1)}× Mininet)` : '');
const md = [
  `# flatlab benchmark, ${date}`,
  '',
  `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}. Median (min–max) of the runs; netns backend. Neighbour table (net.ipv4.neigh.default.gc_thresh3): ${gcThresh3}${GC_THRESH3 ? ' (raised for this run by BENCH_GC_THRESH3, restored after)' : ' (as the machine has it)'}.`,
  '',
  head,
  head.replace(/[^|]/g, '-'),
  ...rows.map((r) =>
    `| ${r.size} | ${r.vms} | ${fmtStats(r.flatlab.build)} | ${fmtStats(r.flatlab.dhcp)} | ${fmtStats(r.flatlab.leases)} | ${fmtStats(r.flatlab.checks)} | ${fmtStats(r.flatlab.teardown)} | ${fmtStats(r.flatlab.total)} | ${fmtStats(r.flatlab.wall)} | ${fmtStats(r.floor.build)} | ${fmtStats(r.floor.teardown)} | ${r.ratioBuild.toFixed(2)}× | ${r.buildPerVm.toFixed(2)} ms | ${mnCell(r)} | ${rate(r.hostsPerSec.buildTeardown)} / ${rate(r.hostsPerSec.wholeRun)} / ${rate(r.hostsPerSec.mininet)}${ratio(r)} | ${r.docker ? `${fmtStats(r.docker.total)}${r.docker.ok ? '' : ' (NOT all as expected)'}` : docker ? 'not run (size)' : 'no engine/image'} | ${r.twoEngines ? `${fmtStats(r.twoEngines.total)}${r.twoEngines.ok ? '' : ' (NOT all as expected)'}` : TWO_ENGINES ? 'not run (size)' : 'no second engine (scripts/second-engine.sh start)'} | ${r.halfRemote ? `${fmtStats(r.halfRemote.total)} (${(r.halfRemote.total.median / r.docker.total.median).toFixed(2)}×)${r.halfRemote.ok ? '' : ' (NOT all as expected)'}` : REMOTE ? 'not run (size)' : 'no remote engine (scripts/remote-engine.sh start)'} | ${r.refused} |`,
  ),
  '',
  'Where the time goes (netns backend, median): each phase as wall time / the machine\'s busy CPU time in it (both cores: a phase bound by the CPUs shows about twice its wall time). In the DHCP phase every broadcast reaches every guest port of the flat segment and every node\'s dnsmasq (nova\'s multi_host wiring), so its CPU grows with the square of the guests; the boot window (src/run/boot-window.ts) admits guests while leases come within udhcpc\'s retry time.',
  '',
  '| size | build | dhcp | leases | observe | reach | teardown | boot window (narrowest–widest, cuts) | lease time from admission (median / p90 / max) | leases over the target | unleased |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => {
    const cell = (p) => `${fmt(r.flatlab[p].median ?? 0)} / ${fmt(r.cpu[p].median)}`;
    const b = r.boot;
    return `| ${r.size} | ${cell('build')} | ${cell('dhcp')} | ${cell('leases')} | ${cell('observe')} | ${cell('reach')} | ${cell('teardown')} | ${b ? `${b.window.narrowest}–${b.window.widest} of ${b.window.max}, ${b.window.cuts}` : 'none (all at once)'} | ${b ? `${fmt(b.leaseMs.median)} / ${fmt(b.leaseMs.p90)} / ${fmt(b.leaseMs.max)}` : '–'} | ${b ? `${b.slow} (> ${fmt(b.window.targetMs)})` : '–'} | ${b ? b.unleased : '–'} |`;
  }),
  '',
  ...(vmRows.length
    ? [
        `vm guests (\`--guest vm\`: QEMU, ${vmRows[0].accel}): run total and the leases phase (the guests' boot: kernel, init, udhcpc) as wall / the machine's busy CPU.`,
        '',
        '| size | VMs | build | leases (boot + DHCP) | observe | reach | teardown | run total | wall (process) | all as expected |',
        '|---|---|---|---|---|---|---|---|---|---|',
        ...vmRows.map((r) => `| ${r.size} | ${r.vms} | ${fmt(r.flatlab.build.median)} | ${fmt(r.flatlab.leases.median)} / ${fmt(r.cpu.leases.median)} | ${fmt(r.flatlab.observe.median)} | ${fmt(r.flatlab.reach.median)} | ${fmt(r.flatlab.teardown.median)} | ${fmtStats(r.flatlab.total)} | ${fmtStats(r.flatlab.wall)} | ${r.ok ? 'yes' : 'NO'} |`),
        '',
      ]
    : []),
  ...rows.filter((r) => r.sampling).map((r) => `- ${r.size}: ${r.sampling}`),
  ...rows.filter((r) => !r.ok).map((r) => `- ${r.size}: NOT all checks as expected${r.refused ? ` (the kernel refused ${r.refused} ARP entries: its neighbour table, shared by all namespaces, was full)` : ''}`),
  '',
].join('\n');
await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
const name = `${date}${GC_THRESH3 ? `-gc_thresh3-${GC_THRESH3}` : ''}`;
await writeFile(join(ROOT, 'bench', 'results', `${name}.md`), md);
await writeFile(join(ROOT, 'bench', 'results', `${name}.json`), JSON.stringify({ date, gcThresh3, rows, vmRows }, null, 2) + '\n');
process.stdout.write(md);
