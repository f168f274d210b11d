/** Fixed-width text tables whose cells may hold ANSI colour. */
import { stripVTControlCharacters } from 'node:util';

export function renderTable(header: string[], rows: string[][]): string {
  const width = (s: string): number => stripVTControlCharacters(s).length;
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]): string =>
    '  ' + cells.map((c, i) => c + ' '.repeat(Math.max(0, widths[i]! - width(c)))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)].join('\n');
}
