import { readFileSync } from 'node:fs';
import t from 'tap';
import { configMismatches, parseKernelConfig } from '../src/run/kernel-config.js';
import { KERNEL_FRAGMENT } from '../src/run/guest-kernel.js';

t.test('a .config: set, not set, comments', async (t) => {
  const c = parseKernelConfig('# a comment naming CONFIG_FOO=y\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_LOCALVERSION="-flatlab"\n  \nCONFIG_HZ=250\n');
  t.same([...c], [['CONFIG_A', 'y'], ['CONFIG_B', null], ['CONFIG_LOCALVERSION', '"-flatlab"'], ['CONFIG_HZ', '250']]);
});

t.test("what olddefconfig dropped or changed is named; what the fragment turns off may be absent", async (t) => {
  const fragment = 'CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\n# CONFIG_D is not set\nCONFIG_E="x"\n';
  t.same(configMismatches(fragment, 'CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\nCONFIG_E="x"\n'), [], 'D absent: off');
  const wrong = configMismatches(fragment, 'CONFIG_A=m\n# CONFIG_C is not set\nCONFIG_D=y\nCONFIG_E="x"\n');
  t.equal(wrong.length, 3);
  t.match(wrong[0], /CONFIG_A: asked y, the source's kconfig gave m/);
  t.match(wrong[1], /CONFIG_B: asked y, .*nothing \(unknown option/);
  t.match(wrong[2], /CONFIG_D: asked not set, the source's kconfig gave y/);
});

t.test("the guests' fragment asks for what a flat network's guest uses, and no modules", async (t) => {
  const c = parseKernelConfig(readFileSync(KERNEL_FRAGMENT, 'utf8'));
  for (const o of ['VIRTIO_NET', 'VIRTIO_PCI', 'VIRTIO_CONSOLE', 'INET', 'PACKET', 'UNIX', 'PVH', 'BLK_DEV_INITRD', 'BINFMT_SCRIPT', 'DEVTMPFS', 'PROC_SYSCTL', 'SERIAL_8250_CONSOLE']) t.equal(c.get(`CONFIG_${o}`), 'y', o);
  t.equal(c.get('CONFIG_MODULES'), null);
  t.equal(c.get('CONFIG_IPV6'), null, 'IPv4 only, as every namespace of a lab');
  t.equal(c.get('CONFIG_LOCALVERSION'), '"-flatlab"', 'uname -r says whose build it is');
});
