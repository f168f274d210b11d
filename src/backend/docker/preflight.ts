/**
 * What the Docker backend checks before anything is built (exit 3, naming the engine and
 * what to do), and what it learns there: for each engine, whether its containers are
 * processes of this machine (local: today's fast path through /proc and /run/netns) or
 * not (remote: everything through the API and the run's agent there, agent.ts).
 *
 * An engine is remote when its own account of its host (`docker info`: Name is its UTS
 * hostname, KernelVersion its kernel) is not this machine's; one that claims to be here
 * is still checked when its first container starts (containers.ts: the PID it reports
 * must be that container here), so a look-alike machine is caught, not trusted.
 */
import { hostname, release } from 'node:os';
import { EnvironmentError } from '../../errors.js';
import { SEGMENT_MTU, VXLAN_OVERHEAD } from '../../plan/span.js';
import { ASSETS_DIR, NATIVE_DIR } from '../../assets.js';
import type { Containers } from './containers.js';
import { ensureEngine, elsewhereProblem, type EngineSpec } from './engine.js';
import { copyNodeImage, NODE_IMAGE, nodeImageExists } from './image.js';
import { ensureAssetsImage } from './assets-image.js';
import { homeEnd } from './span-fabric.js';


const log = (line: string): void => void process.stderr.write(`flatlab: ${line}\n`);

/** The engines as they are: each marked remote when it is, with the image its nodes run there. */
export async function preflightEngines(containers: Containers, given: EngineSpec[], underlay: string | undefined): Promise<EngineSpec[]> {
  const several = given.length > 1;
  await Promise.all(given.map((e) => ensureEngine(containers.client(e.name), e.url, several ? e.name : undefined)));
  const here = { hostname: hostname(), kernel: release() };
  const infos = await Promise.all(given.map((e) => containers.client(e.name).info() as Promise<{ Name?: string; KernelVersion?: string }>));
  const engines: EngineSpec[] = given.map((e, i) => {
    const { remote: _, image: __, ...spec } = e;
    return elsewhereProblem(infos[i]!, here) ? { ...spec, remote: true } : spec;
  });
  const [home, ...others] = engines;
  if (home!.remote) {
    throw new EnvironmentError(
      `engine ${home!.name} at ${home!.url} ${elsewhereProblem(infos[0]!, here)}`,
      'the first --engine holds the fabric beside this machine\'s namespaces: give this machine\'s engine first, and the remote ones after it',
    );
  }
  if (!(await nodeImageExists(containers.client(home!.name)))) {
    throw new EnvironmentError(`the compute-node image ${NODE_IMAGE} is missing${others.length ? ` on engine ${home!.name}` : ''}`, 'build it: flatlab image build');
  }
  if (others.length > 0) await checkUnderlay(underlay);
  // engines share no registry: the others get the image from the first, once; a remote
  // one also gets flatlab's assets baked into it (it cannot mount this machine's folders)
  for (const e of others) {
    if (!(await nodeImageExists(containers.client(e.name)))) {
      log(`engine ${e.name} has no ${NODE_IMAGE}: copying it from engine ${home!.name}…`);
      await copyNodeImage(containers.client(home!.name), containers.client(e.name));
    }
    if (e.remote) e.image = await ensureAssetsImage(containers.client(e.name), [ASSETS_DIR, NATIVE_DIR], log);
  }
  return engines;
}

/**
 * Several engines meet on an underlay: it must be given, exist here, and carry the
 * segment's frames inside VXLAN (an MTU of at least 1500 + 50): a smaller one loses the
 * larger frames between machines, which no verdict should depend on.
 */
async function checkUnderlay(underlay: string | undefined): Promise<void> {
  if (!underlay) {
    throw new EnvironmentError(
      'several engines need an underlay: the network namespace of this machine where the fabric meets the other engines',
      '--underlay NETNS (scripts/second-engine.sh start makes flatlab-underlay-a); never the root namespace',
    );
  }
  const [netns, address] = underlay.split('@') as [string, string | undefined];
  const end = await homeEnd({ netns, ...(address ? { address } : {}) });
  if (end.underlayMtu < SEGMENT_MTU + VXLAN_OVERHEAD) {
    throw new EnvironmentError(
      `--underlay ${underlay}: its link to the other engines has an MTU of ${end.underlayMtu}, and VXLAN needs ${VXLAN_OVERHEAD} bytes of it: the fabric would carry ${end.underlayMtu - VXLAN_OVERHEAD} bytes, not nova's ${SEGMENT_MTU}`,
      `give the underlay an MTU of ${SEGMENT_MTU + VXLAN_OVERHEAD} or more (scripts/remote-engine.sh start --mtu ${SEGMENT_MTU + VXLAN_OVERHEAD})`,
    );
  }
}
