/**
 * The one escaper of HTML and XML text (the report and JUnit): the five characters that
 * end a text or an attribute, and the control characters XML 1.0 does not allow at all
 * (a tcpdump line or a process's stderr may carry them).
 */
export function escapeMarkup(s: string | number | null | undefined): string {
  return String(s ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '');
}
