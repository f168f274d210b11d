/** Shared test helpers: scenario text builders. */
export const REFERENCE = `name: ref
nova:
  network_manager: nova.network.manager.FlatDHCPManager
  multi_host: true
  fixed_range: 10.0.0.0/24
  flat_network_bridge: br100
  flat_interface: eth0
nodes:
  compute1: {}
  compute2: {}
vms:
  vm_1: {host: compute1}
  vm_2: {host: compute1}
  vm_3: {host: compute2}
  vm_4: {host: compute2}
`;

/** The reference under Folsom: libvirt's vnetN taps, for tests that read hop labels. */
export const FOLSOM_REFERENCE = REFERENCE.replace('name: ref', 'name: ref\nrelease: folsom');

import { parseScenarioFile } from '../src/scenario/load.js';
import { UserError } from '../src/errors.js';

/** The one-line errors a scenario text (variants included) produces, as if read from `file`; none: []. */
export function errorsOf(text: string, file = 'scenarios/x.yaml'): string[] {
  try {
    parseScenarioFile(text, file);
    return [];
  } catch (err) {
    if (err instanceof UserError) return err.lines;
    throw err;
  }
}

/** The warnings (mistakes nova accepted) a scenario text produces. */
export function warningsOf(text: string, file = 'scenarios/x.yaml'): string[] {
  return parseScenarioFile(text, file).warnings;
}
