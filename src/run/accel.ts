/**
 * KVM or TCG for vm guests. /dev/kvm may exist and still not boot guests (nested
 * virtualisation: guests that hung after the kernel's first lines were seen on a machine
 * of this project's kind), so KVM is used only where a probe guest proved it: booted with
 * KVM, its agent said ready within the bound. The answer is kept per machine (the cache
 * folder, by kernel release and image) and said in the run's header. FLATLAB_ACCEL=tcg|kvm
 * forces one.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { release } from 'node:os';
import { GuestAgent } from '../backend/guest-agent.js';
import { GUEST_CONF, qemuArgv } from '../plan/guest-vm.js';
import { cpioArchive } from './cpio.js';
import { cacheRoot, type GuestImage } from './guest-image.js';

export interface Accel {
  accel: 'kvm' | 'tcg';
  /** why, in words, for the run's header */
  why: string;
}

/** How long a KVM probe guest may take to say ready: TCG guests did in under 3 s here, KVM ones do faster. */
const PROBE_MS = 20_000;

async function probeKvm(image: GuestImage): Promise<boolean> {
  const dir = await mkdtemp(join(cacheRoot(), 'kvm-probe-'));
  const initrd = join(dir, 'initrd.cpio');
  const conf = 'VM_NAME=probe\nHOSTNAME=probe\nNIC=eth0\nVM_DIR=/run/probe\nBOOT=none\nMODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console"\nSERVICES=""\n';
  await writeFile(initrd, Buffer.concat([await readFile(image.initrd), cpioArchive([{ path: GUEST_CONF, kind: 'file', data: conf }])]));
  const m = { memoryMb: 128, accel: 'kvm' as const, agentSocket: join(dir, 'agent.sock'), console: join(dir, 'console.log'), kernel: image.kernel, initrd };
  // no NIC: the probe asks only whether a KVM guest boots
  const argv = qemuArgv({ name: 'kvm-probe', tap: '', mac: '' }, m, false);
  const qemu = execa(argv[0]!, argv.slice(1), { reject: false, stdio: 'ignore' });
  let running = true;
  void qemu.finally(() => (running = false));
  const agent = new GuestAgent('kvm-probe', m.agentSocket, async () => running);
  try {
    return await Promise.race([agent.ready().then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), PROBE_MS).unref())]);
  } finally {
    agent.close();
    qemu.kill('SIGKILL');
    await qemu.catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

export async function chooseAccel(image: GuestImage): Promise<Accel> {
  const forced = process.env.FLATLAB_ACCEL;
  if (forced === 'tcg' || forced === 'kvm') return { accel: forced, why: 'FLATLAB_ACCEL' };
  if (!existsSync('/dev/kvm')) return { accel: 'tcg', why: 'no /dev/kvm' };
  const file = join(cacheRoot(), 'guest', `kvm-${release()}-${image.id}.json`);
  const known = await readFile(file, 'utf8').then((t) => JSON.parse(t) as { works: boolean }, () => null);
  const works = known ? known.works : await probeKvm(image);
  if (!known) await mkdir(join(cacheRoot(), 'guest'), { recursive: true }).then(() => writeFile(file, JSON.stringify({ works, at: new Date().toISOString() })));
  return works ? { accel: 'kvm', why: 'a KVM guest booted here' } : { accel: 'tcg', why: `a KVM guest did not boot in ${PROBE_MS / 1000} s here (nested virtualisation?)` };
}
