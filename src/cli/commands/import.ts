/** `flatlab import NOVA_CONF...`: a scenario from an operator's nova.conf files. */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import chalk from 'chalk';
import type { Command } from 'commander';
import { UserError } from '../../errors.js';
import { parseNovaConf, type ParsedConf } from '../../import/nova-conf.js';
import { importScenario } from '../../import/to-scenario.js';
import { RELEASES } from '../../nova/releases.js';
import { printableLines } from '../output.js';
import { releaseFlag } from './shared.js';

/** nova.conf is a page; anything far larger is the wrong file */
const MAX_CONF_BYTES = 1024 * 1024;

async function readConf(file: string): Promise<ParsedConf> {
  try {
    const st = await stat(file);
    if (st.isDirectory()) throw new UserError(`${file}: is a folder, not a nova.conf`);
    if (st.size > MAX_CONF_BYTES) throw new UserError(`${file}: ${st.size} bytes is not a nova.conf (at most ${MAX_CONF_BYTES})`);
    const bytes = await readFile(file);
    const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
    return parseNovaConf(text, file);
  } catch (err) {
    if (err instanceof UserError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${file}: cannot read (${code === 'ENOENT' ? 'no such file' : code ?? String(err)})`, { cause: err });
  }
}

interface ImportFlags {
  output?: string;
  node: string[];
  vms?: string;
  networkCreate?: string;
  external?: string;
  name?: string;
  release?: string;
}

export function registerImport(program: Command): void {
  program
    .command('import')
    .argument('[nova_conf...]', 'nova.conf files that hold for every node (INI or Essex flagfile)')
    .option('-o, --output <file>', 'write the scenario here instead of to stdout')
    .option('--node <name=file>', "a node and its own nova.conf (repeat per node)", (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--vms <placement>', 'where VMs run: NODE:COUNT,... or VM@NODE,... (default: 2 per node)')
    .option('--network-create <line>', 'the "nova-manage network create ..." line that made the network (its CIDR, bridge, multi_host)')
    .option('--external <cidr>', "model the way out: the nodes' public network, with each node's my_ip on it")
    .option('--name <name>', 'the scenario\'s name (default: the output file\'s, else "imported")')
    .option('--release <release>', `the nova release the nodes ran (${RELEASES.join(', ')}; default havana)`)
    .description("write a scenario from nova.conf files: every option flatlab models mapped at its line, every other listed")
    .addHelpText('after', '\nExamples:\n  flatlab import /etc/nova/nova.conf --vms compute1:2,compute2:2 -o mine.yaml\n  flatlab import --node controller=ctl.conf --node compute1=c1.conf -o report.yaml')
    .action(async (files: string[], flags: ImportFlags) => {
      const release = flags.release !== undefined ? releaseFlag(flags.release) : undefined;
      const perNode = await Promise.all(
        flags.node.map(async (spec) => {
          const eq = spec.indexOf('=');
          if (eq <= 0 || eq === spec.length - 1) throw new UserError(`--node ${spec}: write NAME=FILE`);
          return { node: spec.slice(0, eq), conf: await readConf(spec.slice(eq + 1)) };
        }),
      );
      const shared = await Promise.all(files.map(readConf));
      if (shared.length === 0 && perNode.length === 0) throw new UserError('import: give a nova.conf, or --node NAME=FILE per node');
      const fromOutput = flags.output ? basename(flags.output).replace(/\.ya?ml$/, '') : undefined;
      const name = flags.name ?? (fromOutput && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(fromOutput) ? fromOutput : undefined);
      const out = importScenario({
        shared,
        perNode,
        ...(flags.vms !== undefined ? { vms: flags.vms } : {}),
        ...(flags.networkCreate !== undefined ? { networkCreate: flags.networkCreate } : {}),
        ...(flags.external !== undefined ? { external: flags.external } : {}),
        ...(name !== undefined ? { name } : {}),
        ...(release !== undefined ? { release } : {}),
      });
      for (const w of printableLines(out.warnings)) process.stderr.write(`${chalk.yellow(w)}\n`);
      for (const n of printableLines(out.notes)) process.stderr.write(`note: ${n}\n`);
      if (flags.output) {
        try {
          await writeFile(flags.output, out.text);
        } catch (err) {
          throw new UserError(`-o ${flags.output}: cannot write (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
        }
        process.stderr.write(`wrote ${flags.output}: ${shared.length + perNode.length} file(s) read, ${out.ignored.length} option(s) ignored (listed at its top)\n`);
      } else {
        process.stdout.write(out.text);
      }
    });
}
