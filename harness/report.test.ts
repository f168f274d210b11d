/** report.html in a real headless browser: it renders the topology and both matrices. */
import t from 'tap';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { flatlab, skipUnlessRoot, tempDir } from './lib.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

t.test('report.html of flatdhcp-multihost in headless Chromium', { skip: skipUnlessRoot || (CHROMIUM ? false : 'chromium is not installed (.ci/run installs it)') }, async (t) => {
  const r = await flatlab(['run', 'flatdhcp-multihost', '--results', await tempDir(t)]);
  t.equal(r.exitCode, 0);
  const dir = /results: (\S+)/.exec(r.stdout)![1]!;
  const page = `file://${join(dir, 'report.html')}`;
  const profile = await tempDir(t, 'flatlab-chromium-');
  const dom = await execa(CHROMIUM!, [...FLAGS, `--user-data-dir=${profile}`, '--dump-dom', page], { reject: false, timeout: 60000 });
  t.equal(dom.exitCode, 0, 'chromium loads the page');
  t.equal((dom.stdout.match(/<svg /g) ?? []).length, 2, 'a topology drawing per variant');
  t.equal((dom.stdout.match(/<table class="matrix">/g) ?? []).length, 2, 'a matrix per variant');
  t.match(dom.stdout, /variant same-net-blocked <span class="ok">as expected<\/span>/);
  t.match(dom.stdout, /<text[^>]*>compute2<\/text>/);
  t.match(dom.stdout, /10\.0\.0\.5 · gw 10\.0\.0\.4/);
  // the screenshot stays with the run's own results (the test's temporary folder), never the checkout
  const shot = join(dir, 'report-screenshot.png');
  const s = await execa(CHROMIUM!, [...FLAGS, `--user-data-dir=${profile}`, '--window-size=1100,1800', `--screenshot=${shot}`, page], { reject: false, timeout: 60000 });
  t.equal(s.exitCode, 0);
  t.ok((await stat(shot)).size > 20000, `screenshot written: ${shot}`);
  const png = await readFile(shot);
  t.equal(png.subarray(1, 4).toString(), 'PNG');
  // re-rendering from result.json gives the same page
  const before = await readFile(join(dir, 'report.html'), 'utf8');
  const again = await flatlab(['report', dir]);
  t.equal(again.exitCode, 0);
  t.equal(await readFile(join(dir, 'report.html'), 'utf8'), before);
});

t.test("a bug scenario's report.html shows its faults: the node marked in the SVG, a row per fault", { skip: skipUnlessRoot || (CHROMIUM ? false : 'chromium is not installed (.ci/run installs it)') }, async (t) => {
  const r = await flatlab(['run', 'bugs/cross-node-arp-no-ping', '--variant', 'nic-promisc-deny', '--results', await tempDir(t)]);
  t.equal(r.exitCode, 0, 'exit 0', { output: r.stdout + r.stderr });
  const dir = /results: (\S+)/.exec(r.stdout)![1]!;
  const profile = await tempDir(t, 'flatlab-chromium-');
  const dom = await execa(CHROMIUM!, [...FLAGS, `--user-data-dir=${profile}`, '--dump-dom', `file://${join(dir, 'report.html')}`], { reject: false, timeout: 60000 });
  t.equal(dom.exitCode, 0, 'chromium loads the page');
  t.match(dom.stdout, /<rect [^>]*class="fault"/, 'the faulty node is marked in the drawing');
  t.match(dom.stdout, /<text [^>]*class="fault"[^>]*>⚡ nic-promisc-deny<\/text>/);
  t.match(dom.stdout, /<table class="faults">.*<td>nic-promisc-deny<\/td><td>compute2<\/td><td>fabric port compute2 passes only frames for/s, 'a row per fault with what it changes');
  t.match(dom.stdout, /report 4: nested VirtualBox NIC with promiscuous mode denied/, 'and the report it models');
});
