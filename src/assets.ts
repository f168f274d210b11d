/**
 * Where flatlab's shipped files are: the scripts that run inside a lab (their paths go
 * into the plan as plan options, so plan/ stays free of the package's layout) and the
 * checkout's own entry points. Paths only: nothing is read here but whether the
 * compiled DHCP scripts were built.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** the package's assets/ folder (this file is src/assets.ts, compiled to dist/assets.js) */
export const ASSETS_DIR = fileURLToPath(new URL('../assets', import.meta.url));

/** The files a lab's processes run, by what they stand for. */
export interface LabAssets {
  /** --dhcp-script: the stand-in for nova-dhcpbridge, recording dnsmasq's lease events */
  dhcpScript: string;
  /** udhcpc -s: the guests' DHCP client script (CirrOS's behaviour) */
  udhcpcScript: string;
  /** an injected guest's first process: applies /etc/network/interfaces as nova wrote it */
  guestInit: string;
  /** the external host's echo service: answers with the address that called */
  peerEcho: string;
}

/** The lab's files as they are laid out in `dir` (the package's, or a test's made-up folder). */
export function assetsIn(dir: string): LabAssets {
  return {
    dhcpScript: join(dir, 'nova-dhcpbridge'),
    udhcpcScript: join(dir, 'udhcpc.script'),
    guestInit: join(dir, 'guest-init'),
    peerEcho: join(dir, 'peer-echo'),
  };
}

/** where scripts/build-native.mjs puts the compiled helpers (mounted into Docker nodes too) */
export const NATIVE_DIR = fileURLToPath(new URL('../dist/native', import.meta.url));

/**
 * The guests' DHCP client script as run: the compiled one (native/udhcpc-script.c: the
 * same work as assets/udhcpc.script, held to the same state by a test, without a shell
 * and `ip` to start twice per guest) when it was built, else the shell script.
 */
const COMPILED_UDHCPC_SCRIPT = join(NATIVE_DIR, 'flatlab-udhcpc-script');
/** dnsmasq's lease-event script likewise (native/nova-dhcpbridge.c: add/old/del; init via the shell script) */
const COMPILED_DHCPBRIDGE = join(NATIVE_DIR, 'nova-dhcpbridge');

export const LAB_ASSETS: LabAssets = {
  ...assetsIn(ASSETS_DIR),
  ...(existsSync(COMPILED_UDHCPC_SCRIPT) ? { udhcpcScript: COMPILED_UDHCPC_SCRIPT } : {}),
  ...(existsSync(COMPILED_DHCPBRIDGE) ? { dhcpScript: COMPILED_DHCPBRIDGE } : {}),
};

/** a run's watcher (run/reaper.ts starts it) */
export const REAPER = join(ASSETS_DIR, 'reaper');
/** what `flatlab collect-script` prints */
export const COLLECT_SCRIPT = join(ASSETS_DIR, 'collect.sh');
/** the CLI itself, for the reaper to call `flatlab down` with */
export const CLI = fileURLToPath(new URL('../bin/flatlab.js', import.meta.url));
