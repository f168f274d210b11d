/** A problem a rule finds in a scenario, with the path of the field to blame (the loader prints its file position). */
export type FieldPath = (string | number)[];

export interface Problem {
  path: FieldPath;
  message: string;
  /** blame the mapping key itself (a name) rather than its value */
  atKey?: boolean;
  /**
   * a mistake nova accepted: built as nova built it, with one line saying what follows
   * (flatlab refuses only what nova refused or what cannot be built)
   */
  warning?: boolean;
}

/** `vms.vm_3.host`, `expect.checks[0].from` */
export function fieldName(path: FieldPath): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg;
  return out || '(top level)';
}
