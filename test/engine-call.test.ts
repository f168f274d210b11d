/**
 * A bound on a call to an engine (backend/docker/engine-call.ts), against a Docker API
 * that never answers: an HTTP server on a unix socket that accepts the request and says
 * nothing, as a dockerd stuck on a container did. The real dockerode client is used, so
 * the test shows the abort reaches its request and closes the connection (nothing of the
 * run stays open waiting).
 */
import t from 'tap';
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { EngineStuckError, engineCall } from '../src/backend/docker/engine-call.js';

async function silentEngine(t: { teardown(fn: () => unknown): void }): Promise<{ socketPath: string; requests: string[]; closed: Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'flatlab-stuck-'));
  const socketPath = join(dir, 'docker.sock');
  const requests: string[] = [];
  let closedResolve!: () => void;
  const closed = new Promise<void>((r) => (closedResolve = r));
  const server: Server = createServer((req) => {
    requests.push(`${req.method} ${req.url}`);
    req.socket.on('close', () => closedResolve());
    // never answers
  });
  await new Promise<void>((r) => server.listen(socketPath, r));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });
  return { socketPath, requests, closed };
}

t.test('a call the engine never answers fails at its bound, naming the engine and the call, and its connection is closed', async (t) => {
  const engine = await silentEngine(t);
  const docker = new Docker({ socketPath: engine.socketPath });
  const err = await engineCall('b', 'removing container fl-000001-compute2', (abortSignal) => docker.getContainer('fl-000001-compute2').remove({ force: true, abortSignal }), 300).catch((e: Error) => e);
  t.ok(err instanceof EngineStuckError, 'the error says the engine is stuck');
  t.match((err as Error).message, /^engine b did not answer within 300 ms \(removing container fl-000001-compute2\): it may be stuck/);
  t.match(engine.requests, [/^DELETE \/containers\/fl-000001-compute2\?force=true/], 'the request reached the engine, without the signal in its query');
  await engine.closed;
  t.pass('the aborted request closed its connection');
});

t.test('an answer within the bound, and an error of the call itself, pass through untouched', async (t) => {
  t.equal(await engineCall('a', 'x', async () => 42, 1000), 42);
  const own = new Error('no such container');
  t.equal(await engineCall('a', 'x', async () => Promise.reject(own), 1000).catch((e: unknown) => e), own, 'not turned into a stuck engine');
});
