/**
 * Error kinds and the exit codes they map to. A user mistake is never a stack trace:
 * the CLI prints `message` alone for the typed errors below and exits with `exitCode`.
 */

/** Bad input (a scenario file, a CLI argument): exit 2. */
export class UserError extends Error {
  readonly exitCode = 2;
  /** One line per problem, already formatted as `file:line:col field: message`. */
  readonly lines: string[];
  constructor(lines: string[] | string, options?: ErrorOptions) {
    const all = Array.isArray(lines) ? lines : [lines];
    super(all.join('\n'), options);
    this.lines = all;
    this.name = 'UserError';
  }
}

/** The machine cannot run flatlab (not root, a tool missing): exit 3, with what to do. */
export class EnvironmentError extends Error {
  readonly exitCode = 3;
  constructor(message: string, readonly hint?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EnvironmentError';
  }
}

/** A run was interrupted by a signal; teardown has already run when this is thrown. */
export class InterruptedError extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
    this.name = 'InterruptedError';
  }
  /** 128 + the signal's number, as a shell reports it: SIGHUP 129, SIGINT 130, SIGTERM 143 */
  get exitCode(): number {
    return this.signal === 'SIGINT' ? 130 : this.signal === 'SIGHUP' ? 129 : 143;
  }
}
