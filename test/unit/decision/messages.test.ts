/**
 * Every text of an admission answer is made from a typed cause in lib/decision/messages.ts. Each
 * cause kind is checked against the text a case of test/cases expects (read from its
 * expected.json, `{{registry}}` left as written), or against the real error where no case has it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { registryTimeout } from '../../../lib/deadline';
import {
  blockedMessage,
  checkMessage,
  ignoredErrorWarning,
  passMessage,
  ruleWarning,
} from '../../../lib/decision/messages';
import type { CheckCause } from '../../../lib/model/outcome';
import { statusOf } from '../../../lib/model/outcome';
import { ImageReferenceError } from '../../../lib/model/registry-errors';
import { parseImageReference } from '../../../lib/model/image';
import { admissionRequest } from '../../support/builders';

interface Expected {
  readonly warnings?: readonly string[];
  readonly message?: readonly string[];
}

/** Every text a case expects: its warnings and the lines of its denial. */
function expectedTexts(name: string): string[] {
  const file = path.join(__dirname, '../../cases', name, 'expected.json');
  const expected = JSON.parse(readFileSync(file, 'utf8')) as Expected;
  return [...(expected.warnings ?? []), ...(expected.message ?? [])];
}

const REGISTRY = '{{registry}}';
const subject = (image: string, policyName = 'check-image', ruleName = 'check-image') => ({
  image,
  policyName,
  ruleName,
});

describe('the text of each cause, as the cases expect it', () => {
  test('skipped: Kyverno’s skip warning, with the rule name', () => {
    const image = `${REGISTRY}/team/app:unsigned`;
    const text = checkMessage(subject(image, 'check-image', 'autogen-check-image'), { kind: 'skipped' });
    expect(expectedTexts('skip-warning-autogen-rule-name')).toContain(
      ruleWarning('check-image', 'autogen-check-image', text),
    );
    expect(expectedTexts('skip-image-references')).toContain(
      ruleWarning('check-image', 'check-image', checkMessage(subject(image), { kind: 'skipped' })),
    );
  });

  test('verification: "image verification failed for …", as a warning under Audit', () => {
    const image = `${REGISTRY}/team/app:unsigned`;
    const cause: CheckCause = {
      kind: 'verification',
      failure: 'NO_SIGNATURES',
      detail: 'signature not found',
    };
    expect(expectedTexts('audit-never-denies')).toContain(
      ruleWarning('check-image', 'check-image', checkMessage(subject(image), cause)),
    );
  });

  test('digest-missing: "missing digest for …", in a denial and as a warning', () => {
    const image = `${REGISTRY}/team/app:signed-a`;
    const text = checkMessage(subject(image), { kind: 'digest-missing' });
    expect(expectedTexts('mutate-digest-false-verify-digest')).toContain(`  check-image: ${text}`);
    expect(expectedTexts('audit-never-denies')).toContain(ruleWarning('check-image', 'check-image', text));
  });

  test('registry content (not trusted): "image verification failed for …" with the client’s words', () => {
    const image = `${REGISTRY}/team/app:no-such-tag`;
    const detail = `image not found: registry ${REGISTRY} has no manifest team/app:no-such-tag`;
    const cause: CheckCause = { kind: 'registry', code: 'NOT_FOUND', registry: REGISTRY, detail };
    expect(statusOf(cause)).toBe('fail');
    const [denial] = expectedTexts('failure-policy-ignore-only-for-registry-errors').filter((line) =>
      line.includes('no-such-tag'),
    );
    expect(denial).toContain(checkMessage(subject(image), cause));
  });

  test('registry error (could not check): "could not verify image …", allowed by failurePolicy Ignore', () => {
    const registry = '127.0.0.1:1';
    const detail = `registry ${registry} unreachable (ECONNREFUSED)`;
    const cause: CheckCause = { kind: 'registry', code: 'REGISTRY_UNREACHABLE', registry, detail };
    expect(statusOf(cause)).toBe('error');
    expect(expectedTexts('registry-unreachable-ignore')).toContain(
      ignoredErrorWarning(
        'check-image',
        'check-image',
        checkMessage(subject(`${registry}/team/app:v1`), cause),
      ),
    );
  });

  test('attestations: "image attestations verification failed for …"', () => {
    const image = `${REGISTRY}/team/app:attested-other-builder-a`;
    const detail =
      'attestation "provenance" of type https://slsa.dev/provenance/v0.2: conditions failed: the image was not built by the SLSA GitHub generator';
    const cause: CheckCause = { kind: 'verification', failure: 'CONDITIONS', detail, attestations: true };
    const text = checkMessage(subject(image, 'check-provenance', 'check-provenance'), cause);
    expect(expectedTexts('attestations-condition-fails')).toContain(`  check-provenance: '${text}'`);
  });

  test('deadline: "could not verify image …" with the registry that did not answer', () => {
    const timeout = registryTimeout('ghcr.io');
    const cause: CheckCause = { kind: 'deadline', registry: timeout.registry, detail: timeout.message };
    expect(statusOf(cause)).toBe('error');
    expect(checkMessage(subject('ghcr.io/acme/app:1'), cause)).toBe(
      `could not verify image ghcr.io/acme/app:1: ${timeout.message}`,
    );
  });

  test('reference: "image verification failed for …" with the parser’s words (fail closed)', () => {
    let error: ImageReferenceError | undefined;
    try {
      parseImageReference('ghcr.io/acme/app:bad tag');
    } catch (thrown) {
      error = thrown as ImageReferenceError;
    }
    expect(error).toBeInstanceOf(ImageReferenceError);
    const cause: CheckCause = { kind: 'reference', detail: error?.message ?? '' };
    expect(statusOf(cause)).toBe('fail');
    expect(checkMessage(subject('ghcr.io/acme/app:bad tag'), cause)).toBe(
      `image verification failed for ghcr.io/acme/app:bad tag: ${error?.message ?? ''}`,
    );
  });

  test('internal: "could not verify image …" (decided by the failure policy)', () => {
    const cause: CheckCause = { kind: 'internal', detail: 'fetch failed' };
    expect(statusOf(cause)).toBe('error');
    expect(checkMessage(subject('ghcr.io/acme/app:1'), cause)).toBe(
      'could not verify image ghcr.io/acme/app:1: fetch failed',
    );
  });

  test('passes: Kyverno’s words for signatures and for attestations (golden)', () => {
    expect(passMessage('ghcr.io/acme/app:1', false)).toBe('verified image signatures for ghcr.io/acme/app:1');
    expect(passMessage('ghcr.io/acme/app:1', true)).toBe(
      'verified image attestations for ghcr.io/acme/app:1',
    );
  });
});

describe('blockedMessage', () => {
  test('Kyverno’s denial layout, policies and rules sorted, as a case expects it', () => {
    const request = admissionRequest({ name: 'web', namespace: 'default' });
    const text = checkMessage(subject(`${REGISTRY}/team/app:signed-a`), { kind: 'digest-missing' });
    const message = blockedMessage(request, new Map([['check-image', new Map([['check-image', [text]]])]]));
    expect(message.split('\n')).toEqual(expectedTexts('mutate-digest-false-verify-digest'));
  });
});
