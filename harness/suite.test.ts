/** The regression suite runner over every shipped scenario, several at once. */
import t from 'tap';
import { readdirSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ANT_XSD, JENKINS_XSD, outsideJenkinsExtensions, schemaErrors } from '../test/junit-schema.js';
import { flatlab, namespacesOf, prefixesUnder, ROOT, rootSnapshot, shippedSuite, skipUnlessRoot, tempDir } from './lib.js';

t.test('flatlab suite runs every scenario and variant, in parallel, and says so', { skip: skipUnlessRoot }, async (t) => {
  const results = await tempDir(t);
  const before = await rootSnapshot();
  const r = await flatlab(['suite', '--jobs', '3', '--results', results]);
  t.equal(r.exitCode, 0, 'exit 0', { output: r.stdout + r.stderr });
  // what the shipped files hold, counted from them
  const shipped = await shippedSuite();
  for (const s of shipped.scenarios) {
    t.match(r.stdout, new RegExp(`^  ${s}\\s`, 'm'), `${s} is in the table`);
  }
  t.match(r.stdout, /cross-node-arp-no-ping\s+nic-promisc-deny\s+pass\s+\S+\s+cross-node-arp-no-ping/);
  // DHCP over time, within the suite's run: every guest of dhcp-renewal renewed, seen at both ends
  const renewal = (await readdir(join(results, 'dhcp-renewal')))[0]!;
  const res = JSON.parse(await readFile(join(results, 'dhcp-renewal', renewal, 'result.json'), 'utf8'));
  const renewals = res.variants.flatMap((v: any) => v.verdicts.filter((c: any) => c.kind === 'renewal').map((c: any) => `${v.variant} ${c.subject}: ${c.observed}`));
  t.equal(renewals.length, 4, 'two guests in each of two variants');
  for (const line of renewals) t.match(line, /renewed \d+ s after its lease \(compute1's dnsmasq: old|renewed \d+ s after its lease \(compute2's dnsmasq: old/, line);
  t.match(r.stdout, new RegExp(`all ${shipped.scenarios.length} scenario runs as expected`));
  const mine = await prefixesUnder(results);
  t.equal(mine.length, shipped.runs, 'every variant ran as a lab of its own');
  t.same(await namespacesOf(mine), []);
  t.equal(await rootSnapshot(), before, 'root namespace unchanged after the whole suite');
  // one junit.xml for the whole suite, valid against Jenkins' schema
  const junit = /\(junit: (\S+)\)/.exec(r.stdout)?.[1];
  t.equal(dirname(junit ?? ''), results, 'the suite says where its junit.xml is: in the results root itself');
  const xml = await readFile(junit!, 'utf8');
  t.equal((xml.match(/<testsuite /g) ?? []).length, shipped.runs, 'a test suite per variant run');
  t.same(await schemaErrors(xml, JENKINS_XSD), [], "the suite's junit.xml validates against Jenkins' JUnit schema");
});

t.test('a failing scenario makes the suite exit 1', { skip: skipUnlessRoot }, async (t) => {
  const r = await flatlab(['suite', 'no-such-*']);
  t.equal(r.exitCode, 2, 'no match is a user mistake');
  const dir = await tempDir(t);
  const ref = await readFile(join(ROOT, 'scenarios', 'flatdhcp-multihost.yaml'), 'utf8');
  await writeFile(join(dir, 'good.yaml'), ref.replace(/^name: .*$/m, 'name: good').replace(/^variants:[\s\S]*$/m, ''));
  await writeFile(join(dir, 'bad.yaml'), ref.replace(/^name: .*$/m, 'name: bad').replace(/^variants:[\s\S]*$/m, '').replace('- {from: vm_1, to: vm_2, expect: reachable}', '- {from: vm_1, to: vm_2, expect: unreachable}'));
  const mixed = await flatlab(['suite', '--dir', dir, '--results', dir]);
  t.equal(mixed.exitCode, 1);
  t.match(mixed.stdout, /bad\s+default\s+FAIL\s+19\/20/);
  t.match(mixed.stdout, /good\s+default\s+pass\s+20\/20/);
  t.match(mixed.stdout, /1 of 2 scenario runs failed/);
  const results = await tempDir(t);
  const one = await flatlab(['suite', 'flat-inj*', '--results', results]);
  t.equal(one.exitCode, 0);
  t.match(one.stdout, /flat-injected\s+default\s+pass\s+20\/20 \(\+4 skipped\)/);
  const junit = await readFile(join(results, 'flat-injected', readdirSync(join(results, 'flat-injected'))[0]!, 'junit.xml'), 'utf8');
  t.match(junit, /<testsuite name="flat-injected" package="flatlab.flat-injected" id="0" hostname="[^"]+" tests="24" failures="0" errors="0" skipped="4"/);
  t.same(await schemaErrors(junit, JENKINS_XSD), [], "a real run's junit.xml validates against Jenkins' JUnit schema");
  t.same(outsideJenkinsExtensions(await schemaErrors(junit, ANT_XSD)), [], "and against Ant's, but for Jenkins' additions");
  // a failing run's, with failure texts and diagnoses in it
  const badDir = readdirSync(join(dir, 'bad'))[0]!;
  const failing = await readFile(join(dir, 'bad', badDir, 'junit.xml'), 'utf8');
  t.match(failing, /<failure message="expected unreachable, observed reachable"/);
  t.same(await schemaErrors(failing, JENKINS_XSD), [], "a failing run's junit.xml validates too");
});

t.test('4 scenarios at once: none sees another\'s traffic or objects', { skip: skipUnlessRoot }, async (t) => {
  const dir = await tempDir(t);
  const ref = (await readFile(join(ROOT, 'scenarios', 'flatdhcp-multihost.yaml'), 'utf8')).replace(/^variants:[\s\S]*$/m, '');
  // the same addresses, bridge, node and VM names in all four: only the run prefix and the MACs differ
  for (const n of [1, 2, 3, 4]) await writeFile(join(dir, `twin${n}.yaml`), ref.replace(/^name: .*$/m, `name: twin${n}`));
  const r = await flatlab(['suite', '--dir', dir, '--jobs', '4', '--results', dir]);
  t.equal(r.exitCode, 0, 'all four as expected', { output: r.stdout + r.stderr });
  const { readdirSync } = await import('node:fs');
  for (const n of [1, 2, 3, 4]) {
    const runDir = join(dir, `twin${n}`, readdirSync(join(dir, `twin${n}`))[0]!);
    const res = JSON.parse(await readFile(join(runDir, 'result.json'), 'utf8'));
    const own = new Set(res.variants[0].plan.vms.map((v: any) => v.mac));
    for (const node of ['compute1', 'compute2']) {
      const log = await readFile(join(runDir, 'nodes', node, 'dnsmasq.log'), 'utf8');
      const seen = new Set(log.match(/fa:16:3e(:[0-9a-f]{2}){3}/g) ?? []);
      // its own node's guests for sure; the other node's guests may have got their lease
      // before this dnsmasq was listening (each guest waits for its own node's only)
      const local = res.variants[0].plan.vms.filter((v: any) => v.node === node).map((v: any) => v.mac);
      t.same(local.filter((m: string) => !seen.has(m)), [], `twin${n} ${node}: its dnsmasq saw the DHCP of its own guests`);
      t.same([...seen].filter((m) => !own.has(m)), [], `twin${n} ${node}: no frame of another run reached its dnsmasq`);
    }
    t.same(res.variants[0].observations.leaseEvents.filter((e: any) => !own.has(e.mac)), [], `twin${n}: leases only for its own guests`);
  }
  t.same(await namespacesOf(await prefixesUnder(dir)), []);
});
