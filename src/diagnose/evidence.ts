/**
 * What a diagnosis records about one flow: what each hop's capture showed, which
 * dropping rules counted packets meanwhile, the source's neighbour entry, and the
 * settings that decide the path (bridge ports, addresses, forwarding). Plain data,
 * so the verdict can be computed (and unit-tested) from recordings.
 */
import type { DropCount } from '../checks/counters.js';
import type { Flow } from './flow.js';

export { droppedBetween, parseEbtablesCounters, parseIptablesCounters, type DropCount } from '../checks/counters.js';

export interface HopSeen {
  label: string;
  /** ARP who-has targets seen */
  arpRequests: string[];
  /** ARP is-at answers seen (the address answered for) */
  arpReplies: string[];
  /** probe packets toward the destination */
  requests: number;
  /** answers from the destination (echo reply, SYN-ACK/RST, UDP) */
  replies: number;
  /** the source addresses the requests carried here (SNAT shows at the far end) */
  requestSources?: string[];
  /** why nothing could be captured there (a device that is down) */
  unavailable?: string;
}


export interface NodeFacts {
  /** the node's flat_interface (nodes may differ); absent in older recordings: the network's */
  uplink?: string;
  /** the bridge flat_interface is enslaved to, or null */
  uplinkMaster: string | null;
  /** whether flat_interface is up (administratively); absent in older recordings: up */
  uplinkUp?: boolean;
  /** net.bridge.bridge-nf-call-iptables: whether bridged frames pass the node's iptables */
  bridgeNf?: boolean;
  /** whether something listens on udp/67 in the node (its dnsmasq) */
  dhcpListening?: boolean;
  /** the last line its dnsmasq wrote to stderr, when it is not running */
  dhcpLog?: string;
  bridgeAddresses: string[];
  ipForward: boolean;
}

export interface Evidence {
  flow: Flow;
  /** what the check expected of this flow, when it was traced because of a check */
  expected?: 'reachable' | 'unreachable' | 'refused';
  /** whether the probe sent during the captures got its answer */
  probeOk: boolean;
  probeEvidence: string;
  hops: HopSeen[];
  drops: DropCount[];
  /** ebtables ACCEPT rules on the fabric port that drops (what it lets through) */
  fabricAccepts: string[];
  /** the source's neighbour entry for flow.nextHopIp */
  neighbour: { state: string; lladdr?: string } | null;
  srcAddresses: string[];
  /** null for the external host */
  dstAddresses: string[] | null;
  nodes: Record<string, NodeFacts>;
  /** the fixed range, to tell a pool address on a bridge */
  cidr: string;
  bridge: string;
  flatInterface: string;
  /** the destination VM's firewall chain and whether it holds the same-net accept */
  dstChain?: { name: string; sameNetAccept: boolean; node: string };
  /** the node whose dnsmasq serves each guest of the flow (its own with multi_host, else the network host) */
  servedBy?: Record<string, string>;
  /** the way out: the routing node's SNAT rule and how many packets it rewrote meanwhile */
  snat?: { node: string; rule: string; packets: number; myIp: string };
}

type FlowKey = Pick<Flow, 'dstIp' | 'srcIp' | 'srcMac'> & Partial<Pick<Flow, 'proto' | 'port'>>;

/**
 * Classifies one line of `tcpdump -n -e -l` output for a flow. Only the flow's own ARP
 * exchange counts: requests the source sent ("tell <source>") and answers sent to the
 * source's MAC, not a node's neighbour probes of the same address. Likewise only the
 * flow's own protocol (and port) counts as its request or answer: the destination
 * guest's DHCP renewal with its node (10.0.0.1.67 > 10.0.0.2.68, at T1 = 60 s after its
 * lease, when a slow lab's diagnosis runs) had been read as a request reaching it and an
 * answer leaving it.
 */
export function classifyLine(line: string, flow: FlowKey): { arpRequest?: string; arpReply?: string; request?: boolean; from?: string; reply?: boolean } {
  const arpReq = /ARP.*Request who-has (\d+\.\d+\.\d+\.\d+) tell (\d+\.\d+\.\d+\.\d+)/.exec(line);
  if (arpReq) return arpReq[2] === flow.srcIp ? { arpRequest: arpReq[1]! } : {};
  const arpRep = /([0-9a-f:]{17}) > ([0-9a-f:]{17}), ethertype ARP.*Reply (\d+\.\d+\.\d+\.\d+) is-at/.exec(line);
  if (arpRep) return arpRep[2] === flow.srcMac ? { arpReply: arpRep[3]! } : {};
  const ip = /(\d+\.\d+\.\d+\.\d+)(?:\.(\d+))? > (\d+\.\d+\.\d+\.\d+)(?:\.(\d+))?:/.exec(line);
  if (!ip) return {};
  const [, from, fromPort, to, toPort] = ip;
  const icmp = (what: string): boolean => line.includes(`: ICMP ${what}`);
  const port = flow.port === undefined ? undefined : String(flow.port);
  if (to === flow.dstIp) {
    const ours = flow.proto === undefined || (flow.proto === 'icmp' ? icmp('echo request') : !icmp('') && (port === undefined || toPort === port));
    return ours ? { request: true, from: from! } : {};
  }
  if (from === flow.dstIp) {
    // an answer: the echo reply, or for tcp/udp a segment from the port or an ICMP error (refused)
    const ours = flow.proto === undefined || (flow.proto === 'icmp' ? icmp('echo reply') : icmp('') || port === undefined || fromPort === port);
    return ours ? { reply: true } : {};
  }
  return {};
}

export function summariseCapture(label: string, text: string, flow: FlowKey): HopSeen {
  const seen: HopSeen = { label, arpRequests: [], arpReplies: [], requests: 0, replies: 0 };
  for (const line of text.split('\n')) {
    const c = classifyLine(line, flow);
    if (c.arpRequest && !seen.arpRequests.includes(c.arpRequest)) seen.arpRequests.push(c.arpRequest);
    if (c.arpReply && !seen.arpReplies.includes(c.arpReply)) seen.arpReplies.push(c.arpReply);
    if (c.request) seen.requests++;
    if (c.from && !(seen.requestSources ??= []).includes(c.from)) seen.requestSources.push(c.from);
    if (c.reply) seen.replies++;
  }
  return seen;
}
