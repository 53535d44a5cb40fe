/**
 * Every verifyImages ClusterPolicy / Policy found in Kyverno's public policy library (kyverno/policies)
 * and test suite (kyverno/kyverno) either loads, or is refused with problems that name each field
 * and say why. The policies are data (test/fixtures/kyverno-library/<repo>/*.yaml, each with a
 * `# source:` header); expected.json records the outcome of each:
 *
 * - `loads`: no problem at all.
 * - `rejected`: `fields` is the exact set of field paths with a problem (prefixed `#N ` in files holding
 *   several policies); of those, `unknown` are reported as `unknown field` (not a Kyverno field),
 *   `invalid` carry a specific validation message, and every other one says `is not supported: <reason>`.
 * - `invalid-yaml`: the file is not YAML (kept as `.yaml.txt` so that prettier leaves it alone).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parsePolicyText } from '../../../lib/policy/compile/documents';
import type { PolicyProblem } from '../../../lib/policy/problems';
import type { Attestor, Policy } from '../../../lib/policy/types';

interface Expectation {
  readonly file: string;
  readonly outcome: 'loads' | 'rejected' | 'invalid-yaml';
  readonly fields?: readonly string[];
  readonly unknown?: readonly string[];
  readonly invalid?: readonly string[];
}

const ROOT = join(__dirname, '../../fixtures/kyverno-library');
const EXPECTED = JSON.parse(readFileSync(join(ROOT, 'expected.json'), 'utf8')) as Expectation[];

function load(file: string) {
  return parsePolicyText(readFileSync(join(ROOT, file), 'utf8'), file);
}

/** `spec.rules[0].context`, or `#2 spec.rules[0].context` for the second policy of a multi-document file. */
function fieldOf(file: string, problem: PolicyProblem): string {
  const document = problem.source.slice(file.length);
  return document ? `${document} ${problem.path}` : problem.path;
}

function sorted(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

type Json = Record<string, unknown>;
const list = (value: unknown): Json[] => (Array.isArray(value) ? (value as Json[]) : []);

/** The outline of a policy: kind, name, its written rules with their entries' images, attestor kinds and attestation types. */
interface Outline {
  readonly kind: string;
  readonly name: string;
  readonly rules: readonly {
    readonly name: string;
    readonly entries: readonly { images: string[]; attestors: string[][]; attestations: string[] }[];
  }[];
}

/**
 * The outline as the YAML says it, read with the plain YAML library (not imagegate's reader): an
 * entry's `keys` is a key attestor, `keyless` keyless, `certificates` a certificate, `attestor` a
 * nested set; `image` is the deprecated single form of `imageReferences`.
 */
function writtenOutlines(text: string): Outline[] {
  return parseAllDocuments(text)
    .map((document) => document.toJS() as Json | null)
    .filter((document): document is Json => document?.kind === 'ClusterPolicy' || document?.kind === 'Policy')
    .map((document) => ({
      kind: String(document.kind),
      name: String((document.metadata as Json).name),
      rules: list((document.spec as Json).rules)
        .filter((rule) => list(rule.verifyImages).length > 0)
        .map((rule) => ({
          name: String(rule.name),
          entries: list(rule.verifyImages).map((entry) => ({
            images: list(entry.imageReferences ?? (entry.image === undefined ? [] : [entry.image])).map(
              String,
            ),
            attestors:
              legacyAttestor(entry) ??
              list(entry.attestors).map((set) =>
                list(set.entries).map((leaf) =>
                  leaf.attestor
                    ? 'set'
                    : leaf.keyless
                      ? 'keyless'
                      : leaf.certificates
                        ? 'certificate'
                        : 'key',
                ),
              ),
            attestations: list(entry.attestations).map((attestation) =>
              String(attestation.type ?? attestation.predicateType),
            ),
          })),
        })),
    }));
}

/** The deprecated entry-level `key` (or `subject`/`issuer`) is one set of one attestor. */
function legacyAttestor(entry: Json): string[][] | undefined {
  if (list(entry.attestors).length > 0) return undefined;
  if (entry.key !== undefined) return [['key']];
  if (entry.subject !== undefined || entry.issuer !== undefined) return [['keyless']];
  return undefined;
}

/** The same outline of what imagegate compiled (rules it generated for pod controllers left out). */
function compiledOutline(policy: Policy): Outline {
  const kinds = (entries: readonly Attestor[]) => entries.map((leaf) => leaf.kind);
  return {
    kind: policy.kind,
    name: policy.name,
    rules: policy.rules
      .filter((rule) => !rule.name.startsWith('autogen-'))
      .map((rule) => ({
        name: rule.name,
        entries: rule.verifyImages.map((entry) => ({
          images: entry.imageReferences.map((pattern) => pattern.pattern),
          attestors: entry.attestorSets.map((set) => kinds(set.entries)),
          attestations: entry.attestations.map((attestation) => attestation.type),
        })),
      })),
  };
}

function fixtureFiles(): string[] {
  return readdirSync(ROOT, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((directory) =>
      readdirSync(join(ROOT, directory.name)).map((name) => `${directory.name}/${name}`),
    )
    .sort();
}

describe('Kyverno library verifyImages policies', () => {
  test('every fixture is listed in expected.json exactly once, and every listed file exists', () => {
    const listed = EXPECTED.map((expectation) => expectation.file);

    expect(new Set(listed).size).toBe(listed.length);
    expect([...listed].sort()).toEqual(fixtureFiles());
  });

  test('expected.json is consistent: unknown and invalid fields are among the rejected fields', () => {
    for (const expectation of EXPECTED) {
      if (expectation.outcome !== 'rejected') {
        expect({ file: expectation.file, fields: expectation.fields }).toEqual({ file: expectation.file });
        continue;
      }
      const fields = expectation.fields ?? [];
      expect(fields.length).toBeGreaterThan(0);
      for (const field of [...(expectation.unknown ?? []), ...(expectation.invalid ?? [])]) {
        expect(fields).toContain(field);
      }
    }
  });

  test.each(EXPECTED.filter((expectation) => expectation.outcome === 'loads'))('$file loads', ({ file }) => {
    const { policies, problems } = load(file);

    expect(problems).toEqual([]);
    const written = writtenOutlines(readFileSync(join(ROOT, file), 'utf8'));
    expect(written.length).toBeGreaterThan(0);
    expect(policies.map(compiledOutline)).toEqual(written);
  });

  test.each(EXPECTED.filter((expectation) => expectation.outcome === 'rejected'))(
    '$file is rejected, naming each field',
    ({ file, fields = [], unknown = [], invalid = [] }) => {
      const { policies, problems } = load(file);

      expect(sorted(problems.map((problem) => fieldOf(file, problem)))).toEqual(sorted(fields));
      for (const problem of problems) {
        expect(problem.path).not.toBe('');
        expect(problem.line).toEqual(expect.any(Number));
        expect(problem.message.trim()).not.toBe('');
      }
      const unknownFields = problems.filter((problem) => problem.message === 'unknown field');
      expect(sorted(unknownFields.map((problem) => fieldOf(file, problem)))).toEqual(sorted(unknown));
      const explained = problems.filter((problem) => problem.message !== 'unknown field');
      const unsupported = explained.filter((problem) => /is not supported: \S/.test(problem.message));
      const validation = explained.filter((problem) => !unsupported.includes(problem));
      expect(sorted(validation.map((problem) => fieldOf(file, problem)))).toEqual(sorted(invalid));
      // A document with any problem yields no policy.
      const rejectedDocuments = new Set(problems.map((problem) => problem.source));
      expect(policies.filter((policy) => rejectedDocuments.has(policy.source))).toEqual([]);
    },
  );

  test.each(EXPECTED.filter((expectation) => expectation.outcome === 'invalid-yaml'))(
    '$file is refused as invalid YAML, with a line',
    ({ file }) => {
      const { policies, problems } = load(file);

      expect(policies).toEqual([]);
      expect(problems.length).toBeGreaterThan(0);
      for (const problem of problems) {
        expect(problem.message).toMatch(/^YAML error: \S/);
        expect(problem.line).toEqual(expect.any(Number));
      }
    },
  );
});
