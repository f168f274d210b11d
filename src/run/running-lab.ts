/** A lab being brought up or running: what every step of its lifecycle reads and records. */
import type { Backend, ProcessRecord } from '../backend/backend.js';
import type { Plan } from '../plan/types.js';
import type { BootStats } from '../result.js';
import { appendProcess, type RunState } from './state.js';

export interface RunningLab {
  plan: Plan;
  backend: Backend;
  state: RunState;
  /** each guest's resident process (its DHCP client, or its init): it lives in the VM for the whole run */
  clients: Record<string, ProcessRecord>;
  /** a large lab's boot window, once its guests are through (boot-window.ts) */
  boot?: BootStats;
}

/**
 * Bounds on waits for events. Each is reached only when the event never comes (a
 * failure), so they are generous: a loaded machine must not turn a slow success into
 * a failure.
 */
export interface LabTimeouts {
  /** a server bound to its port */
  serviceMs: number;
  /** every guest holds an address or its client gave up (see awaitLeases) */
  leasesMs: number;
  /** a lease the guest holds shows in the server's lease record */
  leaseLogMs: number;
}

export const DEFAULT_TIMEOUTS: LabTimeouts = { serviceMs: 15000, leasesMs: 30000, leaseLogMs: 10000 };

/** Records a started process with the run's state before anything else happens. */
export async function track(state: RunState, p: ProcessRecord): Promise<ProcessRecord> {
  state.processes.push(p);
  await appendProcess(state, p);
  return p;
}
