/**
 * `flatlab plan --json` holds every process a lab runs: each lab here is brought up with
 * a run id of the test's own, planned with the same id, and every process its state
 * records is found in the plan with the same target, role and command line (read from
 * the kernel, /proc/PID/cmdline, or what the plan says it execs into once done); every process the plan says the build starts was started.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { flatlab, ownRunId, prefixesFor } from './lib.js';
import { runtimeRoot } from '../src/run/state.js';
import type { ProcessPlan } from '../src/plan/types.js';

type Plan = { processes: ProcessPlan[]; variant: string };

const skip = process.getuid?.() !== 0 ? 'needs root' : false;

/** A script's command line as the kernel shows it: its interpreter first (`sh /path/guest-init eth0`). */
function sameCommand(cmdline: string[], argv: string[]): boolean {
  const tail = cmdline.slice(cmdline.length - argv.length);
  return tail.length === argv.length && tail.every((a, i) => a === argv[i]) && cmdline.length - argv.length <= 1;
}

for (const scenario of ['scenarios/services.yaml', 'scenarios/flatdhcp-multihost-external.yaml', 'scenarios/flat-injected.yaml', 'scenarios/flat-external-dhcp.yaml']) {
  t.test(`every process of a ${scenario} lab is in its plan`, { skip }, async (t) => {
    const id = ownRunId();
    const prefix = prefixesFor(id)[0]!;
    t.teardown(() => flatlab(['down', '--run', prefix, '--force']));
    const planned = await flatlab(['plan', scenario, '--json'], { env: { FLATLAB_RUN_ID: id } });
    t.equal(planned.exitCode, 0, 'plan', { output: planned.stderr });
    // several variants: a list, the first of which `up` keeps (and plans with the run id itself)
    const plans = JSON.parse(planned.stdout) as Plan | Plan[];
    const plan = Array.isArray(plans) ? plans[0]! : plans;
    const up = await flatlab(['up', scenario, '-q'], { env: { FLATLAB_RUN_ID: id } });
    t.equal(up.exitCode, 0, 'up', { output: up.stdout + up.stderr });
    const state = JSON.parse(await readFile(join(runtimeRoot(), 'runs', `${prefix}.json`), 'utf8')) as { variant: string; processes: { pid: number; role: string; target: string }[] };
    t.equal(state.variant, plan.variant, 'the lab is the planned variant');
    t.ok(state.processes.length > 0, `${state.processes.length} processes recorded`);
    let alive = 0;
    for (const rec of state.processes) {
      const candidates = plan.processes.filter((p) => p.target === rec.target && p.role === rec.role);
      t.ok(candidates.length > 0, `${rec.role} in ${rec.target} is planned`);
      const cmdline = await readFile(`/proc/${rec.pid}/cmdline`, 'utf8').catch(() => null);
      if (cmdline === null) continue; // ended (the way out's capture, during the checks)
      alive++;
      const argv = cmdline.replace(/\0$/, '').split('\0');
      t.ok(candidates.some((p) => sameCommand(argv, p.argv) || (p.execs !== undefined && sameCommand(argv, p.execs))), `${rec.role} in ${rec.target}: ${argv.join(' ')} is a planned command line`);
    }
    t.ok(alive > 0, `${alive} of them read from the kernel`);
    const started = new Set(state.processes.map((r) => `${r.role} ${r.target}`));
    for (const p of plan.processes.filter((x) => !x.phase)) t.ok(started.has(`${p.role} ${p.target}`), `planned ${p.role} in ${p.target} was started`);
  });
}
