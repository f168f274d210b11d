/**
 * The operators' reports as scenarios: each reproduces its symptom (the suite passes
 * because the symptom is expected); without its expect: block each fails and the
 * diagnosis names its own fault.
 */
import t from 'tap';
import { CROSS_NODE_CAUSES as CAUSES, flatlab, namespacesOf, readResult, runExpected, runOwned, skipUnlessRoot, tempDir, upOwned } from './lib.js';


t.test('the cross-node report: which fault gives exactly that symptom', { skip: skipUnlessRoot }, async (t) => {
  const r = await runOwned(['bugs/cross-node-arp-no-ping', '--results', await tempDir(t)]);
  t.equal(r.exitCode, 0, 'the symptoms are the expected ones', { output: r.stdout + r.stderr });
  const res = await readResult(r.stdout);
  const symptoms = Object.fromEntries(res.variants.map((v: any) => [v.variant, v.symptoms.map((s: any) => s.text).join('; ')]));
  for (const [variant, { symptom }] of Object.entries(CAUSES)) t.match(symptoms[variant], symptom, `${variant}: ${symptoms[variant]}`);
  const exact = res.variants.filter((v: any) => v.symptoms.length === 1 && v.symptoms[0].code === 'cross-node-arp-no-ping').map((v: any) => v.variant);
  t.same(exact, ['nic-promisc-deny'], 'only a NIC with promiscuous mode denied gives exactly "ARP yes, ping no, same node fine"');
  t.equal(symptoms.clean, 'healthy: every lease, every pair, every way out');
  for (const v of res.variants) {
    for (const x of v.reach.filter((x: any) => x.expected === 'unreachable')) t.ok(x.confirmedBy, `${v.variant}: ${x.from} -> ${x.to} confirmed (${x.confirmedBy?.text})`);
  }
  t.same(await namespacesOf(r.prefixes), []);
});

t.test('without its expect: block each fault fails and is diagnosed as itself', { skip: skipUnlessRoot }, async (t) => {
  const r = await flatlab(['run', 'bugs/cross-node-arp-no-ping', '--ignore-expect', '--results', await tempDir(t)]);
  t.equal(r.exitCode, 1);
  const res = await readResult(r.stdout);
  for (const [variant, { cause }] of Object.entries(CAUSES)) {
    const v = res.variants.find((x: any) => x.variant === variant);
    t.equal(v.ok, false, `${variant} fails`);
    t.ok(v.diagnoses.length > 0, `${variant} is diagnosed`);
    t.ok(v.diagnoses.every((d: any) => cause.test(d.text)), `${variant}: every diagnosis names it`, { diagnoses: v.diagnoses.map((d: any) => d.text) });
    for (const other of Object.keys(CAUSES).filter((o) => o !== variant)) {
      t.ok(v.diagnoses.every((d: any) => !CAUSES[other]!.cause.test(d.text)), `${variant} is not blamed on ${other}`);
    }
  }
  const clean = res.variants.find((x: any) => x.variant === 'clean');
  t.equal(clean.ok, true);
  t.same(clean.diagnoses, []);
  t.match(r.stdout, /vm_1 -> vm_3 icmp: ARP for 10\.0\.0\.5 resolved; request seen on vm_1 eth0, compute1 vnet\d+, compute1 eth0, fabric port compute1; not on fabric port compute2: dropped at fabric port to compute2/);
});

t.test('an unfiltered dnsmasq hands out a foreign gateway', { skip: skipUnlessRoot }, async (t) => {
  const ok = await flatlab(['run', 'bugs/foreign-gateway', '--results', await tempDir(t)]);
  t.equal(ok.exitCode, 0, 'the symptom is the expected one', { output: ok.stdout });
  t.match(ok.stdout, /as expected: wrong gateway: vm_3 \(on compute2\) uses 10\.0\.0\.1, not 10\.0\.0\.3/);
  const bare = await flatlab(['run', 'bugs/foreign-gateway', '--variant', 'unfiltered', '--ignore-expect', '--results', await tempDir(t)]);
  t.equal(bare.exitCode, 1);
  t.match(bare.stdout, /leased by compute1's dnsmasq, whose hosts file lists vm_3 though vm_3 runs on compute2/);
});

t.test('diagnosing a healthy flow of a live lab finds nothing', { skip: skipUnlessRoot }, async (t) => {
  const results = await tempDir(t);
  const up = await upOwned(t, ['flatdhcp-multihost', '--results', results]);
  t.equal(up.exitCode, 0);
  const run = ['--run', up.prefix!, '--results', results];
  const d = await flatlab(['diagnose', ...run, 'vm_1', 'vm_3']);
  t.equal(d.exitCode, 0, 'exit 0', { output: d.stdout + d.stderr });
  t.match(d.stdout, /vm_1 -> vm_3 icmp: ARP for 10\.0\.0\.5 resolved; request and reply seen at every hop: nothing to report/);
  t.match(d.stdout, /captures: \S+diagnosis\/vm_1_-_vm_3_icmp/);
  const bad = await flatlab(['diagnose', ...run, 'vm_1', 'vm_9']);
  t.equal(bad.exitCode, 2);
  // break it by hand, then diagnose again
  await flatlab(['exec', '--run', up.prefix!, 'compute2', '--', 'ip', 'link', 'set', 'dev', 'eth0', 'nomaster']);
  const broken = await flatlab(['diagnose', ...run, 'vm_1', 'vm_3']);
  t.equal(broken.exitCode, 1);
  t.match(broken.stdout, /compute2's eth0 is not enslaved to br100/);
  t.equal((await flatlab(['down', '--run', up.prefix!])).exitCode, 0);
  t.same(await namespacesOf([up.prefix!]), []);
});

t.test('diagnosing a drop the lab expects exits 0 and puts its captures beside the lab\'s results', { skip: skipUnlessRoot }, async (t) => {
  const results = await tempDir(t);
  const up = await upOwned(t, ['flatdhcp-multihost', '--variant', 'same-net-blocked', '--results', results]);
  t.equal(up.exitCode, 0);
  const d = await flatlab(['diagnose', '--run', up.prefix!, 'vm_1', 'vm_3']);
  t.equal(d.exitCode, 0, 'the drop the variant was built to show', { output: d.stdout + d.stderr });
  t.match(d.stdout, /dropped on compute2 by nova-compute-sg-fallback/);
  t.match(d.stdout, /as the lab expects: vm_1 -> vm_3 icmp unreachable/);
  const captures = /captures: (\S+)/.exec(d.stdout)?.[1] ?? '';
  t.ok(captures.startsWith(results) && captures.includes('/same-net-blocked/diagnosis/'), `captures under the lab's results: ${captures}`);
  const dhcp = await flatlab(['diagnose', '--run', up.prefix!, 'vm_1', 'dhcp', '--json']);
  t.equal(dhcp.exitCode, 0);
  t.equal(JSON.parse(dhcp.stdout).asExpected, true, 'DHCP works in the isolation variant, as expected');
});

t.test('a gateway without ip_forward strands exactly its guests', { skip: skipUnlessRoot }, async (t) => {
  const ok = await flatlab(['run', 'bugs/ip-forward-off', '--results', await tempDir(t)]);
  t.equal(ok.exitCode, 0, 'the symptom is the expected one', { output: ok.stdout + ok.stderr });
  t.match(ok.stdout, /as expected: no way out for vm_3, vm_4 \(via compute2\)/);
  const bare = await flatlab(['run', 'bugs/ip-forward-off', '--variant', 'forwarding-off', '--ignore-expect', '--results', await tempDir(t)]);
  t.equal(bare.exitCode, 1);
  t.match(bare.stdout, /vm_3 -> external tcp\/7: ARP for 10\.0\.0\.3 resolved; request seen on vm_3 eth0, compute2 vnet\d+; not on compute2 eth0 \(public\): compute2 does not forward: net\.ipv4\.ip_forward=0/);
  t.notMatch(bare.stdout, /FAIL (reach|lease|gateway)/, 'guest-to-guest traffic and leases are unaffected');
});

t.test('report 8 on Folsom: an uplink left down, diagnosed; the same nodes under Havana are healthy', { skip: skipUnlessRoot }, async (t) => {
  const r = await runOwned(['bugs/uplink-left-down', '--results', await tempDir(t)]);
  t.equal(r.exitCode, 0, 'the symptoms are the expected ones', { output: r.stdout + r.stderr });
  const res = await readResult(r.stdout);
  const v = Object.fromEntries(res.variants.map((x: any) => [x.variant, x]));
  t.equal(v.folsom.symptoms.map((s: any) => s.text).join('; '), 'across nodes: no ARP at all (8 pairs); same node fine');
  t.ok(v.folsom.diagnoses.length > 0, 'bugs/ scenarios explain their expected failures');
  t.ok(v.folsom.diagnoses.every((d: any) => /compute1's eth1 is down: enslaved to br100 but never brought up/.test(d.text)), 'the uplink is named as down', { diagnoses: v.folsom.diagnoses.map((d: any) => d.text) });
  t.equal(v.havana.plan.release, 'havana');
  t.equal(v.havana.symptoms[0].code, 'healthy', "Havana's ensure_bridge brings eth1 up");
  t.equal(v['folsom-with-stanza'].symptoms[0].code, 'healthy');
  t.same(await namespacesOf(r.prefixes), []);
});

t.test('public_interface = flat_interface: built with a warning; the SYN leaves unSNATed and the rule is named', { skip: skipUnlessRoot }, async (t) => {
  const r = await runOwned(['bugs/snat-one-nic', '--variant', 'mistake', '--results', await tempDir(t)]);
  t.equal(r.exitCode, 0, 'nova built it, and the oracle says what it does', { output: r.stdout + r.stderr });
  t.match(r.stderr, /snat-one-nic\.yaml:\d+:\d+ nova\.public_interface: warning: eth0 is flat_interface/);
  const v = (await readResult(r.stdout)).variants[0];
  for (const e of v.egress) {
    const vm = v.plan.vms.find((x: any) => x.name === e.vm);
    t.equal(e.observedSource, null, `${e.vm}: no answer comes back`);
    t.equal(e.capturedSource, vm.ip, `${e.vm}: the external host's capture shows its fixed address ${vm.ip}`);
  }
  t.ok(v.diagnoses.some((d: any) => /SNAT rule "-A nova-network-snat -s 10\.0\.0\.0\/24 .*-o eth0 -j SNAT --to-source 203\.0\.113\.\d+" rewrote 0 packets/.test(d.text)), 'the diagnosis names the SNAT rule that never matched', { diagnoses: v.diagnoses.map((d: any) => d.text) });
});

t.test('fixed_range apart from the network (Folsom): the SNAT built from the option matches no guest; the default 10.0.0.0/8 works for a network inside it', { skip: skipUnlessRoot }, async (t) => {
  const { prefixes, by } = await runExpected(t, 'bugs/fixed-range-not-network');
  for (const name of ['option-apart', 'no-option-outside']) {
    const v = by[name];
    for (const e of v.egress) {
      const vm = v.plan.vms.find((x: any) => x.name === e.vm);
      t.equal(e.observedSource, null, `${name}: ${e.vm} gets no answer`);
      t.equal(e.capturedSource, vm.ip, `${name}: ${e.vm} left unSNATed as ${vm.ip}`);
    }
    t.ok(
      v.diagnoses.some((d: any) => /SNAT rule "-A nova-network-snat -s 10\.0\.0\.0\/(24|8) .*" rewrote 0 packets \(its -s 10\.0\.0\.0\/(24|8) does not hold 192\.168\.100\.\d+: nova built it from the fixed_range option/.test(d.text)),
      `${name}: the diagnosis names the SNAT rule and its range`,
      { diagnoses: v.diagnoses.map((d: any) => d.text) },
    );
  }
  for (const name of ['no-option-inside', 'havana']) {
    const v = by[name];
    for (const e of v.egress) t.equal(e.observedSource, e.expectedSource, `${name}: ${e.vm} reaches the external host as ${e.expectedSource}`);
    t.ok(v.egress.every((e: any) => e.expectedSource !== null));
  }
  t.same(await namespacesOf(prefixes), []);
});

t.test('single host on one NIC: the answer to a compute node\'s guest is dropped in the network host\'s bridge, and the diagnosis says where and why', { skip: skipUnlessRoot }, async (t) => {
  const { prefixes, by } = await runExpected(t, 'bugs/one-nic-network-host');
  const e = by['one-nic'].egress.find((x: any) => x.vm === 'vm_2');
  t.equal(e.observedSource, null, "the compute node's guest gets no answer");
  t.equal(e.capturedSource, '203.0.113.2', 'its SYN did get out, SNATed by the network host');
  t.equal(by['one-nic'].egress.find((x: any) => x.vm === 'vm_1').observedSource, '203.0.113.2', "the network host's own guest gets out");
  t.ok(
    by['one-nic'].diagnoses.some((d: any) => /controller's br100 through eth0; net\.bridge\.bridge-nf-call-iptables=1 there undoes the SNAT at the bridge .* never sends a frame back out of its ingress port/.test(d.text)),
    'the diagnosis names the bridge, the port and the setting',
    { diagnoses: by['one-nic'].diagnoses.map((d: any) => d.text) },
  );
  for (const v of ['bridge-nf-off', 'two-nics']) t.ok(by[v].egress.every((x: any) => x.observedSource === '203.0.113.2'), `${v}: every guest gets out`);
  t.same(await namespacesOf(prefixes), []);
});

t.test("single host: a missing lease is traced to the network host's dnsmasq and named by its hop, never a dnsmasq of the compute node", { skip: skipUnlessRoot }, async (t) => {
  const { prefixes, by } = await runExpected(t, 'bugs/single-host-dhcp');
  const texts = (v: string): string[] => by[v].diagnoses.map((d: any) => d.text);
  const lease = (v: string, vm: string): any => by[v].diagnoses.find((d: any) => d.flow.startsWith(`${vm} DHCP`));
  const nic = lease('nic-filter', 'vm_2');
  t.ok(nic, 'the missing lease is traced', { diagnoses: texts('nic-filter') });
  t.equal(nic.lastSeen, 'fabric port controller');
  t.equal(nic.firstMissing, 'fabric port compute01');
  t.match(nic.cause, /controller's dnsmasq answered \(its log: "DHCPOFFER\(br100\) 10\.0\.0\.3 /);
  t.match(nic.cause, /dropped at fabric port to compute01 .*promiscuous mode denied\) \[\d+ dropped by ebtables FORWARD -o compute01 -j DROP\]/);
  t.ok(texts('nic-filter').every((x) => !/compute01's br100 holds no address|compute01's dnsmasq/.test(x)), 'no dnsmasq on compute01 is blamed');
  t.match(lease('dnsmasq-down', 'vm_2').cause, /controller's dnsmasq is not running/);
  for (const v of ['bridge-nf-off', 'clean']) t.same(by[v].diagnoses, [], `${v}: nothing to trace`);
  t.same(await namespacesOf(prefixes), []);
});

t.test("a node's own ping to its instance: refused locally with the default group, answered once ICMP is open", { skip: skipUnlessRoot }, async (t) => {
  const { prefixes, by } = await runExpected(t, 'bugs/ping-from-node');
  const local = by['default-group'].reach.find((x: any) => x.from === 'node:compute1' && x.to === 'vm_1');
  t.equal(local.observed, 'unreachable');
  t.match(local.evidence, /Operation not permitted/, 'the send itself was refused');
  t.equal(local.confirmedBy.by, 'local');
  const remote = by['default-group'].reach.find((x: any) => x.from === 'node:compute2' && x.to === 'vm_1');
  t.match(remote.confirmedBy.text, /nova-compute-sg-fallback on compute1/, "from the other node: dropped on arrival, by vm_1's chain");
  t.ok(by['icmp-opened'].reach.filter((x: any) => x.from.startsWith('node:')).every((x: any) => x.observed === 'reachable'), 'ICMP opened: both nodes are answered');
  t.same(await namespacesOf(prefixes), []);
});

t.test("bridge-nf-call-iptables off on one node: isolation does nothing there, and the diagnosis says why", { skip: skipUnlessRoot }, async (t) => {
  const r = await runOwned(['bugs/isolation-bypassed', '--results', await tempDir(t)]);
  t.equal(r.exitCode, 0, 'the symptoms are the expected ones', { output: r.stdout + r.stderr });
  const bare = await runOwned(['bugs/isolation-bypassed', '--variant', 'bridge-nf-off', '--ignore-expect', '--results', await tempDir(t)]);
  t.equal(bare.exitCode, 1);
  t.match(bare.stdout, /FAIL reach vm_1 -> vm_3 icmp: expected unreachable, observed reachable/);
  t.notMatch(bare.stdout, /FAIL reach vm_3 -> vm_1/, "compute1 still isolates its guests");
  t.match(bare.stdout, /request and reply seen at every hop, where a drop was expected: net\.bridge\.bridge-nf-call-iptables=0 on compute2/);
});

t.test('report 5 with dnsmasq started before the bridge had its address: dnsmasq exits, said in its own words', { skip: skipUnlessRoot }, async (t) => {
  const r = await runOwned(['bugs/no-bridge-address', '--results', await tempDir(t)]);
  t.equal(r.exitCode, 0, 'the symptoms are the expected ones', { output: r.stdout + r.stderr });
  const res = await readResult(r.stdout);
  const v = res.variants.find((x: any) => x.variant === 'dnsmasq-no-address');
  t.equal(v.symptoms[0].text, 'no lease for vm_3, vm_4 (on compute2)');
  t.ok(v.diagnoses.some((d: any) => /compute2's dnsmasq is not running \("dnsmasq: failed to create listening socket for 10\.0\.0\.\d+: Cannot assign requested address"\)/.test(d.text)), 'the diagnosis quotes dnsmasq', { diagnoses: v.diagnoses.map((d: any) => d.text) });
  const dir = /results: (\S+)/.exec(r.stdout)![1]!;
  const { readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  t.match(await readFile(join(dir, 'dnsmasq-no-address', 'nodes', 'compute2', 'dnsmasq.stderr'), 'utf8'), /Cannot assign requested address/, "dnsmasq's own failure is kept in the results");
  t.same(await namespacesOf(r.prefixes), []);
});

t.test("libvirt's nwfilter drops what a guest sends from a hand-set address; without it the address works", { skip: skipUnlessRoot }, async (t) => {
  const r = await runOwned(['bugs/guest-foreign-address', '--results', await tempDir(t)]);
  t.equal(r.exitCode, 0, 'the symptoms are the expected ones', { output: r.stdout + r.stderr });
  const res = await readResult(r.stdout);
  const v = Object.fromEntries(res.variants.map((x: any) => [x.variant, x]));
  const from2 = (x: any): string[] => x.reach.filter((p: any) => p.from === 'vm_2').map((p: any) => p.observed);
  t.same(from2(v.spoofing), ['unreachable', 'unreachable'], 'filtered: nothing vm_2 sends from 10.0.0.254 leaves its tap');
  t.same(from2(v['spoofing-unfiltered']), ['reachable', 'reachable'], 'unfiltered: the foreign address works');
  t.ok(v.spoofing.reach.filter((p: any) => p.from === 'vm_2').every((p: any) => /libvirt-I-vnet|ARP for/.test(p.confirmedBy?.text ?? '')), 'each drop confirmed by the nwfilter rule or the unanswered ARP', { confirmations: v.spoofing.reach.map((p: any) => p.confirmedBy?.text) });
  t.ok(v.spoofing.diagnoses.some((d: any) => /dropped on compute1 by libvirt's nwfilter on vnet\d+ \(nova-base: the guest sent a source address that is not its own\)/.test(d.text)), 'the diagnosis names the tap filter', { diagnoses: v.spoofing.diagnoses.map((d: any) => d.text) });
  t.equal(v.clean.symptoms[0].code, 'healthy', 'nwfilter on every tap lets every guest with its own address through');
  t.same(await namespacesOf(r.prefixes), []);
});

t.test("can't ping the floating IP: dropped by the empty default group, answered once ICMP is open; single host and one NIC as nova did them", { skip: skipUnlessRoot }, async (t) => {
  const { by } = await runExpected(t, 'bugs/floating-ip-no-ping');
  const fromOutside = (v: any): any[] => v.reach.filter((r: any) => r.from === 'external');
  const closed = fromOutside(by['default-group'])[0];
  t.same([closed.toIp, closed.observed], ['203.0.113.101', 'unreachable'], 'the default group: no answer from outside');
  t.match(closed.confirmedBy?.text, /counted by -A nova-compute-inst-\d+ -j nova-compute-sg-fallback on compute1/, 'the drop is the instance chain\'s, counted');
  t.same(by['default-group'].symptoms.map((s: any) => [s.code, s.expected]), [['floating-no-answer', true]]);
  for (const v of ['icmp-open', 'folsom', 'single-host']) {
    t.ok(fromOutside(by[v]).every((r: any) => r.observed === 'reachable'), `${v}: every floating address answers from outside`);
  }
  // leaving, an instance with a floating address is that address (float-snat), one without its node's my_ip
  t.same(by['icmp-open'].egress.map((e: any) => [e.vm, e.observedSource]), [['vm_1', '203.0.113.101'], ['vm_2', '203.0.113.12']]);
  t.same(by['single-host'].egress.map((e: any) => e.observedSource), ['203.0.113.101', '203.0.113.102'], 'single host: both held and SNATed by the network host');
  const [own, across] = fromOutside(by['one-nic-network-host']);
  t.equal(own.observed, 'reachable', "one NIC: the network host's own guest answers");
  t.equal(across.observed, 'unreachable');
  t.equal(across.confirmedBy?.by, 'not-received', "the compute node's guest never got the request: its kernel counted no echo");
});
