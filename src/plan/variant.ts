/**
 * A variant of a loaded scenario planned for a run: the scenario's own expectations or
 * none (`--ignore-expect`), its release or another one (`--release`), checked again
 * where the release changes what nova accepted.
 */
import type { LabAssets } from '../assets.js';
import { UserError } from '../errors.js';
import type { Release } from '../nova/releases.js';
import { DEFAULT_VARIANT } from '../scenario/schema.js';
import { checkSemantics } from '../scenario/semantics.js';
import type { ScenarioVariant } from '../scenario/load.js';
import { plan } from './plan.js';
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
}

export function planVariant(variant: ScenarioVariant, o: VariantOptions): Plan {
  const { expect: _drop, ...bare } = variant.scenario;
  const chosen = o.ignoreExpect ? bare : variant.scenario;
  const s = o.release ? { ...chosen, release: o.release } : chosen;
  // the release-dependent rules hold for --release as for `release:` in the file
  if (o.release && o.release !== chosen.release) {
    const errors = checkSemantics(s).filter((p) => !p.warning);
    if (errors.length) {
      const where = variant.name !== DEFAULT_VARIANT ? ` [variant ${variant.name}]` : '';
      throw new UserError(errors.map((p) => `--release ${o.release}: ${p.path.join('.')}: ${p.message}${where}`).join('\n'));
    }
  }
  return plan(s, { runId: o.runId, variant: variant.name, runtimeRoot: o.runtimeRoot, assets: o.assets, ...(o.engines ? { engines: o.engines } : {}) });
}
