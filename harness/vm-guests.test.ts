/**
 * `guest: vm` for real: QEMU guests with their own kernel on taps, held to the same
 * verdicts as namespace guests, injected FlatManager guests with no DHCP anywhere, and
 * nothing left behind by Ctrl-C or SIGKILL.
 */
import t from 'tap';
import { execa } from 'execa';
import { readdir, readFile } from 'node:fs/promises';
import { release } from 'node:os';
import { guestImage } from '../src/run/guest-image.js';
import { onPath } from '../src/which.js';
import { runtimeRoot } from '../src/run/state.js';
import { flatlab, interruptThenKill, namespacesOf, rootSnapshot, runOwned, skipUnlessRoot, tempDir, upOwned, verdicts } from './lib.js';

const skip = skipUnlessRoot || (!onPath('qemu-system-x86_64') ? 'needs QEMU (qemu-system-x86_64: setup.sh installs it)' : false);

/** The QEMU processes of these runs: their argv names the run's own folder. */
async function qemusOf(prefixes: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmd.startsWith('qemu-system') && prefixes.some((p) => cmd.includes(`/${p}/vms/`))) out.push(Number(pid));
  }
  return out;
}

t.test('flatdhcp-multihost with vm guests: the same 40 verdicts, leases read inside guests running their own kernel', { skip }, async (t) => {
  const image = await guestImage(() => undefined);
  const before = await rootSnapshot();
  const [ns, vm] = await Promise.all([runOwned(['flatdhcp-multihost', '--json', '-q']), runOwned(['flatdhcp-multihost', '--guest', 'vm', '--json', '-q'])]);
  t.equal(ns.exitCode, 0, { output: ns.stderr });
  t.equal(vm.exitCode, 0, { output: vm.stderr });
  const [a, b] = [JSON.parse(ns.stdout), JSON.parse(vm.stdout)];
  t.equal(verdicts(b).length, 40, '40 verdicts');
  t.same(verdicts(b), verdicts(a), 'the same verdicts as namespace guests');
  t.equal(b.vmGuests?.kernel, image.kernelRelease);
  t.not(image.kernelRelease, release(), "the guests' kernel is not this machine's");
  for (const v of b.variants) {
    t.same(v.plan.vms.map((x: any) => x.guest), ['vm', 'vm', 'vm', 'vm']);
    for (const o of Object.values(v.observations.vms) as any[]) {
      t.equal(o.kernel, image.kernelRelease, `${v.variant} ${o.vm}: uname -r inside the guest`);
      t.equal(o.dhcp?.ip, v.plan.vms.find((x: any) => x.name === o.vm).ip, `${v.variant} ${o.vm}: the lease its own DHCP client recorded, read inside it`);
    }
  }
  t.same(await qemusOf(vm.prefixes), [], 'no QEMU left');
  t.same(await namespacesOf(vm.prefixes), [], 'no namespace (and so no tap) left');
  t.equal(await rootSnapshot(), before, 'root namespace unchanged');
});

t.test('FlatManager with flat_injected and vm guests: up from the injected file alone, no DHCP server anywhere', { skip }, async (t) => {
  const r = await runOwned(['flat-injected', '--guest', 'vm', '--json', '-q']);
  t.equal(r.exitCode, 0, { output: r.stderr });
  const res = JSON.parse(r.stdout);
  const v = res.variants[0];
  t.same(v.plan.processes.filter((p: any) => p.role === 'dnsmasq' || p.role === 'dhcp-server'), [], 'no DHCP server planned');
  for (const vm of v.plan.vms) {
    const o = v.observations.vms[vm.name];
    t.match(o.bootLog, /configured eth0 from \/etc\/network\/interfaces \(ifup -a\)/, `${vm.name}: the guest's own ifup applied the file`);
    t.same(o.addresses, [{ ip: vm.ip, prefixLength: 24 }], `${vm.name}: its injected address`);
    t.equal(o.defaultGateway, vm.gateway, `${vm.name}: its injected gateway`);
    t.equal(o.dhcp, null, `${vm.name}: no DHCP client ever recorded a lease`);
    t.ok(o.kernel, `${vm.name}: a guest kernel answered`);
  }
  t.ok(v.verdicts.length > 0 && v.verdicts.every((x: any) => x.ok), 'every check as expected');
});

t.test('a kept lab of vm guests: up, check again through the agents, down', { skip }, async (t) => {
  const results = await tempDir(t);
  const up = await upOwned(t, ['flatdhcp-multihost', '--guest', 'vm', '--variant', 'same-net-blocked', '--results', results, '-q']);
  t.equal(up.exitCode, 0, { output: up.stderr });
  t.ok(up.prefix, 'the lab is up');
  if (!up.prefix) return;
  // the run's folder was copied while the guests' agent sockets were live
  t.notMatch(up.stdout + up.stderr, /collecting results failed/);
  t.same(await qemusOf([up.prefix]).then((q) => q.length), 4, 'its four guests run on');
  // a second process reconnects to each guest's agent and asks again
  const check = await flatlab(['check', '--run', up.prefix, '--json', '-q', '--results', results]);
  t.equal(check.exitCode, 0, { output: check.stderr });
  const res = JSON.parse(check.stdout);
  const v = res.variants?.[0] ?? res;
  t.ok(v.verdicts.length > 0 && v.verdicts.every((x: any) => x.ok), 'every check as expected again');
  const down = await flatlab(['down', '--run', up.prefix]);
  t.equal(down.exitCode, 0, { output: down.stderr });
  t.same(await qemusOf([up.prefix]), [], 'down: no QEMU left');
  t.same(await namespacesOf([up.prefix]), [], 'down: no namespace left');
});

t.test('Ctrl-C and SIGKILL leave no QEMU, tap or mount behind', { skip }, async (t) => {
  const before = await rootSnapshot();
  const leftovers = async (prefixes: string[]): Promise<string[]> => {
    const mounts = (await readFile('/proc/mounts', 'utf8')).split('\n').filter((l) => prefixes.some((p) => l.includes(p)));
    const taps = (await execa('ip', ['-o', 'link', 'show', 'type', 'tun'], { reject: false })).stdout.split('\n').filter((l) => /vnet\d/.test(l));
    return [...(await namespacesOf(prefixes)), ...(await qemusOf(prefixes)).map((p) => `qemu ${p}`), ...mounts, ...taps.map((l) => `tap in the root namespace: ${l}`)];
  };
  // interrupted once the guests run: their QEMU processes exist
  const r = await interruptThenKill(['run', 'flatdhcp-multihost', '--guest', 'vm', '--variant', 'same-net-allowed', '-q'], async (p) => (await qemusOf(p)).length > 0, leftovers, 500);
  t.same(r.reached, [true, true], 'both runs got as far as their guests');
  t.equal(r.interruptedExit, 130, 'Ctrl-C: exit 130');
  t.same(r.afterInterrupt, [], 'after Ctrl-C: nothing left');
  t.same(r.afterKill, [], "after SIGKILL: nothing left once the run's reaper is done");
  t.equal(await rootSnapshot(), before, 'root namespace unchanged');
  // the reaper's state and runtime folders of these runs are gone too
  const runs = await readdir(runtimeRoot()).catch(() => [] as string[]);
  t.same(runs.filter((d) => r.prefixes.includes(d)), [], 'no runtime folder left');
});
