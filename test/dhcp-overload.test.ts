/**
 * A lab whose DHCP this machine cannot serve ends with a named failure instead of a retry
 * storm (src/run/boot-window.ts DhcpOverload): on a fake backend where no guest ever
 * records a lease, a paced lab (more guests than FLATLAB_BOOT_WINDOW) stops booting once a
 * window's worth of guests that should have leased did not, and says why. No root needed.
 */
import t from 'tap';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeBackend } from './fake-backend.js';

const root = mkdtempSync(join(tmpdir(), 'flatlab-overload-'));
chmodSync(root, 0o755);
process.env.FLATLAB_RUNTIME_DIR = join(root, 'runtime');
process.env.FLATLAB_REGISTRY_DIR = join(root, 'registry');
process.env.FLATLAB_BOOT_WINDOW = '2';
t.teardown(() => {
  rmSync(root, { recursive: true, force: true });
  delete process.env.FLATLAB_BOOT_WINDOW;
});

const { planRun, selectVariants } = await import('../src/run/run-scenario.js');
const { loadScenarioFile } = await import('../src/scenario/load.js');
const { bringUp, tearDown } = await import('../src/run/lab.js');
const { createProgress } = await import('../src/run/progress.js');
const { DhcpOverload } = await import('../src/run/boot-window.js');

t.test('guests that should lease and do not end the DHCP phase with DhcpOverload', async (t) => {
  const scenario = await loadScenarioFile(new URL('../scenarios/flatdhcp-multihost.yaml', import.meta.url).pathname);
  const plan = planRun(selectVariants(scenario)[0]!, 'ovl001');
  t.ok(plan.vms.length > 2, `${plan.vms.length} guests: paced by a window of 2`);
  const backend = new FakeBackend(null);
  const state = {
    prefix: plan.prefix, scenario: 's', variant: 'v', file: 'f', backend: 'fake', kept: false, createdAt: 'now',
    owner: { pid: process.pid, startTicks: null }, processes: [], targets: {}, plan,
  };
  const started = () => backend.calls.filter((c) => c.op === 'startProcess' && c.detail === 'dhcp-client').length;
  let error: unknown = null;
  try {
    await bringUp(plan, backend, state, createProgress({ quiet: true }), new AbortController().signal, { serviceMs: 1000, leasesMs: 150, leaseLogMs: 1000 });
  } catch (err) {
    error = err;
  } finally {
    await tearDown(backend, plan.prefix, plan.runtimeDir, state.processes);
  }
  t.ok(error instanceof DhcpOverload, `DhcpOverload, not ${String(error)}`);
  t.match(String((error as Error).message), /DHCP overloaded: 2 guests that should have leased had no lease/);
  t.match(String((error as Error).message), new RegExp(`reaches all ${plan.vms.length} guest ports`));
  // the two admitted first, and at most the one admitted when the first of them gave up
  t.ok(started() >= 2 && started() <= 3, `${started()} DHCP clients started`);
  t.ok(started() < plan.vms.length, `none of the other ${plan.vms.length - started()} guests was started`);
});
