#!/usr/bin/env node
// Compiles flatlab's native helpers into dist/native/ when a source is newer than its
// binary: native/flatlab-nsd.c (the helper that starts guests and sends probes inside
// namespaces), native/udhcpc-script.c (the guests' DHCP client script) and
// native/nova-dhcpbridge.c (dnsmasq's lease-event script), the last two linked
// statically: their start-up cost is what they exist to save. Both are optional: without a
// C compiler flatlab spawns a process per guest and per probe, and guests run
// assets/udhcpc.script (slower, same results), so a missing compiler is a warning.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const cc = process.env.CC ?? 'cc';
const BUILDS = [
  { src: 'native/flatlab-nsd.c', out: 'dist/native/flatlab-nsd', flags: [] },
  // static, or dynamic where the C library has no static archive (still no shell, no `ip`)
  { src: 'native/udhcpc-script.c', out: 'dist/native/flatlab-udhcpc-script', flags: ['-static'], fallback: [] },
  // named as the script it stands for: nova's argv says --dhcp-script=.../nova-dhcpbridge
  { src: 'native/nova-dhcpbridge.c', out: 'dist/native/nova-dhcpbridge', flags: ['-static'], fallback: [] },
];

mkdirSync(`${root}dist/native`, { recursive: true });
for (const b of BUILDS) {
  const src = root + b.src;
  const out = root + b.out;
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) continue;
  const compile = (flags, stdio) => execFileSync(cc, ['-O2', '-Wall', '-Wextra', '-Werror', ...flags, '-o', out, src], { stdio });
  try {
    try {
      compile(b.flags, b.fallback ? 'pipe' : 'inherit');
    } catch (e) {
      if (!b.fallback || e.code === 'ENOENT') throw e;
      compile(b.fallback, 'inherit');
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
