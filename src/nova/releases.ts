/**
 * The nova the operators ran: every behaviour of nova-network and nova-compute that
 * flatlab models and that differed between the releases of the reports (Essex and
 * Folsom, 2012) and Havana (2013.2), read in nova's own source at each tag. One row per
 * behaviour: its value per release, where nova did it (file:function), and the line of
 * nova's source at each tag that shows it (a citation, checked by test/releases.test.ts
 * against what flatlab renders, and against nova's tree where a copy is at hand).
 *
 * The renderers (dnsmasq.ts, firewall.ts, injection.ts, names.ts, wiring.ts) ask this
 * module; nothing else decides by release.
 */

export const RELEASES = ['essex', 'folsom', 'grizzly', 'havana'] as const;
export type Release = (typeof RELEASES)[number];
/** what a scenario builds when it names no release: the last nova-network release with every manager here */
export const DEFAULT_RELEASE: Release = 'havana';

/** nova's git tag of each release */
export const RELEASE_TAGS: Record<Release, string> = { essex: '2012.1', folsom: '2012.2', grizzly: '2013.1', havana: '2013.2' };

export interface MatrixRow<T> {
  behaviour: string;
  /** nova's file and function */
  source: string;
  values: Record<Release, T>;
  /** a line of nova's source at each tag that shows the value (whitespace-trimmed) */
  quotes: Record<Release, string>;
  /** where a value is an absence: a line that must not be in nova's file at that tag */
  absent?: Partial<Record<Release, string>>;
}

/** How nova-network started dnsmasq (linux_net.restart_dhcp). */
export interface DnsmasqForm {
  /** the environment nova put before `dnsmasq` (FLAGFILE=... in 2012, `env CONFIG_FILE=...` from 2013) */
  env: 'FLAGFILE' | 'CONFIG_FILE';
  /** where --domain goes and how: after --conf-file, always (2012: bare, 2013.1: quoted) or at the end, only when set (2013.2) */
  domain: 'always' | 'always-quoted' | 'when-set';
  /** --dhcp-range: `<start>,static,<lease>s`, `set:'<label>',<start>,static,<lease>s` or `set:<label>,<start>,static,<netmask>,<lease>s` */
  range: 'plain' | 'set-quoted' | 'set-netmask';
  /** --no-hosts with multi_host */
  noHosts: boolean;
  /** --addn-hosts=<nova-br.hosts> with multi_host (2013.1 built the string and dropped it) */
  addnHosts: boolean;
}

export const MATRIX = {
  ensureBridgeUplinkUp: {
    behaviour: 'ensure_bridge brings flat_interface up after enslaving it',
    source: 'nova/network/linux_net.py: LinuxBridgeInterfaceDriver.ensure_bridge',
    values: { essex: false, folsom: false, grizzly: false, havana: true },
    // the brctl addif line is at every tag: what shows the value is that the `ip link set
    // <interface> up` after it is absent before 2013.2 (`absent`, checked like the quotes)
    quotes: {
      essex: "out, err = _execute('brctl', 'addif', bridge, interface,",
      folsom: "out, err = _execute('brctl', 'addif', bridge, interface,",
      grizzly: "out, err = _execute('brctl', 'addif', bridge, interface,",
      havana: "out, err = _execute('ip', 'link', 'set', interface, 'up',",
    },
    absent: {
      essex: "out, err = _execute('ip', 'link', 'set', interface, 'up',",
      folsom: "out, err = _execute('ip', 'link', 'set', interface, 'up',",
      grizzly: "out, err = _execute('ip', 'link', 'set', interface, 'up',",
    },
  } satisfies MatrixRow<boolean>,
  tapNames: {
    // Under nova-network libvirt names the tap itself in every release. Essex and Folsom's
    // LibvirtBridgeDriver sets no target dev; Grizzly and Havana's LibvirtGenericVIFDriver
    // asks get_vif_devname, which returns the VIF's devname whenever the key exists, and
    // nova-network's VIF always has it, set to None (network/model.py VIF.__init__; the
    // legacy mapping's 'vif_devname' at 2013.1); designer.set_vif_host_backend_bridge_config
    // sets a target dev only `if tapname`. Only Neutron gives a devname.
    behaviour: "the guest's tap on the node: libvirt's own vnetN (nova-network gives libvirt no target dev)",
    source:
      'nova/virt/libvirt/connection.py (2012.1) / driver.py (2012.2): libvirt_vif_driver = LibvirtBridgeDriver; nova/virt/libvirt/vif.py: LibvirtGenericVIFDriver.get_vif_devname with nova/network/model.py VIF devname None (2013.1, 2013.2)',
    values: { essex: 'vnet', folsom: 'vnet', grizzly: 'vnet', havana: 'vnet' },
    quotes: {
      essex: "default='nova.virt.libvirt.vif.LibvirtBridgeDriver',",
      folsom: "default='nova.virt.libvirt.vif.LibvirtBridgeDriver',",
      grizzly: "'vif_devname': vif.get('devname'),",
      havana: "if 'devname' in vif:",
    },
  } satisfies MatrixRow<'vnet'>,
  dnsmasq: {
    behaviour: "dnsmasq's environment and argv",
    source: 'nova/network/linux_net.py: restart_dhcp',
    values: {
      essex: { env: 'FLAGFILE', domain: 'always', range: 'plain', noHosts: false, addnHosts: false },
      folsom: { env: 'FLAGFILE', domain: 'always', range: 'set-quoted', noHosts: false, addnHosts: false },
      grizzly: { env: 'CONFIG_FILE', domain: 'always-quoted', range: 'set-netmask', noHosts: true, addnHosts: false },
      havana: { env: 'CONFIG_FILE', domain: 'when-set', range: 'set-netmask', noHosts: true, addnHosts: true },
    },
    quotes: {
      essex: "'--dhcp-range=%s,static,%ss' % (network_ref['dhcp_start'],",
      folsom: "'--dhcp-range=set:\\'%s\\',%s,static,%ss' %",
      grizzly: "'--domain=\\'%s\\'' % CONF.dhcp_domain,",
      havana: "cmd.append('--addn-hosts=%s' % _dhcp_file(dev, 'hosts'))",
    },
  } satisfies MatrixRow<DnsmasqForm>,
  snatRule: {
    behaviour: "nova-network's SNAT of the fixed range: no -o (Essex), -o public_interface, and -d 0.0.0.0/0 (Havana)",
    source: 'nova/network/linux_net.py: add_snat_rule',
    values: { essex: 'no-interface', folsom: 'interface', grizzly: 'interface', havana: 'interface-any-dest' },
    quotes: {
      essex: "'-s %s -j SNAT --to-source %s' %",
      folsom: "rule += ' -o %s' % FLAGS.public_interface",
      grizzly: "rule += ' -o %s' % CONF.public_interface",
      havana: "rule = ('-s %s -d %s -j SNAT --to-source %s'",
    },
  } satisfies MatrixRow<'no-interface' | 'interface' | 'interface-any-dest'>,
  flatManagerDhcpAccept: {
    // nova's legacy network info gave dhcp_server = the subnet's gateway when the manager
    // set none (FlatManager.DHCP = False): compute/utils.py legacy_network_info (2012.1),
    // network/model.py NetworkInfo.legacy (2012.2, 2013.1); _do_dhcp_rules wrote an accept
    // for it. Havana's _do_dhcp_rules reads the subnet's meta with no default: none.
    behaviour: "FlatManager's instance chains: a DHCP accept from the network's gateway (legacy dhcp_server), or none",
    source: 'nova/virt/firewall.py: IptablesFirewallDriver._do_dhcp_rules, with the legacy network info (nova/compute/utils.py at 2012.1, nova/network/model.py at 2012.2 and 2013.1)',
    values: { essex: 'gateway', folsom: 'gateway', grizzly: 'gateway', havana: 'none' },
    quotes: {
      essex: "dhcp_server = get_meta(subnet_v4, 'dhcp_server', gateway)",
      folsom: "dhcp_server = subnet_v4.get_meta('dhcp_server', gateway)",
      grizzly: "dhcp_server = subnet_v4.get_meta('dhcp_server', gateway)",
      havana: "dhcp_servers = [subnet.get_meta('dhcp_server')",
    },
  } satisfies MatrixRow<'gateway' | 'none'>,
  dhcpRequestAccept: {
    behaviour: "nova-compute's INPUT and FORWARD accepts of a guest's DHCP request (0.0.0.0:68 -> 255.255.255.255:67), once an instance chain has a DHCP accept",
    source: 'nova/virt/firewall.py: IptablesFirewallDriver.prepare_instance_filter (dhcp_create)',
    values: { essex: false, folsom: false, grizzly: true, havana: true },
    quotes: {
      essex: "ipv4_rules.append('-s %s -p udp --sport 67 --dport 68 '",
      folsom: "ipv4_rules.append('-s %s -p udp --sport 67 --dport 68 '",
      grizzly: "'-s 0.0.0.0/32 -d 255.255.255.255/32 '",
      havana: "'-s 0.0.0.0/32 -d 255.255.255.255/32 '",
    },
    absent: { essex: "'-s 0.0.0.0/32 -d 255.255.255.255/32 '", folsom: "'-s 0.0.0.0/32 -d 255.255.255.255/32 '" },
  } satisfies MatrixRow<boolean>,
  dhcpChecksumFill: {
    behaviour: "restart_dhcp adds the mangle rule that fills in DHCP replies' UDP checksums on their way to the bridge (multi_host networks, where the host has /dev/vhost-net)",
    source: 'nova/network/linux_net.py: _add_dhcp_mangle_rule (from restart_dhcp)',
    values: { essex: false, folsom: false, grizzly: true, havana: true },
    quotes: {
      essex: 'def restart_dhcp(context, dev, network_ref):',
      folsom: 'def restart_dhcp(context, dev, network_ref):',
      grizzly: "'-o %s -p udp -m udp --dport 68 -j CHECKSUM '",
      havana: "'-o %s -p udp -m udp --dport 68 -j CHECKSUM '",
    },
    absent: { essex: 'CHECKSUM', folsom: 'CHECKSUM' },
  } satisfies MatrixRow<boolean>,
  ipForwardByNova: {
    behaviour: 'initialize_gateway_device runs `sysctl -w net.ipv4.ip_forward=1` (flatlab sets it on every node all the same, as the install guides had operators write it into /etc/sysctl.conf)',
    source: 'nova/network/linux_net.py: initialize_gateway_device',
    values: { essex: false, folsom: true, grizzly: true, havana: true },
    quotes: {
      essex: "full_ip = '%s/%s' % (network_ref['dhcp_server'],",
      folsom: "_execute('sysctl', '-w', 'net.ipv4.ip_forward=1', run_as_root=True)",
      grizzly: "_execute('sysctl', '-w', 'net.ipv4.ip_forward=1', run_as_root=True)",
      havana: "_execute('sysctl', '-w', 'net.ipv4.ip_forward=1', run_as_root=True)",
    },
    absent: { essex: "_execute('sysctl', '-w', 'net.ipv4.ip_forward=1', run_as_root=True)" },
  } satisfies MatrixRow<boolean>,
  snatRange: {
    // linux_net.init_host(ip_range=None) fell back to the option (2012.1, 2012.2); 2013.1's
    // FlatDHCPManager.init_host passed the option unless it was empty, then each network's
    // cidr (l3.LinuxNetL3.initialize_network); 2013.2 dropped the option: each network's cidr.
    behaviour: "the range nova-network's SNAT and POSTROUTING accepts are built from: the fixed_range option (default 10.0.0.0/8), the option unless empty, or the network's cidr",
    source: 'nova/network/linux_net.py: init_host; nova/network/manager.py: FlatDHCPManager.init_host',
    values: { essex: 'option', folsom: 'option', grizzly: 'option-unless-empty', havana: 'network' },
    quotes: {
      essex: 'ip_range = FLAGS.fixed_range',
      folsom: 'ip_range = FLAGS.fixed_range',
      grizzly: 'if not CONF.fixed_range:',
      havana: 'def init_host(ip_range):',
    },
  } satisfies MatrixRow<'option' | 'option-unless-empty' | 'network'>,
  dmzDefault: {
    behaviour: "dmz_cidr's default: a POSTROUTING accept of the fixed range to 10.128.0.0/24 (Essex's StrOpt), or none (a ListOpt, empty)",
    source: 'nova/network/linux_net.py: linux_net_opts dmz_cidr, init_host',
    values: { essex: ['10.128.0.0/24'], folsom: [], grizzly: [], havana: [] },
    quotes: {
      essex: "default='10.128.0.0/24',",
      folsom: "cfg.ListOpt('dmz_cidr',",
      grizzly: "cfg.ListOpt('dmz_cidr',",
      havana: "cfg.ListOpt('dmz_cidr',",
    },
  } satisfies MatrixRow<string[]>,
  metadataForward: {
    behaviour: 'the metadata address forwarded by DNAT to metadata_host:metadata_port always (Essex), or by REDIRECT when metadata_host is 127.0.0.1',
    source: 'nova/network/linux_net.py: metadata_forward',
    values: { essex: 'dnat', folsom: 'redirect-localhost', grizzly: 'redirect-localhost', havana: 'redirect-localhost' },
    quotes: {
      essex: "'--to-destination %s:%s' %",
      folsom: "if FLAGS.metadata_host != '127.0.0.1':",
      grizzly: "if CONF.metadata_host != '127.0.0.1':",
      havana: "if CONF.metadata_host != '127.0.0.1':",
    },
  } satisfies MatrixRow<'dnat' | 'redirect-localhost'>,
  forceSnatRange: {
    behaviour: 'force_snat_range: one SNAT rule per destination range (-d), instead of -d 0.0.0.0/0 (2013.2); an ebtables redirect per range (2013.1 on)',
    source: 'nova/network/linux_net.py: add_snat_rule, init_host',
    values: { essex: 'absent', folsom: 'absent', grizzly: 'ebtables-only', havana: 'snat-and-ebtables' },
    quotes: {
      essex: 'def add_snat_rule(ip_range):',
      folsom: 'def add_snat_rule(ip_range):',
      grizzly: 'for snat_range in CONF.force_snat_range:',
      havana: "for dest_range in CONF.force_snat_range or ['0.0.0.0/0']:",
    },
    absent: { essex: 'force_snat_range', folsom: 'force_snat_range' },
  } satisfies MatrixRow<'absent' | 'ebtables-only' | 'snat-and-ebtables'>,
  shareDhcpAddress: {
    behaviour: "share_dhcp_address: every multi_host node answers as the network's gateway, isolated from the wire by ebtables and physdev rules (read from 2013.1)",
    source: 'nova/network/manager.py: NetworkManager._get_dhcp_ip; nova/network/linux_net.py: LinuxBridgeInterfaceDriver.plug, isolate_dhcp_address',
    values: { essex: false, folsom: false, grizzly: true, havana: true },
    quotes: {
      essex: 'def _get_dhcp_ip(self, context, network_ref, host=None):',
      folsom: 'def _get_dhcp_ip(self, context, network_ref, host=None):',
      grizzly: "if not network_ref.get('multi_host') or CONF.share_dhcp_address:",
      havana: "if not network_ref.get('multi_host') or CONF.share_dhcp_address:",
    },
    absent: { essex: 'share_dhcp_address', folsom: 'share_dhcp_address' },
  } satisfies MatrixRow<boolean>,
  floatingForward: {
    // what nova-network wrote for an associated floating address on the node that holds it
    // (ensure_floating_forward; the address itself: bind_floating_ip, `ip addr add F/32 dev
    // public_interface` in every release; send_arp_for_ha, False by default, not modelled)
    behaviour: "a floating address's nat rules: DNAT in PREROUTING and OUTPUT, float-snat without -o (Essex), with -o public_interface (Folsom), also -d the fixed address (Grizzly), and a POSTROUTING SNAT of DNATed replies (Havana)",
    source: 'nova/network/linux_net.py: floating_forward_rules',
    values: { essex: 'no-device', folsom: 'device', grizzly: 'device-and-fixed', havana: 'device-fixed-postrouting' },
    quotes: {
      essex: "'-s %s -j SNAT --to %s' % (fixed_ip, floating_ip))]",
      folsom: "rule += ' -o %s' % device",
      grizzly: "rules.append(('float-snat', rule + ' -d %s' % fixed_ip))",
      havana: "rules.append(('POSTROUTING', '-s %s -m conntrack --ctstate DNAT -j SNAT '",
    },
    absent: { grizzly: '--ctstate DNAT -j SNAT' },
  } satisfies MatrixRow<'no-device' | 'device' | 'device-and-fixed' | 'device-fixed-postrouting'>,
  injectedGateway: {
    behaviour: 'the injected /etc/network/interfaces: a gateway line always (Cheetah) or only when there is one (Jinja2)',
    source: 'nova/virt/interfaces.template',
    values: { essex: 'always', folsom: 'always', grizzly: 'always', havana: 'when-set' },
    quotes: {
      essex: 'gateway ${ifc.gateway}',
      folsom: 'gateway ${ifc.gateway}',
      grizzly: 'gateway ${ifc.gateway}',
      havana: '{%- if ifc.gateway %}',
    },
  } satisfies MatrixRow<'always' | 'when-set'>,
};

export type MatrixKey = keyof typeof MATRIX;

/** The value of one behaviour in one release. */
export function behaviour<K extends MatrixKey>(key: K, release: Release): (typeof MATRIX)[K]['values'][Release] {
  return MATRIX[key].values[release] as (typeof MATRIX)[K]['values'][Release];
}

/** One line per behaviour, for `flatlab plan` and the report. */
export function describeRelease(release: Release): string[] {
  return (Object.keys(MATRIX) as MatrixKey[]).map((k) => {
    const v = MATRIX[k].values[release];
    // a value in words: `env CONFIG_FILE, domain always-quoted, ...`, a list as its items
    const text = Array.isArray(v) ? (v.length ? v.join(', ') : 'none') : typeof v === 'object' ? Object.entries(v).map(([a, b]) => `${a} ${String(b)}`).join(', ') : String(v);
    return `${MATRIX[k].behaviour}: ${text} (${MATRIX[k].source} at ${RELEASE_TAGS[release]})`;
  });
}
