/**
 * A variant of a loaded scenario planned for a run: the scenario's own expectations or
 * none (`--ignore-expect`), its release or another one (`--release`), checked again
 * where the release changes what nova accepted.
 */
import type { LabAssets } from '../assets.js';
import { UserError } from '../errors.js';
import type { Release } from '../nova/releases.js';
import { DEFAULT_VARIANT, type GuestKind, type Scenario } from '../scenario/schema.js';
import { checkSemantics } from '../scenario/semantics.js';
import type { ScenarioVariant } from '../scenario/load.js';
import { plan, type PlanOptions } from './plan.js';
import type { Plan } from './types.js';

export interface VariantOptions {
  runId: string;
  /** where runs keep their files (run/state.ts runtimeRoot()) */
  runtimeRoot: string;
  assets: LabAssets;
  /** plan from what the scenario derives alone, as if it had no expect: block */
  ignoreExpect?: boolean;
  /** build this release's behaviour instead of the scenario's */
  release?: Release;
  /** the Docker engines' names, to place nodes on */
  engines?: string[];
  /** make every guest this kind, whatever the scenario says (--guest) */
  guest?: GuestKind;
  /** how vm guests run here: the image, the accelerator, vhost-net (plan.ts PlanOptions) */
  machines?: Pick<PlanOptions, 'guestImage' | 'accel' | 'vhostNet' | 'tscKhz'>;
}

/** The scenario with every guest of the kind --guest asks for. */
export function withGuestKind(s: Scenario, guest: GuestKind | undefined): Scenario {
  if (!guest) return s;
  return { ...s, guest, vms: Object.fromEntries(Object.entries(s.vms).map(([name, vm]) => [name, { ...vm, guest }])) };
}

/** Whether a scenario has vm guests (with --guest applied). */
export function hasVmGuests(s: Scenario, guest?: GuestKind): boolean {
  return Object.values(withGuestKind(s, guest).vms).some((vm) => (vm.guest ?? s.guest) === 'vm');
}

export function planVariant(variant: ScenarioVariant, o: VariantOptions): Plan {
  const { expect: _drop, ...bare } = variant.scenario;
  const chosen = o.ignoreExpect ? bare : variant.scenario;
  const s = withGuestKind(o.release ? { ...chosen, release: o.release } : chosen, o.guest);
  // the release-dependent rules hold for --release as for `release:` in the file
  if (o.release && o.release !== chosen.release) {
    const errors = checkSemantics(s).filter((p) => !p.warning);
    if (errors.length) {
      const where = variant.name !== DEFAULT_VARIANT ? ` [variant ${variant.name}]` : '';
      throw new UserError(errors.map((p) => `--release ${o.release}: ${p.path.join('.')}: ${p.message}${where}`).join('\n'));
    }
  }
  return plan(s, { runId: o.runId, variant: variant.name, runtimeRoot: o.runtimeRoot, assets: o.assets, ...(o.engines ? { engines: o.engines } : {}), ...o.machines });
}
