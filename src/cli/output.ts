/** Lines for a terminal: what the CLI prints of errors and warnings. */

/** At most this many problems are printed, each at most this wide. */
export const MAX_LINES = 20;
const MAX_WIDTH = 240;

/**
 * Error lines as a terminal can take them: control characters escaped (a garbage file's
 * bytes must not reach the terminal raw), each line cut, and a count past the first 20.
 */
export function printableLines(lines: string[]): string[] {
  const shown = lines.slice(0, MAX_LINES).map((l) => {
    const safe = l.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`).replace(/\t/g, ' ');
    return safe.length > MAX_WIDTH ? `${safe.slice(0, MAX_WIDTH - 1)}…` : safe;
  });
  if (lines.length > MAX_LINES) shown.push(`… and ${lines.length - MAX_LINES} more problems`);
  return shown;
}
