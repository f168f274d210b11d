/**
 * flatlab's end of a vm guest's agent (native/guest-agent.c, in the guest's image): one unix socket per guest,
 * QEMU's end of the guest's virtio-serial port. A request is a line "ID STDIN ARG..."
 * (each word base64, "-" when empty), the answer "ID RC STDOUT STDERR" likewise; the
 * guest runs requests concurrently and answers in any order, so answers are matched by ID.
 * Every connection opens with the guest's "ready KERNEL-RELEASE": its agent runs, and the
 * kernel that answers is the guest's own.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { ExecOptions, ExecResult } from './backend.js';

const b64 = (s: string): string => (s === '' ? '-' : Buffer.from(s).toString('base64'));
const unb64 = (s: string | undefined): string => (!s || s === '-' ? '' : Buffer.from(s, 'base64').toString());

/** A request line: what the guest's agent reads. */
export function requestLine(id: string, argv: string[], input?: string): string {
  return `${[id, b64(input ?? ''), ...argv.map(b64)].join(' ')}\n`;
}

/** An answer line read back, or null for a line that is not one. */
export function parseAnswer(line: string): { id: string; exitCode: number; stdout: string; stderr: string } | null {
  const [id, rc, out, err] = line.split(' ');
  if (!id || rc === undefined || !/^\d+$/.test(rc)) return null;
  return { id, exitCode: Number(rc), stdout: unb64(out), stderr: unb64(err) };
}

/**
 * How long a guest may take to say it is ready, at most: a bound on a guest that never
 * boots (QEMU hung), not a wait (the "ready" line is the event; a guest that panics ends
 * its QEMU, which closes the socket at once). Under TCG a guest was ready 1.7 s after
 * QEMU started on an idle machine; a machine kept busy slows that several times.
 */
export const AGENT_READY_MS = 120_000;

interface Waiting {
  resolve: (r: ExecResult) => void;
  reject: (e: Error) => void;
  started: number;
  timer: NodeJS.Timeout | null;
}

export class GuestAgent {
  private socket: Socket | null = null;
  private readyPromise: Promise<string> | null = null;
  private readonly waiting = new Map<string, Waiting>();
  private buffer = '';
  private seq = 0;
  /** ids are this connection's own: answers to an earlier process's requests are not ours */
  private readonly session = randomBytes(3).toString('hex');
  private closed = false;

  constructor(
    readonly name: string,
    readonly socketPath: string,
    /** whether the guest's QEMU still runs (a guest gone will never answer) */
    private readonly alive: () => Promise<boolean>,
  ) {}

  /** The guest's kernel release, once its agent is ready. */
  ready(): Promise<string> {
    this.readyPromise ??= this.open();
    return this.readyPromise;
  }

  private async open(): Promise<string> {
    const deadline = performance.now() + AGENT_READY_MS;
    // QEMU makes the socket as it starts, and a refused or missing socket says nothing
    // but "not yet": tried again every 20 ms while QEMU runs (the bound ends a hung one)
    for (;;) {
      if (this.closed) throw new Error(`${this.name}: its agent's connection was closed`);
      const socket = await new Promise<Socket | null>((resolve) => {
        const s = connect(this.socketPath);
        s.once('connect', () => resolve(s));
        s.once('error', () => resolve(null));
      });
      if (socket) return this.attach(socket, deadline);
      if (!(await this.alive())) throw new Error(`${this.name}: its QEMU ended before its agent answered (see its console.log)`);
      if (performance.now() > deadline) throw new Error(`${this.name}: its agent's socket did not open in ${AGENT_READY_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private attach(socket: Socket, deadline: number): Promise<string> {
    this.socket = socket;
    socket.setEncoding('utf8');
    return new Promise<string>((resolve, reject) => {
      const bound = setTimeout(() => {
        reject(new Error(`${this.name}: its agent did not say ready in ${AGENT_READY_MS / 1000} s (see its console.log)`));
        socket.destroy();
      }, Math.max(0, deadline - performance.now()));
      let kernel: string | null = null;
      socket.on('data', (chunk: string) => {
        this.buffer += chunk;
        let nl: number;
        while ((nl = this.buffer.indexOf('\n')) >= 0) {
          const line = this.buffer.slice(0, nl);
          this.buffer = this.buffer.slice(nl + 1);
          if (kernel === null && line.startsWith('ready ')) {
            kernel = line.slice(6).trim();
            clearTimeout(bound);
            resolve(kernel);
          } else this.answer(line);
        }
      });
      socket.on('close', () => {
        clearTimeout(bound);
        const err = new Error(`${this.name}: its agent's connection ended (the guest or its QEMU is gone)`);
        if (kernel === null) reject(err);
        for (const w of this.waiting.values()) w.reject(err);
        this.waiting.clear();
      });
      socket.on('error', () => undefined); // 'close' follows and says it
    });
  }

  private answer(line: string): void {
    const a = parseAnswer(line);
    const w = a && this.waiting.get(a.id);
    if (!a || !w) return;
    this.waiting.delete(a.id);
    if (w.timer) clearTimeout(w.timer);
    w.resolve({ exitCode: a.exitCode, stdout: a.stdout, stderr: a.stderr, durationMs: Math.round(performance.now() - w.started), timedOut: false });
  }

  /** Runs argv inside the guest (its PATH: busybox, socat) and says how it ended. */
  async exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    await this.ready();
    const id = `${this.session}.${++this.seq}`;
    return new Promise<ExecResult>((resolve, reject) => {
      const started = performance.now();
      // the bound ends a command that never answers; the guest's command goes on
      const timer = opts.timeoutMs
        ? setTimeout(() => {
            this.waiting.delete(id);
            resolve({ exitCode: -1, stdout: '', stderr: `no answer from ${this.name}'s agent in ${opts.timeoutMs} ms`, durationMs: opts.timeoutMs!, timedOut: true });
          }, opts.timeoutMs)
        : null;
      this.waiting.set(id, { resolve, reject, started, timer });
      this.socket!.write(requestLine(id, argv, opts.input));
    });
  }

  close(): void {
    this.closed = true;
    this.socket?.destroy();
  }
}
