/**
 * The remote agent's requests (backend/docker/agent.ts) are shell scripts run by exec on
 * another machine; here they run in a plain shell on this one, against processes this
 * test starts, so what they read from /proc and whom they signal is checked without
 * Docker or root: a process is alive only with its own start time (a recycled PID is
 * never taken for it), signals reach only the processes the run started, stop ends them
 * (KILL after TERM is ignored), and a bound port is seen in the process's table.
 */
import t from 'tap';
import { execa } from 'execa';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { Agent, agentName, sysctlScript } from '../src/backend/docker/agent.js';
import { portInTable, startTicks } from '../src/backend/procfs.js';
import type { ProcessRecord } from '../src/backend/backend.js';

const local = new Agent(async (argv, input) => {
  const t0 = performance.now();
  const r = await execa(argv[0]!, argv.slice(1), { reject: false, ...(input !== undefined ? { input } : {}) });
  return { exitCode: r.exitCode ?? -1, stdout: r.stdout, stderr: r.stderr, durationMs: performance.now() - t0, timedOut: false };
}, 'here');

async function started(t: { teardown(fn: () => void): void }, argv: string[]): Promise<{ child: ChildProcess; rec: ProcessRecord; exited: Promise<NodeJS.Signals | null> }> {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'ignore' });
  const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, sig) => r(sig)));
  t.teardown(() => void child.kill('SIGKILL'));
  await new Promise((r) => child.once('spawn', r));
  const ticks = await startTicks(child.pid!);
  return { child, rec: { pid: child.pid!, startTicks: ticks!, role: 'test', target: 't', engine: 'here' }, exited };
}

t.test('start times, alive, signal: by PID and start time together', async (t) => {
  const a = await started(t, ['sleep', '60']);
  t.same(await local.startTicks([a.rec.pid, 999999999]), [a.rec.startTicks, null], 'read from /proc/PID/stat field 22; a PID that does not exist has none');
  t.same(await local.alive([a.rec, { ...a.rec, startTicks: String(Number(a.rec.startTicks) + 1) }]), [true, false], 'the same PID with another start time is another process');
  await local.signal([{ ...a.rec, startTicks: '1' }], 'SIGTERM');
  t.same(await local.alive([a.rec]), [true], 'a signal to a PID whose start time differs is not sent');
  await local.signal([a.rec], 'SIGTERM');
  t.equal(await a.exited, 'SIGTERM', 'a signal to the process the run started is');
});

t.test('stop: TERM, then KILL for one that ignores it; gone when it returns', async (t) => {
  const a = await started(t, ['sleep', '60']);
  const b = await started(t, ['sh', '-c', "trap '' TERM; while :; do sleep 1; done"]);
  await local.stop([a.rec, b.rec]);
  t.same(await local.alive([a.rec, b.rec]), [false, false]);
  t.equal(await a.exited, 'SIGTERM');
  t.equal(await b.exited, 'SIGKILL', 'the one that ignored TERM was killed');
});

t.test('a port bound in the process\'s namespace is seen in its table', async (t) => {
  const table = '  sl  local_address rem_address   st\n   0: 00000000:0043 00000000:0000 07 00000000\n   1: 0100007F:1F90 00000000:0000 0A 00000000\n';
  t.ok(portInTable(table, 'udp', 67), 'UDP 67 (0x43) bound');
  t.notOk(portInTable(table, 'udp', 68));
  t.ok(portInTable(table, 'tcp', 8080), 'TCP 8080 listening (state 0A)');
  t.notOk(portInTable(table.replace(' 0A ', ' 01 '), 'tcp', 8080), 'an established socket is not listening');
  // a UDP socket of this test's own process, read through the agent's script
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  t.teardown(() => sock.close());
  const port = sock.address().port;
  const self: ProcessRecord = { pid: process.pid, startTicks: (await startTicks(process.pid))!, role: 'test', target: 't', engine: 'here' };
  t.ok(await local.portBound(self, 'udp', port), `UDP ${port}, bound by this process`);
  t.notOk(await local.portBound(self, 'tcp', port), 'not a TCP listener');
  t.notOk(await local.portBound({ ...self, startTicks: '1' }, 'udp', port), 'not for a process that is not the one started');
});

t.test('sysctls and names', async (t) => {
  t.equal(sysctlScript([['a', {}]]), null, 'nothing to set: no process');
  t.same(sysctlScript([['ns-1', { 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '0' }]])!.slice(3), ['sh', 'ns-1', 'net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0']);
  t.equal(agentName('fl-abc123', 'r'), 'fl-abc123-agent-r', "the run's prefix first: clean and the reaper find it by name and label");
  await t.rejects(local.batch('no-such-namespace-here', ['link show']), /ip -batch in no-such-namespace-here on engine here failed/);
});

t.test('a batch of remote reads is cut back into its files, byte for byte', async (t) => {
  const { CAT_ALL, splitSections } = await import('../src/backend/docker/remote-files.js');
  const m = '--flatlab-0123456789abcdef--';
  const files = ['a\nb\n', '', 'no newline at the end', `${m} end lookalike\n`];
  const out = files.map((f) => `${m} present\n${f}\n${m} end\n`).join('') + `${m} missing\n`;
  t.same(splitSections(out, m, 5), [...files, null], 'contents exact, a missing file null');
  t.throws(() => splitSections(`${m} present\nabc`, m, 1), /not ended/, 'a cut-off batch is an error, not a short file');
  // the shell's side of it: the same script as the backend runs, here on this machine's files
  const { execa } = await import('execa');
  const dir = (await execa('mktemp', ['-d'])).stdout;
  t.teardown(() => execa('rm', ['-rf', dir]));
  await execa('sh', ['-c', 'printf "x\\ny" > "$0/one"; : > "$0/empty"', dir]);
  const r = await execa('sh', ['-c', CAT_ALL, m, `${dir}/one`, `${dir}/none`, `${dir}/empty`], { stripFinalNewline: false });
  t.same(splitSections(r.stdout, m, 3), ['x\ny', null, '']);
});
