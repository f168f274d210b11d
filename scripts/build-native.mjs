#!/usr/bin/env node
// Compiles flatlab's native helpers into dist/native/ when a source is newer than its
// binary: native/flatlab-nsd.c (the helper that starts guests and sends probes inside
// namespaces), native/udhcpc-script.c (the guests' DHCP client script) and
// native/nova-dhcpbridge.c (dnsmasq's lease-event script), the last two linked
// statically: their start-up cost is what they exist to save. Both are optional: without a
// C compiler flatlab spawns a process per guest and per probe, and guests run
// assets/udhcpc.script (slower, same results), so a missing compiler is a warning.
// The two scripts are linked against musl (Debian's musl-tools) where it is installed:
// a static musl program starts in 0.6 ms here against 1.2 ms for a static glibc one
// (vfork+exec+exit, measured on this project's 2-core VMs), and a thousand guests start
// them three thousand times. Without musl-gcc they link statically against glibc.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cc = process.env.CC ?? 'cc';
/** musl-gcc and the flags that let it see the kernel's headers (linux/, asm/), or null. */
function musl() {
  try {
    execFileSync('musl-gcc', ['--version'], { stdio: 'ignore' });
  } catch {
    return null;
  }
  let multiarch = '';
  try {
    multiarch = execFileSync(cc, ['-print-multiarch'], { encoding: 'utf8' }).trim();
  } catch {
    // no multiarch directory to add: /usr/include alone
  }
  // after musl's own headers, so that only what musl lacks comes from the system
  return ['-idirafter', '/usr/include', ...(multiarch ? ['-idirafter', `/usr/include/${multiarch}`] : [])];
}
const MUSL = musl();
// static (musl, else glibc), or dynamic where the C library has no static archive
// (still no shell, no `ip`)
const SCRIPT = { flags: ['-static'], fallback: [], ...(MUSL ? { cc: 'musl-gcc', flags: ['-static', ...MUSL], fallbackCc: cc, fallbackFlags: ['-static'] } : {}) };
const BUILDS = [
  { src: 'native/flatlab-nsd.c', out: 'dist/native/flatlab-nsd', flags: [] },
  { src: 'native/udhcpc-script.c', out: 'dist/native/flatlab-udhcpc-script', ...SCRIPT },
  // named as the script it stands for: nova's argv says --dhcp-script=.../nova-dhcpbridge
  { src: 'native/nova-dhcpbridge.c', out: 'dist/native/nova-dhcpbridge', ...SCRIPT },
  // goes into the vm guests' image (src/run/guest-image.ts), where it runs under emulation
  { src: 'native/guest-agent.c', out: 'dist/native/flatlab-guest-agent', ...SCRIPT },
  // the TSC rate vm guests are told under TCG (src/run/tsc.ts)
  { src: 'native/tsc-khz.c', out: 'dist/native/flatlab-tsc-khz', flags: ['-O2'] },
];

mkdirSync(`${root}dist/native`, { recursive: true });
for (const b of BUILDS) {
  const src = root + b.src;
  const out = root + b.out;
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) continue;
  const compile = (compiler, flags, stdio) => execFileSync(compiler, ['-O2', '-Wall', '-Wextra', '-Werror', ...flags, '-o', out, src], { stdio });
  // each way to build it, best first; only the last one's failure is shown
  const ways = [[b.cc ?? cc, b.flags], ...(b.fallbackCc ? [[b.fallbackCc, b.fallbackFlags]] : []), ...(b.fallback ? [[cc, b.fallback]] : [])];
  try {
    for (let i = 0; i < ways.length; i++) {
      const last = i === ways.length - 1;
      try {
        compile(ways[i][0], ways[i][1], last ? 'inherit' : 'pipe');
        break;
      } catch (e) {
        if (last || (e.code === 'ENOENT' && ways[i][0] === cc)) throw e;
      }
    }
  } catch (e) {
    if (e.code === 'ENOENT') {
      process.stderr.write('build-native: no C compiler (apt-get install gcc libc6-dev): flatlab will start a process per guest and per probe instead of using flatlab-nsd, and guests will run assets/udhcpc.script\n');
      process.exit(0);
    }
    process.stderr.write(`build-native: compiling ${b.src} failed (see above)\n`);
    process.exit(1);
  }
}
