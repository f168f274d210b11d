import t from 'tap';
import { deepMerge, parseScenarioFile } from '../src/scenario/load.js';
import { REFERENCE, errorsOf as errorsOfFile } from './helpers.js';

const errorsOf = (text: string): string[] => errorsOfFile(text, 'v.yaml');

const VARIANTS = `variants:
  - name: open
    nova: {allow_same_net_traffic: true}
  - name: closed
    description: nothing passes
    nova: {allow_same_net_traffic: false}
    expect:
      checks:
        - {from: vm_1, to: vm_3, expect: unreachable}
`;

t.test('no variants: the base alone, as "default"', async (t) => {
  const r = parseScenarioFile(REFERENCE);
  t.same(r.variants.map((v) => v.name), ['default']);
  t.equal(r.variants[0]!.scenario, r.scenario);
});

t.test('variants merge their overrides into the base', async (t) => {
  const r = parseScenarioFile(REFERENCE + 'expect:\n  leases: {vm_1: 10.0.0.2}\n  checks:\n    - {from: vm_1, to: vm_3, expect: reachable}\n' + VARIANTS);
  t.same(r.variants.map((v) => v.name), ['open', 'closed']);
  const [open, closed] = r.variants as [typeof r.variants[0], typeof r.variants[0]];
  t.equal(open.scenario.nova.allow_same_net_traffic, true);
  t.equal(closed.scenario.nova.allow_same_net_traffic, false);
  t.equal(closed.scenario.nova.fixed_range, '10.0.0.0/24', 'untouched options stay');
  t.equal(closed.description, 'nothing passes');
  t.same(closed.scenario.expect?.leases, { vm_1: '10.0.0.2' }, 'mappings merge key by key');
  t.same(closed.scenario.expect?.checks?.map((c) => c.expect), ['unreachable'], 'lists are replaced');
  t.same(open.scenario.expect?.checks?.map((c) => c.expect), ['reachable']);
});

t.test('a bad override is blamed in the variant, with its name', async (t) => {
  const text = REFERENCE + VARIANTS.replace('nova: {allow_same_net_traffic: false}', 'nova: {allow_same_net_trafic: false}');
  t.same(errorsOf(text), ['v.yaml:21:12 nova.allow_same_net_trafic: unknown key "allow_same_net_trafic" [variant closed]']);
  const vmMove = REFERENCE + 'variants:\n  - name: moved\n    vms: {vm_1: {host: compute9}}\n';
  t.same(errorsOf(vmMove), ['v.yaml:18:24 vms.vm_1.host: no node "compute9" (nodes: compute1, compute2) [variant moved]']);
  t.match(errorsOf(REFERENCE + 'variants:\n  - name: a\n  - name: a\n')[0], /variants\[1\]\.name: "a" is declared twice/);
  t.match(errorsOf(REFERENCE + 'variants:\n  - name: a\n    colour: red\n')[0], /variants\[0\]\.colour: unknown key "colour"/);
  t.match(errorsOf(REFERENCE + 'variants: []\n')[0], /variants/);
});

t.test('a problem that comes from the base is shown in the base', async (t) => {
  const text = REFERENCE.replace('vm_4: {host: compute2}', 'vm_4: {host: compute2, ip: 10.0.0.2}').replace('vm_1: {host: compute1}', 'vm_1: {host: compute1, ip: 10.0.0.2}');
  t.match(errorsOf(text + VARIANTS)[0], /^v\.yaml:15:30 vms\.vm_4\.ip: 10\.0\.0\.2 is already taken/);
});

t.test('deepMerge', async (t) => {
  t.same(deepMerge({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { c: 3 }, l: [9] }), { a: { b: 1, c: 3 }, l: [9] });
  t.same(deepMerge({ a: 1 }, undefined), { a: 1 });
});

t.test('security groups: sources, ports and references', async (t) => {
  const sg = (rules: string): string => REFERENCE + `security_groups:\n  ssh:\n    rules:\n${rules}`;
  t.same(errorsOf(sg('      - {proto: tcp, port: 22, from: group ssh}\n      - {proto: udp, port: "1000-2000"}\n      - {proto: icmp, type: 8}\n')), []);
  t.match(errorsOf(sg('      - {proto: tcp, from: group ssh}\n'))[0], /security_groups\.ssh\.rules\[0\]\.proto: a tcp rule needs a port or range/);
  t.match(errorsOf(sg('      - {proto: tcp, port: 22, from: group nope}\n'))[0], /rules\[0\]\.from: no security group "nope"/);
  t.match(errorsOf(sg('      - {proto: tcp, port: 22, from: 10.0.0.1/24}\n'))[0], /rules\[0\]\.from: 10\.0\.0\.1\/24 has host bits set/);
  t.match(errorsOf(sg('      - {proto: icmp, port: 22}\n'))[0], /an icmp rule has no port/);
  t.match(errorsOf(sg('      - {proto: tcp, port: "2000-1000"}\n'))[0], /low-high/);
  t.match(errorsOf(sg('      - {proto: sctp, port: 1}\n'))[0], /proto: must be one of icmp, tcp, udp/);
  t.match(errorsOf(REFERENCE.replace('vm_1: {host: compute1}', 'vm_1: {host: compute1, security_groups: [web]}'))[0], /vms\.vm_1\.security_groups\[0\]: no security group "web"/);
  t.same(errorsOf(REFERENCE.replace('vm_1: {host: compute1}', 'vm_1: {host: compute1, security_groups: [default]}')), [], 'default always exists');
  t.match(errorsOf(REFERENCE + 'expect:\n  checks:\n    - {from: vm_1, to: vm_2, proto: tcp, expect: reachable}\n')[0], /a tcp check needs a port/);
});

t.test('every problem of a file at once: the base\'s and each variant\'s', async (t) => {
  const text = REFERENCE.replace('  multi_host: true\n', '  multi_host: true\n  dhcp_lease_time: abc\n') +
    'variants:\n  - name: a\n    nova: {allow_same_net_traffic: 7}\n  - name: b\n    nova: {multi_host: maybe}\n';
  t.same(errorsOf(text), [
    'v.yaml:5:20 nova.dhcp_lease_time: must be a number',
    'v.yaml:19:36 nova.allow_same_net_traffic: must be a boolean [variant a]',
    'v.yaml:21:24 nova.multi_host: must be a boolean [variant b]',
  ], 'the base\'s error is said once, not again for each variant that inherits it');
});

t.test('YAML merge keys share a block; x- keys hold its anchor', async (t) => {
  const text = REFERENCE.replace('name: ref\n', 'name: ref\nx-closed: &closed\n  allow_same_net_traffic: false\n  dhcp_lease_time: 300\n') +
    'variants:\n  - name: a\n    nova: {<<: *closed}\n  - name: b\n    nova:\n      <<: *closed\n      dhcp_lease_time: 600\n';
  const r = parseScenarioFile(text, 'v.yaml');
  t.same(r.variants.map((v) => [v.name, v.scenario.nova.allow_same_net_traffic, v.scenario.nova.dhcp_lease_time]), [
    ['a', false, 300],
    ['b', false, 600],
  ], 'a key written beside the merge wins over the merged one, as YAML 1.1 says');
  t.match(errorsOf(text.replace('x-closed', 'closed'))[0], /^v\.yaml:2:1 closed: unknown key "closed"/, 'only x- keys are ignored');
});
