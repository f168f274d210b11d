/**
 * Kernel configuration text (a .config, or a fragment of one as merge_config.sh takes it):
 * `CONFIG_X=value` and `# CONFIG_X is not set`, everything else a comment. Pure: the
 * guests' kernel build (run/guest-kernel.ts) checks with it that the .config it ended
 * with holds every line of flatlab's fragment (assets/guest/kernel.config), since
 * `make olddefconfig` silently drops what a source does not know or cannot satisfy.
 */

/** option -> its value as written (`y`, `1`, `"-flatlab"`), or null for "is not set" */
export function parseKernelConfig(text: string): Map<string, string | null> {
  const options = new Map<string, string | null>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const set = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (set) options.set(set[1]!, set[2]!);
    const unset = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line);
    if (unset) options.set(unset[1]!, null);
  }
  return options;
}

/**
 * What the final .config does not hold of the fragment, one sentence each. An option
 * the fragment turns off may be absent altogether (its dependencies are off): that is off.
 */
export function configMismatches(fragment: string, final: string): string[] {
  const want = parseKernelConfig(fragment);
  const have = parseKernelConfig(final);
  const out: string[] = [];
  for (const [option, value] of want) {
    const got = have.get(option) ?? null;
    if (got === value) continue;
    const show = (v: string | null): string => (v === null ? 'not set' : v);
    out.push(`${option}: asked ${show(value)}, the source's kconfig gave ${have.has(option) ? show(got) : 'nothing (unknown option, or its dependencies are off)'}`);
  }
  return out;
}
