/**
 * The package as a user installs it: `npm pack`, a global install into an empty prefix,
 * then flatlab from an empty folder writes its results there, and the editor modeline of
 * a shipped scenario points at a schema that is in the package.
 */
import t from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { execa } from 'execa';
import { ROOT, skipUnlessRoot, tempDir } from './lib.js';

t.test('npm pack, install into an empty prefix, run from an empty folder', { skip: skipUnlessRoot }, async (t) => {
  const work = await tempDir(t, 'flatlab-pack-');
  const pack = await execa('npm', ['pack', '--silent', '--pack-destination', work], { cwd: ROOT, reject: false });
  t.equal(pack.exitCode, 0, 'npm pack', { output: pack.stderr });
  const tgz = join(work, pack.stdout.trim().split('\n').pop()!);
  const prefix = join(work, 'prefix');
  const install = await execa('npm', ['i', '-g', '--prefix', prefix, tgz, '--no-audit', '--no-fund', '--loglevel=error'], { reject: false });
  t.equal(install.exitCode, 0, 'a global install into an empty prefix', { output: install.stderr });
  const bin = join(prefix, 'bin', 'flatlab');
  const version = await execa(bin, ['--version'], { reject: false });
  t.equal(version.stdout.trim(), JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  const empty = join(work, 'empty');
  await execa('mkdir', ['-p', empty]);
  const run = await execa(bin, ['run', 'flatdhcp-multihost', '-q'], { cwd: empty, reject: false, env: { NO_COLOR: '1' } });
  t.equal(run.exitCode, 0, 'the reference scenario from the installed package', { output: run.stdout + run.stderr });
  t.match(run.stdout, new RegExp(`results: ${join(empty, 'results', 'flatdhcp-multihost')}/`), 'results under ./results of the folder it was run from');
  t.ok(readdirSync(join(empty, 'results', 'flatdhcp-multihost')).length === 1);
  // the modeline of a shipped scenario resolves inside the package
  const pkg = join(prefix, 'lib', 'node_modules', 'flatlab');
  const scenario = join(pkg, 'scenarios', 'flatdhcp-multihost.yaml');
  const modeline = /\$schema=(\S+)/.exec(readFileSync(scenario, 'utf8'))![1]!;
  t.ok(existsSync(resolve(dirname(scenario), modeline)), `${modeline} is in the package`);
  t.ok(existsSync(join(pkg, 'Dockerfile')), 'the Dockerfile image build needs');
  // the bug-report tools from the package: the script it prints, the examples it imports
  const script = await execa(bin, ['collect-script', '--path'], { reject: false });
  t.ok(script.stdout.startsWith(pkg) && existsSync(script.stdout.trim()), 'collect.sh is in the package');
  const imported = await execa(bin, ['import', join(pkg, 'examples', 'bug-report', 'nova.conf')], { cwd: empty, reject: false });
  t.equal(imported.exitCode, 0, 'the shipped example imports', { output: imported.stderr });
  const completion = await execa(bin, ['completion', 'bash'], { reject: false });
  t.match(completion.stdout, /complete -F _flatlab flatlab/);
});
