/** Names a run gives to what it creates. All of them start with the run's prefix. */
import { createHash } from 'node:crypto';
import { behaviour, type Release } from '../nova/releases.js';

export { sanitizeHostname } from '../nova/hostname.js';

export const PREFIX_ROOT = 'fl-';
/** `fl-` + 6 hex digits: short enough to leave room for node and VM names. */
export function runPrefix(runId: string): string {
  return `${PREFIX_ROOT}${runId}`;
}

/** Namespace of a node, VM or the fabric: `fl-1a2b3c-compute1`. */
export function netnsName(prefix: string, name: string): string {
  return `${prefix}-${name}`;
}

/** The run prefix a namespace name belongs to, if it is flatlab's. */
export function prefixOfNetns(ns: string): string | undefined {
  const m = /^(fl-[0-9a-f]{6})-/.exec(ns);
  return m?.[1];
}

/**
 * A guest's tap, as the release named it (releases.ts, tapNames): libvirt's vnet0,
 * vnet1, ... in creation order on each host (Essex, Folsom: LibvirtBridgeDriver set no
 * target dev), or nova's "nic" + the VIF's uuid cut to 14 characters (Grizzly, Havana:
 * LibvirtGenericVIFDriver.get_vif_devname).
 */
export function tapName(release: Release, index: number, vifUuid: string): string {
  return behaviour('tapNames', release) === 'vnet' ? `vnet${index}` : `nic${vifUuid}`.slice(0, NIC_NAME_LEN);
}

/** nova/network/model.py NIC_NAME_LEN */
const NIC_NAME_LEN = 14;

/**
 * The VIF's uuid: nova drew a random uuid4 per VIF (virtual_interfaces.uuid); flatlab
 * derives one from scenario and VM name, so a plan is the same every time.
 */
export function vifUuid(scenario: string, vm: string): string {
  const h = createHash('sha1').update(`vif:${scenario}/${vm}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
