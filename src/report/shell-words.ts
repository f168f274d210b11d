/**
 * argv and environment shown as a command line a POSIX shell reads back into the same
 * words: bare where nothing in a word is special, in single quotes otherwise. (Six lines
 * do not warrant a dependency; the reverse, splitting a pasted line, is import's.)
 */
const BARE = /^[A-Za-z0-9_@%+=:,./-]+$/;

export function shellWord(s: string): string {
  if (s === '') return "''";
  return BARE.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `NAME=value ... cmd arg ...`, each part quoted as needed. */
export function commandLine(env: Record<string, string>, argv: string[]): string {
  return [...Object.entries(env).map(([k, v]) => `${k}=${shellWord(v)}`), ...argv.map(shellWord)].join(' ');
}
