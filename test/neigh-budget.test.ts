/** Pacing of probes by the kernel's shared neighbour table, and the notice when it filled. */
import t from 'tap';
import { NeighbourBudget, NeighbourLedger, neighbourTableNotice } from '../src/checks/neigh-budget.js';

const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
};

t.test('a probe between neighbours that already met costs nothing; new ones wait for room', async (t) => {
  const b = new NeighbourBudget(4, 200); // two new pairs per 200 ms
  t.ok(await settled(b.admit('a', 'b')), 'first pair admitted');
  t.ok(await settled(b.admit('b', 'a')), 'the answer direction is free');
  t.ok(await settled(b.admit('c', 'd')), 'second pair admitted');
  t.ok(await settled(b.admit('d', 'c')), 'free again');
  t.notOk(await settled(b.admit('e', 'f')), 'a third new pair waits for the window');
  t.ok(await settled(b.admit('a', 'b')), 'known pairs pass while others wait');
  await b.admit('g', 'h');
  t.pass('and the waiting ones go once the window has moved on');
});

t.test('the notice appears only when the table refused entries', async (t) => {
  t.equal(neighbourTableNotice(10, 10, 1024), null);
  t.equal(neighbourTableNotice(null, 20, 1024), null);
  const n = neighbourTableNotice(10, 4010, 1024)!;
  t.equal(n.refused, 4000);
  t.match(n.text, /refused 4000 ARP entries/);
  t.match(n.text, /gc_thresh3=4096/);
  t.match(n.text, /not by the modelled network/);
});

t.test('the ledger counts live entries: a probe waits while it is full and another is under way, and goes on a release', async (t) => {
  const ledger = new NeighbourLedger(4);
  await ledger.admit('a', 'b');
  await ledger.admit('c', 'd');
  t.equal(ledger.alive, 4, 'two pairs, an entry on each side');
  await ledger.admit('a', 'b');
  t.equal(ledger.alive, 4, 'a pair that holds each other costs nothing');
  let admitted = false;
  const waiting = ledger.admit('e', 'f').then(() => (admitted = true));
  await new Promise((r) => setImmediate(r));
  t.notOk(admitted, 'full, with probes under way: it waits');
  ledger.done();
  await new Promise((r) => setImmediate(r));
  t.notOk(admitted, 'a probe done without a release frees nothing while others are under way');
  ledger.released('a');
  ledger.released('b');
  await waiting;
  t.ok(admitted, 'the released entries make room');
  t.equal(ledger.alive, 4, 'c-d and e-f');
});

t.test('the ledger never waits on itself: with no probe under way a full ledger lets one through', async (t) => {
  const ledger = new NeighbourLedger(2);
  await ledger.admit('a', 'b');
  ledger.done();
  await ledger.admit('c', 'd');
  t.equal(ledger.alive, 4, 'over the budget rather than stuck');
});
