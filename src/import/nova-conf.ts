/**
 * nova.conf as nova read it, both forms operators pasted:
 *
 * - INI (`[DEFAULT]`, `name = value`), read the way nova's own parser read it
 *   (nova/openstack/common/iniparser.py BaseParser.parse at 2012.1: `#` and `;` comment
 *   lines, `=` or `:` separates, an indented line continues the value, and
 *   cfg.ConfigParser.assignment refuses an option before any section).
 * - The Essex flagfile (`--name=value`), translated as Essex translated it
 *   (nova/compat/flagfile.py _read_flagfile at 2012.1: `#` and `//` comment lines,
 *   `--name=value`, a bare `--name` is true, a bare `--noname` is false).
 *
 * Pure: text in, options with their line numbers out; a malformed line is a UserError
 * naming file:line.
 */
import { UserError } from '../errors.js';

export interface ConfOption {
  /** option name as written (dashes kept: oslo.config read `flat-interface` as written too) */
  name: string;
  value: string;
  /** 1-based line of the assignment */
  line: number;
  /** the INI section (`DEFAULT` for flagfiles) */
  section: string;
}

export interface ParsedConf {
  file: string;
  style: 'ini' | 'flagfile';
  /** every assignment in file order, later ones overriding earlier ones as in nova */
  options: ConfOption[];
}

/**
 * Which form a file is: Essex's test (_read_flagfile) was whether the first non-comment
 * line starts with `--`.
 */
export function confStyle(text: string): 'ini' | 'flagfile' {
  for (const raw of text.split(/\r?\n/)) {
    const l = raw.trim();
    if (l === '' || l.startsWith('#') || l.startsWith('//') || l.startsWith(';')) continue;
    return l.startsWith('--') ? 'flagfile' : 'ini';
  }
  return 'ini';
}

export function parseNovaConf(text: string, file: string): ParsedConf {
  if (text.includes('\0')) throw new UserError(`${file}:1 is not a text file (it holds NUL bytes)`);
  const style = confStyle(text);
  return { file, style, options: style === 'flagfile' ? parseFlagfile(text, file) : parseIni(text, file) };
}

function parseFlagfile(text: string, file: string): ConfOption[] {
  const out: ConfOption[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const l = raw.trim();
    if (l === '' || raw.startsWith('#') || raw.startsWith('//') || l.startsWith('#')) return;
    if (!l.startsWith('--') || l.length === 2) throw new UserError(`${file}:${line} expected --option=value (an Essex flagfile), found ${quote(l)}`);
    const eq = l.indexOf('=');
    if (eq >= 0) {
      const name = l.slice(2, eq).trim();
      if (!name) throw new UserError(`${file}:${line} an option with no name: ${quote(l)}`);
      // Essex wrote the line into an INI file for iniparser, which unquoted it (below)
      out.push({ name, value: unquote(l.slice(eq + 1).trim()), line, section: 'DEFAULT' });
    } else if (l.startsWith('--no')) {
      out.push({ name: l.slice(4), value: 'false', line, section: 'DEFAULT' });
    } else {
      out.push({ name: l.slice(2), value: 'true', line, section: 'DEFAULT' });
    }
  });
  return out;
}

function parseIni(text: string, file: string): ConfOption[] {
  const out: ConfOption[] = [];
  let section: string | null = null;
  let open: ConfOption | null = null;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const l = raw.trimEnd();
    if (l === '') {
      open = null;
      return;
    }
    if (l[0] === ' ' || l[0] === '\t') {
      // iniparser: an indented line continues the previous value
      if (open === null) throw new UserError(`${file}:${line} an indented line continues no option: ${quote(l.trim())}`);
      open.value = `${open.value}\n${l.trim()}`;
      return;
    }
    open = null;
    if (l[0] === '#' || l[0] === ';') return;
    if (l[0] === '[') {
      if (!l.endsWith(']')) throw new UserError(`${file}:${line} a section must end with "]": ${quote(l)}`);
      if (l.length <= 2) throw new UserError(`${file}:${line} an empty section name`);
      section = l.slice(1, -1);
      return;
    }
    const colon = l.indexOf(':');
    const equal = l.indexOf('=');
    if (colon < 0 && equal < 0) throw new UserError(`${file}:${line} expected "option = value", found ${quote(l)}`);
    const at = colon < 0 || (equal >= 0 && equal < colon) ? equal : colon;
    const name = l.slice(0, at).trim();
    if (!name) throw new UserError(`${file}:${line} an option with no name: ${quote(l)}`);
    if (section === null) {
      throw new UserError(`${file}:${line} ${name} comes before any section; nova refused that ("Section must be started before assignment"): add [DEFAULT] above it`);
    }
    open = { name, value: unquote(l.slice(at + 1).trim()), line, section };
    out.push(open);
  });
  return out;
}

/**
 * iniparser's unquoting (nova/openstack/common/iniparser.py BaseParser._split_key_value at
 * 2012.1 and 2012.2, oslo.config's iniparser from 2013.1): a value wholly in matching
 * double or single quotes loses them, nothing else (`"T'` stays as written, a `#` after a
 * value is part of it: iniparser knew comment lines only).
 */
export function unquote(value: string): string {
  return value.length >= 2 && value[0] === value[value.length - 1] && (value[0] === '"' || value[0] === "'") ? value.slice(1, -1) : value;
}

/** A line shown in an error: cut, with control characters escaped. */
function quote(s: string): string {
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return JSON.stringify(clean.length > 80 ? `${clean.slice(0, 80)}…` : clean);
}

/** oslo.config's booleans (cfg.BoolOpt, 2012.1): 1/0, yes/no, true/false, on/off, any case. */
export function confBool(o: ConfOption, file: string): boolean {
  const v = o.value.toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(v)) return true;
  if (['0', 'no', 'false', 'off'].includes(v)) return false;
  throw new UserError(`${file}:${o.line} ${o.name}: ${quote(o.value)} is not a boolean (nova read 1/0, yes/no, true/false, on/off)`);
}

/** Names that hold secrets: their values never reach a written file or a terminal. */
const SECRET = /(pass(word|wd)?|secret|token|(^|_)key$|credential)/i;

/** A value fit to print: secrets masked, a URL's password masked. */
export function maskedValue(name: string, value: string): string {
  if (SECRET.test(name)) return '***';
  return value.replace(/(:\/\/[^:/@\s]*:)[^@\s]*@/g, '$1***@');
}
