/** Pacing of probes by the kernel's shared neighbour table, and the notice when it filled. */
import t from 'tap';
import { NeighbourBudget, neighbourTableNotice } from '../src/checks/neigh-budget.js';

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
