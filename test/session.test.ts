/**
 * The agent's session (backend/docker/session.ts): its shell runs here, in a plain `sh`
 * on this machine with pipes for the engine's stream, so requests and answers are checked
 * byte for byte without Docker or root: words reach the command as they are (quotes,
 * newlines, `$(...)`, no shell parses them), input reaches its stdin, output of any size
 * and in any encoding comes back whole, requests sent together are answered each to its
 * own caller, and a session that ends fails what it still owed instead of hanging.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { SESSION_SCRIPT, Session, SessionPool, requestLine, takeAnswers } from '../src/backend/docker/session.js';

function localSession(t: { teardown(fn: () => void): void }): { session: Session; kill(): void } {
  const child = spawn('sh', ['-c', SESSION_SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] });
  const session = new Session({ input: child.stdin, output: child.stdout }, 'the test session');
  t.teardown(() => void child.kill('SIGKILL'));
  return { session, kill: () => void child.kill('SIGKILL') };
}

t.test('answers are cut by their byte lengths, whatever arrives in which chunk', async (t) => {
  const out = Buffer.from('7 0 7 2\nhé✓\ner5 3 0 0\n');
  t.equal(out.length, 25, 'é is two bytes, ✓ three: lengths are bytes, not characters');
  let buf: Buffer = Buffer.alloc(0);
  const got: unknown[] = [];
  for (const byte of out) {
    const r = takeAnswers(Buffer.concat([buf, Buffer.from([byte])]));
    got.push(...r.answers);
    buf = r.rest;
  }
  t.same(got, [
    { id: 7, exitCode: 0, stdout: 'hé✓\n', stderr: 'er' },
    { id: 5, exitCode: 3, stdout: '', stderr: '' },
  ]);
  t.equal(buf.length, 0);
  t.match(requestLine(1, ['a b', ''], ''), /^1 [A-Za-z0-9+/=]+ \n$/, 'one line: the id, argv in base64, empty input');
});

t.test('a command per request, its words untouched, its input on stdin, its status and output back', async (t) => {
  const { session } = localSession(t);
  const odd = `it's "x" $(echo no) \`no\` ; | & \n second line\t tab`;
  const [a, b, c, d] = await Promise.all([
    session.run(['printf', '%s', odd]),
    session.run(['sh', '-c', 'cat; echo err >&2; exit 7'], 'in\nput\n'),
    session.run(['sh', '-c', 'head -c 300000 /dev/zero | tr "\\0" x']),
    session.run(['no-such-command-here']),
  ]);
  t.same([a!.exitCode, a!.stdout, a!.stderr], [0, odd, ''], 'the word reached printf as given');
  t.same([b!.exitCode, b!.stdout, b!.stderr], [7, 'in\nput\n', 'err\n'], "status, stdout and stderr each the command's");
  t.equal(c!.stdout.length, 300_000, 'a large output whole');
  t.equal(d!.exitCode, 127, 'a command that does not exist: 127, as a shell says');
  const many = await Promise.all(Array.from({ length: 50 }, (_, i) => session.run(['echo', String(i)])));
  t.same(many.map((r) => r.stdout), Array.from({ length: 50 }, (_, i) => `${i}\n`), 'fifty requests sent together: each answer to its own caller');
});

t.test('a session that ends fails what it owed; the pool falls back when none opens', async (t) => {
  const { session, kill } = localSession(t);
  const owed = session.run(['sleep', '30']);
  kill();
  await t.rejects(owed, /the test session/, 'the request still running is failed, not left hanging');
  await t.rejects(session.run(['true']), /closed/);
  const none = new SessionPool(async () => {
    throw new Error('no agent');
  });
  t.equal(await none.run(['true']), null, 'no session to be had: null (the caller execs instead)');
  let opened = 0;
  const pool = new SessionPool(async () => {
    opened++;
    return localSession(t).session;
  }, 2);
  t.teardown(() => pool.close());
  const rs = await Promise.all([pool.run(['sh', '-c', 'sleep 0.3; echo slow']), pool.run(['echo', 'a']), pool.run(['echo', 'b'])]);
  t.same(rs.map((r) => r!.stdout), ['slow\n', 'a\n', 'b\n']);
  t.ok(opened >= 1 && opened <= 2, `at most the pool's size of sessions opened (${opened})`);
});
