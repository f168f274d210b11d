/**
 * Commands through a shell that stays open in the run's agent on a remote engine: one exec
 * whose stdin carries requests and whose stdout carries the answers, so a command costs a
 * few processes there instead of an exec of its own. An exec is a process the engine's
 * runtime spawns and sets up (runc), 0.1 s on an idle machine and 0.3-0.7 s on a busy one
 * here, and a lab asks hundreds of small things of a remote engine (start times, files,
 * guests' state, probes).
 *
 * The words of a request never meet a shell's parser: argv and input travel as base64 on
 * one line ("ID ARGV INPUT"), argv NUL-separated, and `xargs -0 -a` hands the words to the
 * command as they are. The answer is "ID STATUS OUTLEN ERRLEN\n" followed by exactly that
 * many bytes of stdout and stderr. One shell answers in order; a pool of them keeps a slow
 * request (a probe's timeout, a stop's wait) from holding the others.
 */
import type { Readable, Writable } from 'node:stream';
import type { ExecResult } from '../backend.js';

export const SESSION_SCRIPT = `d=$(mktemp -d) || exit 1
trap 'rm -rf "$d"' EXIT
while read -r id a i; do
  printf "%s" "$a" | base64 -d > "$d/a" && printf "%s" "$i" | base64 -d > "$d/i" || exit 1
  echo 127 > "$d/r"
  : > "$d/o"; : > "$d/e"
  xargs -0 -r -x -a "$d/a" sh -c '"$@" < "$0/i" > "$0/o" 2> "$0/e"; echo $? > "$0/r"' "$d"
  printf "%s %s %s %s\\n" "$id" "$(cat "$d/r")" "$(wc -c < "$d/o")" "$(wc -c < "$d/e")"
  cat "$d/o" "$d/e"
done`;

/** One request line: the id, then argv (NUL-separated) and input, each base64. */
export function requestLine(id: number, argv: string[], input = ''): string {
  return `${id} ${Buffer.from(argv.map((a) => `${a}\0`).join('')).toString('base64')} ${Buffer.from(input).toString('base64')}\n`;
}

/** Cuts complete answers off the front of `buf`; what is left is an answer still arriving. */
export function takeAnswers(buf: Buffer): { answers: { id: number; exitCode: number; stdout: string; stderr: string }[]; rest: Buffer } {
  const answers = [];
  let at = 0;
  for (;;) {
    const nl = buf.indexOf(10, at);
    if (nl < 0) break;
    const [id, code, olen, elen] = buf.subarray(at, nl).toString().split(' ').map(Number) as [number, number, number, number];
    const end = nl + 1 + olen + elen;
    if (buf.length < end) break;
    answers.push({ id, exitCode: code, stdout: buf.subarray(nl + 1, nl + 1 + olen).toString(), stderr: buf.subarray(nl + 1 + olen, end).toString() });
    at = end;
  }
  return { answers, rest: buf.subarray(at) };
}

interface Pending {
  resolve(r: ExecResult): void;
  reject(e: Error): void;
  t0: number;
}

/** A stream to a shell running SESSION_SCRIPT: `input` its stdin, `output` its stdout. */
export interface SessionStream {
  input: Writable;
  output: Readable;
}

export class Session {
  private buf: Buffer = Buffer.alloc(0);
  private readonly pending = new Map<number, Pending>();
  private next = 1;
  closed = false;

  constructor(private readonly stream: SessionStream, private readonly what: string) {
    this.hold(false);
    stream.output.on('data', (chunk: Buffer) => {
      const { answers, rest } = takeAnswers(Buffer.concat([this.buf, chunk]));
      this.buf = rest;
      for (const a of answers) {
        const p = this.pending.get(a.id);
        this.pending.delete(a.id);
        if (this.pending.size === 0) this.hold(false);
        p?.resolve({ exitCode: a.exitCode, stdout: a.stdout, stderr: a.stderr, durationMs: performance.now() - p.t0, timedOut: false });
      }
    });
    const end = (why: string): void => {
      this.closed = true;
      for (const p of this.pending.values()) p.reject(new Error(`${this.what}: ${why}`));
      this.pending.clear();
    };
    stream.output.on('end', () => end('the session ended'));
    stream.input.on('error', (e: Error) => end(e.message));
    stream.input.on('close', () => end('the session closed'));
  }

  /**
   * An idle session does not keep this process alive (a command that ends without closing
   * the backend still exits); one owing answers does. The engine's stream is a socket.
   */
  private hold(on: boolean): void {
    const sock = this.stream.input as Writable & { ref?(): void; unref?(): void };
    if (on) sock.ref?.();
    else sock.unref?.();
  }

  /** Requests not answered yet. */
  get load(): number {
    return this.pending.size;
  }

  run(argv: string[], input?: string): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new Error(`${this.what}: the session is closed`));
    const id = this.next++;
    return new Promise<ExecResult>((resolve, reject) => {
      this.hold(true);
      this.pending.set(id, { resolve, reject, t0: performance.now() });
      this.stream.input.write(requestLine(id, argv, input));
    });
  }

  close(): void {
    this.closed = true;
    this.stream.input.end();
  }
}

/** Up to `size` sessions, opened as requests need them; each request to the least busy. */
export class SessionPool {
  private readonly sessions: Session[] = [];
  private opening: Promise<Session | null> | null = null;

  constructor(private readonly open: () => Promise<Session | null>, private readonly size = 4) {}

  /** Runs argv in a session; null when no session can be had (the caller execs instead). */
  async run(argv: string[], input?: string): Promise<ExecResult | null> {
    const s = await this.pick();
    return s ? s.run(argv, input) : null;
  }

  private async pick(): Promise<Session | null> {
    for (let i = this.sessions.length - 1; i >= 0; i--) if (this.sessions[i]!.closed) this.sessions.splice(i, 1);
    const idle = [...this.sessions].sort((a, b) => a.load - b.load)[0];
    if (idle && (idle.load === 0 || this.sessions.length >= this.size)) return idle;
    // one open at a time: the turn's requests share it rather than each opening its own
    this.opening ??= this.open()
      .catch(() => null)
      .then((s) => {
        this.opening = null;
        if (s) this.sessions.push(s);
        return s;
      });
    return (await this.opening) ?? idle ?? null;
  }

  close(): void {
    for (const s of this.sessions) s.close();
    this.sessions.length = 0;
  }
}
