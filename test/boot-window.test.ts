/**
 * The boot window (src/run/boot-window.ts) on a fake clock: it grows while leases come
 * within the target, is cut by a third when one comes late (once per round), never leaves
 * its bounds, and admits waiting guests as places free up, first come first served.
 */
import t from 'tap';
import { BootWindow } from '../src/run/boot-window.js';

function clock() {
  let now = 0;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

t.test('grows while leases are fast, up to its maximum', async (t) => {
  const c = clock();
  const w = new BootWindow({ max: 40, start: 8, targetMs: 1000, now: c.now });
  t.equal(w.size, 8);
  for (let i = 0; i < 60; i++) {
    const at = await w.take();
    c.advance(100);
    w.give(at);
  }
  t.equal(w.size, 40, 'slow start reaches the maximum and stays there');
  t.same(w.stats().window, { narrowest: 8, widest: 40, cuts: 0, max: 40, targetMs: 1000 });
  t.same(w.stats().leaseMs, { median: 100, p90: 100, max: 100 });
});

t.test('a late lease cuts the window once per round, never below its minimum', async (t) => {
  const c = clock();
  const w = new BootWindow({ max: 128, start: 30, min: 8, targetMs: 1000, now: c.now });
  const admitted = await Promise.all(Array.from({ length: 30 }, () => w.take()));
  c.advance(1500);
  // the whole round comes back late: one cut, not thirty
  for (const at of admitted) w.give(at);
  t.equal(w.size, 20, 'cut by a third once');
  t.equal(w.stats().slow, 30);
  // the next round, admitted after the cut, is late too: cut again, down to the minimum at most
  for (let round = 0; round < 5; round++) {
    const again = await Promise.all(Array.from({ length: w.size }, () => w.take()));
    c.advance(1500);
    for (const at of again) w.give(at);
  }
  t.equal(w.size, 8, 'never below the minimum');
  t.equal(w.stats().window.narrowest, 8);
  t.ok(w.stats().window.cuts >= 3);
});

t.test('after a cut it grows by about one place per round', async (t) => {
  const c = clock();
  const w = new BootWindow({ max: 128, start: 30, targetMs: 1000, now: c.now });
  const first = await w.take();
  c.advance(2000);
  w.give(first);
  t.equal(w.size, 20);
  for (let i = 0; i < 21; i++) {
    const at = await w.take();
    c.advance(10);
    w.give(at);
  }
  t.equal(w.size, 21, 'a window of fast leases at width 20: one more place');
});

t.test('waiting guests are admitted in order as places free up; a guest that gave up counts', async (t) => {
  const c = clock();
  const w = new BootWindow({ max: 2, start: 2, min: 1, targetMs: 1000, now: c.now });
  const a = await w.take();
  const b = await w.take();
  const order: string[] = [];
  const third = w.take().then(() => order.push('third'));
  const fourth = w.take().then(() => order.push('fourth'));
  await Promise.resolve();
  t.same(order, [], 'nobody admitted while the window is full');
  w.give(a, false);
  await Promise.resolve();
  t.same(order, [], 'a guest that gave up narrows the window: the place it left is not handed on');
  t.equal(w.stats().unleased, 1);
  t.equal(w.size, 1);
  c.advance(10);
  w.give(b);
  await Promise.all([third, fourth]);
  t.same(order, ['third', 'fourth']);
});

t.test("the machine's busy CPU is read from /proc/stat's cpu line", async (t) => {
  const { machineBusyMs } = await import('../src/run/machine-cpu.js');
  // user nice system idle iowait irq softirq steal: busy = 100+1+50+0+7+2 ticks
  t.equal(machineBusyMs(() => 'cpu  100 1 50 900 30 0 7 2 0 0\ncpu0 50 0 25 450 15 0 3 1 0 0\n'), 1600);
  t.equal(machineBusyMs(() => 'nothing here'), null);
  t.equal(
    machineBusyMs(() => {
      throw new Error('no /proc');
    }),
    null,
  );
});
