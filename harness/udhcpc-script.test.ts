/**
 * The compiled DHCP client script (native/udhcpc-script.c, what guests run when it was
 * built) leaves a guest exactly as the shell script (assets/udhcpc.script) does: the
 * same links up, addresses, routes and record files after the same sequence of udhcpc
 * events, each script in a namespace of its own (named with this test's prefix) holding
 * the same veth pair and a stale address to flush.
 */
import t from 'tap';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ownRunId, prefixesFor, ROOT, skipUnlessRoot, tempDir } from './lib.js';

const SHELL = join(ROOT, 'assets', 'udhcpc.script');
const COMPILED = join(ROOT, 'dist', 'native', 'flatlab-udhcpc-script');
const skip = skipUnlessRoot || (existsSync(COMPILED) ? false : 'the compiled script was not built (no C compiler)');

type Event = [string, Record<string, string>];
const SEQUENCES: Record<string, Event[]> = {
  'boot, lease, renewal with another router, then a failed cycle': [
    ['deconfig', {}],
    ['bound', { ip: '10.9.0.6', mask: '20', broadcast: '10.9.15.255', router: '10.9.0.1 10.9.0.2', lease: '120', serverid: '10.9.0.1', hostname: 'vm-1', domain: 'novalocal' }],
    ['renew', { ip: '10.9.0.7', mask: '20', router: '10.9.0.3', lease: '120' }],
    ['leasefail', {}],
  ],
  'a lease without a router (no default route), then a NAK and a deconfig': [
    ['deconfig', {}],
    ['bound', { ip: '192.168.5.10', mask: '24', router: '', lease: '3600' }],
    ['nak', {}],
    ['deconfig', {}],
  ],
  'an event the script ignores changes nothing': [['deconfig', {}], ['bound', { ip: '10.0.0.9', mask: '24', router: '10.0.0.1' }], ['arp', {}]],
};

/** What the guest looks like: its links' up flags, addresses and routes, and its record files (times blanked). */
async function state(netns: string, dir: string): Promise<string> {
  const ip = async (args: string[]): Promise<string> => (await execa('ip', ['-n', netns, ...args])).stdout;
  const links = (await ip(['-o', 'link'])).split('\n').map((l) => l.replace(/^\d+: /, '').replace(/@.*?:/, ':').replace(/ mtu.*/, ''));
  const addrs = (await ip(['-o', '-4', 'addr'])).split('\n').map((l) => l.replace(/^\d+: /, '').replace(/\\.*/, ''));
  const routes = await ip(['-4', 'route', 'show', 'table', 'all']);
  const file = async (name: string): Promise<string> => (await readFile(join(dir, name), 'utf8').catch(() => '(none)')).replace(/ \d+$/gm, ' T');
  return [...links, '--', ...addrs, '--', routes, '--', await file('dhcp.env'), '--', await file('dhcp.events')].join('\n');
}

t.test('the compiled DHCP client script leaves a guest as the shell script does', { skip }, async (t) => {
  const prefix = prefixesFor(ownRunId())[0]!;
  const made: string[] = [];
  t.teardown(async () => {
    for (const ns of made) await execa('ip', ['netns', 'delete', ns], { reject: false });
  });
  const tmp = await tempDir(t);
  let n = 0;
  for (const [name, events] of Object.entries(SEQUENCES)) {
    const seen: string[] = [];
    for (const script of [SHELL, COMPILED]) {
      const netns = `${prefix}-us${n++}`;
      const dir = join(tmp, netns);
      await mkdir(dir);
      await execa('ip', ['netns', 'add', netns]);
      made.push(netns);
      // the guest's NIC as a lab wires it (down, its peer in the same namespace here), with
      // an address the first deconfig must flush
      await execa('ip', ['-n', netns, '-batch', '-'], { input: 'link add name eth0 type veth peer name tap0\naddr add 172.16.0.9/24 dev eth0\n' });
      for (const [event, vars] of events) {
        const r = await execa('ip', ['netns', 'exec', netns, script, event], { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', FLATLAB_VM_DIR: dir, interface: 'eth0', ...vars }, extendEnv: false, reject: false });
        t.equal(r.exitCode, 0, `${name}: ${event} by ${script === SHELL ? 'the shell script' : 'the compiled one'}`, { stderr: r.stderr });
      }
      seen.push(await state(netns, dir));
    }
    t.equal(seen[1], seen[0], `${name}: the same guest state`);
    t.match(seen[0], /eth0/, `${name}: the state read names the NIC`);
  }
});
