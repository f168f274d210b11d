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

/** nova's git tag of each release */
export const RELEASE_TAGS: Record<Release, string> = { essex: '2012.1', folsom: '2012.2', grizzly: '2013.1', havana: '2013.2' };

export interface MatrixRow<T> {
  behaviour: string;
  /** nova's file and function */
  source: string;
  values: Record<Release, T>;
  /** a line of nova's source at each tag that shows the value (whitespace-trimmed) */
  quotes: Record<Release, string>;
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
    quotes: {
      essex: "out, err = _execute('brctl', 'addif', bridge, interface,",
      folsom: "out, err = _execute('brctl', 'addif', bridge, interface,",
      grizzly: "out, err = _execute('brctl', 'addif', bridge, interface,",
      havana: "out, err = _execute('ip', 'link', 'set', interface, 'up',",
    },
  } satisfies MatrixRow<boolean>,
  tapNames: {
    behaviour: "the guest's tap on the node: libvirt's vnetN, or nova's \"nic\" + VIF uuid cut to 14 characters",
    source: 'nova/virt/libvirt/vif.py: LibvirtBridgeDriver (no target dev) / LibvirtGenericVIFDriver.get_vif_devname',
    values: { essex: 'vnet', folsom: 'vnet', grizzly: 'nic-uuid', havana: 'nic-uuid' },
    quotes: {
      essex: "default='nova.virt.libvirt.vif.LibvirtBridgeDriver',",
      folsom: "default='nova.virt.libvirt.vif.LibvirtBridgeDriver',",
      grizzly: "return (\"nic\" + mapping['vif_uuid'])[:network_model.NIC_NAME_LEN]",
      havana: "return (\"nic\" + vif['id'])[:network_model.NIC_NAME_LEN]",
    },
  } satisfies MatrixRow<'vnet' | 'nic-uuid'>,
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
  instanceDhcpAccept: {
    behaviour: "an instance chain's DHCP accept: for every network (Essex) or only where the subnet has a dhcp_server",
    source: 'nova/virt/firewall.py: IptablesFirewallDriver._do_dhcp_rules',
    values: { essex: 'always', folsom: 'with-server', grizzly: 'with-server', havana: 'with-server' },
    quotes: {
      essex: "dhcp_servers = [info['dhcp_server'] for (_n, info) in network_info]",
      folsom: 'if dhcp_server:',
      grizzly: 'if dhcp_server:',
      havana: 'if dhcp_server:',
    },
  } satisfies MatrixRow<'always' | 'with-server'>,
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
    return `${MATRIX[k].behaviour}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)} (${MATRIX[k].source} at ${RELEASE_TAGS[release]})`;
  });
}
