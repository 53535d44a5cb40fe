import type { AdmissionDecision, AdmissionRequest } from '../../../lib/model/admission';
import { decide, type ImageCheckResult } from '../../../lib/decision/decide';
import { parseImageReference } from '../../../lib/model/image';
import { compileWildcard } from '../../../lib/model/wildcard';
import type { RuleBinding } from '../../../lib/policy/match';
import type {
  FailureAction,
  FailureActionOverride,
  FailurePolicy,
  ImageVerification,
  Policy,
} from '../../../lib/policy/types';
import type { ImageSite } from '../../../lib/workload/images';
import {
  admissionRequest,
  DIGEST_A,
  DIGEST_B,
  matchAny,
  policyDocument,
  policySet,
  rule,
} from '../../support/builders';

const UNSIGNED = 'ghcr.io/kyverno/test-verify-image:unsigned';
const SIGNED = 'ghcr.io/kyverno/test-verify-image:signed';

interface ResultOptions {
  policy?: string;
  rule?: string;
  failurePolicy?: FailurePolicy;
  action?: FailureAction;
  overrides?: FailureActionOverride[];
  mutateDigest?: boolean;
  image?: string;
  pointer?: string;
}

/** A real compiled policy (so every field has its loader default), adjusted per test below. */
const compiled = policySet(
  policyDocument({ name: 'check-image', rules: [rule('check-image', matchAny({ kinds: ['Pod'] }))] }),
).policies[0]!;

function binding(options: ResultOptions): RuleBinding {
  const policy: Policy = {
    ...compiled,
    name: options.policy ?? 'check-image',
    failurePolicy: options.failurePolicy ?? 'Fail',
  };
  const ruleName = options.rule ?? 'check-image';
  return { policy, rule: { ...compiled.rules[0]!, name: ruleName }, ruleName };
}

function entry(options: ResultOptions): ImageVerification {
  return {
    ...compiled.rules[0]!.verifyImages[0]!,
    failureAction: options.action ?? 'Enforce',
    failureActionOverrides: options.overrides ?? [],
    mutateDigest: options.mutateDigest ?? true,
  };
}

function site(options: ResultOptions): ImageSite {
  return {
    image: options.image ?? SIGNED,
    pointer: options.pointer ?? '/spec/containers/0/image',
    containerName: 'c0',
    field: 'containers',
  };
}

/** decide()'s answer (its effects are checked in test/unit/observability/records.test.ts). */
function decided(request: AdmissionRequest, results: readonly ImageCheckResult[]): AdmissionDecision {
  return decide(request, results).decision;
}

type NotPassed = Exclude<ImageCheckResult, { status: 'pass' }>;

function failed(message: string, options: ResultOptions = {}): NotPassed {
  return {
    binding: binding(options),
    entry: entry(options),
    site: site(options),
    image: options.image ?? UNSIGNED,
    message,
    status: 'fail',
    // decide() reads only the status and the message; the cause is what made them.
    cause: { kind: 'verification', failure: 'NO_SIGNATURES', detail: message },
  };
}

function errored(message: string, options: ResultOptions = {}): ImageCheckResult {
  return { ...failed(message, options), status: 'error' };
}

function skipped(message: string, options: ResultOptions = {}): ImageCheckResult {
  return { ...failed(message, options), status: 'skip' };
}

function passed(digest: string, options: ResultOptions = {}): ImageCheckResult {
  const image = options.image ?? SIGNED;
  return {
    binding: binding(options),
    entry: entry(options),
    site: site({ ...options, image }),
    image,
    message: `verified image signatures for ${image}`,
    status: 'pass',
    digest,
    ref: parseImageReference(image),
  };
}

const unsignedPod = admissionRequest({ name: 'unsigned', namespace: 'default' });

describe('decide: denials', () => {
  test("an Enforce failure is denied with Kyverno's exact message", () => {
    const decision = decided(unsignedPod, [
      failed(`image verification failed for ${UNSIGNED}: signature not found`),
    ]);

    expect(decision).toEqual({
      allowed: false,
      message:
        // go-yaml (Kyverno's yaml.Marshal) folds at the first space past column 80.
        "\n\nresource Pod/default/unsigned was blocked due to the following policies \n\ncheck-image:\n  check-image: 'image verification failed for ghcr.io/kyverno/test-verify-image:unsigned:\n    signature not found'\n",
      warnings: [],
      patch: [],
    });
  });

  test("long messages fold exactly as in Kyverno's documented notary denial", () => {
    const message =
      'failed to verify image ghcr.io/kyverno/test-verify-image:unsigned: .attestors[0].entries[0]: ' +
      'failed to verify ghcr.io/kyverno/test-verify-image@sha256:74a9...: no signature is associated ' +
      'with "...", make sure the image was signed successfully';
    const decision = decided(unsignedPod, [
      failed(message, { policy: 'check-image-notary', rule: 'verify-signature-notary' }),
    ]);

    expect(decision.message).toBe(
      '\n\nresource Pod/default/unsigned was blocked due to the following policies \n\n' +
        'check-image-notary:\n' +
        "  verify-signature-notary: 'failed to verify image ghcr.io/kyverno/test-verify-image:unsigned:\n" +
        '    .attestors[0].entries[0]: failed to verify ghcr.io/kyverno/test-verify-image@sha256:74a9...:\n' +
        '    no signature is associated with "...", make sure the image was signed successfully\'\n',
    );
  });

  test('a quote in a message is doubled inside the single-quoted scalar', () => {
    const decision = decided(unsignedPod, [
      failed("image verification failed for x: annotation 'env' missing"),
    ]);
    expect(decision.message).toContain(
      "  check-image: 'image verification failed for x: annotation ''env'' missing'\n",
    );
  });

  test('policies and rules are listed in sorted order, whatever the result order', () => {
    const decision = decided(unsignedPod, [
      failed('zeta b failed', { policy: 'zeta', rule: 'b-rule' }),
      failed('zeta a failed', { policy: 'zeta', rule: 'a-rule' }),
      failed('alpha failed', { policy: 'alpha', rule: 'only' }),
    ]);

    expect(decision.message).toBe(
      '\n\nresource Pod/default/unsigned was blocked due to the following policies \n\n' +
        'alpha:\n  only: alpha failed\n' +
        'zeta:\n  a-rule: zeta a failed\n  b-rule: zeta b failed\n',
    );
  });

  test('several failing images of one rule are joined with "; ", each message once', () => {
    const decision = decided(unsignedPod, [
      failed('image verification failed for a: signature not found', { pointer: '/spec/containers/0/image' }),
      failed('image verification failed for b: invalid signature', { pointer: '/spec/containers/1/image' }),
      failed('image verification failed for a: signature not found', { pointer: '/spec/containers/2/image' }),
    ]);

    expect(decision.message).toContain(
      "  check-image: 'image verification failed for a: signature not found; image verification\n    failed for b: invalid signature'\n",
    );
  });

  test('names the resource Kind/namespace/name; a cluster-scoped one has an empty namespace', () => {
    const request: AdmissionRequest = {
      ...unsignedPod,
      kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
      name: 'web',
    };
    expect(decided(request, [failed('x')]).message).toMatch(
      /^\n\nresource Deployment\/default\/web was blocked/,
    );

    const clusterScoped = { ...request, namespace: undefined };
    expect(decided(clusterScoped, [failed('x')]).message).toMatch(
      /^\n\nresource Deployment\/\/web was blocked/,
    );
  });

  test('an error under failurePolicy Fail is denied', () => {
    const decision = decided(unsignedPod, [
      errored(`could not verify image ${UNSIGNED}: registry ghcr.io timed out`),
    ]);

    expect(decision.allowed).toBe(false);
    expect(decision.message).toContain(
      `check-image: 'could not verify image ${UNSIGNED}:\n    registry ghcr.io timed out'`,
    );
  });

  test('a failure under failurePolicy Ignore is still denied: Ignore only covers "could not check"', () => {
    const decision = decided(unsignedPod, [
      failed('image verification failed for x: invalid signature', { failurePolicy: 'Ignore' }),
    ]);

    expect(decision.allowed).toBe(false);
  });

  test('a denial carries no patch, even for images that passed', () => {
    const decision = decided(unsignedPod, [
      passed(DIGEST_A, { pointer: '/spec/containers/0/image' }),
      failed('image verification failed', { pointer: '/spec/containers/1/image' }),
    ]);

    expect(decision.allowed).toBe(false);
    expect(decision.patch).toEqual([]);
  });
});

describe('decide: allowed with warnings', () => {
  test('an Audit failure is allowed with a "policy <p>.<r>: <message>" warning', () => {
    const decision = decided(unsignedPod, [
      failed(`image verification failed for ${UNSIGNED}: signature not found`, {
        action: 'Audit',
        mutateDigest: false,
      }),
    ]);

    expect(decision).toEqual({
      allowed: true,
      message: undefined,
      warnings: [
        `policy check-image.check-image: image verification failed for ${UNSIGNED}: signature not found`,
      ],
      patch: [],
    });
  });

  test('an error under failurePolicy Ignore is allowed with a warning that says why', () => {
    const decision = decided(unsignedPod, [
      errored(`could not verify image ${UNSIGNED}: registry ghcr.io is unreachable`, {
        failurePolicy: 'Ignore',
      }),
    ]);

    expect(decision.allowed).toBe(true);
    expect(decision.warnings).toEqual([
      `policy check-image.check-image: could not verify image ${UNSIGNED}: registry ghcr.io is unreachable (allowed: failurePolicy is Ignore)`,
    ]);
  });

  test('a skipped image is a warning', () => {
    const decision = decided(unsignedPod, [
      skipped(
        'skipping image reference image docker.io/nginx:latest, policy check-image ruleName check-image',
      ),
    ]);

    expect(decision).toEqual({
      allowed: true,
      message: undefined,
      warnings: [
        'policy check-image.check-image: skipping image reference image docker.io/nginx:latest, policy check-image ruleName check-image',
      ],
      patch: [],
    });
  });

  test('the same warning is given once', () => {
    const warning = failed('same', { action: 'Audit', mutateDigest: false });

    expect(decided(unsignedPod, [warning, warning]).warnings).toEqual([
      'policy check-image.check-image: same',
    ]);
  });

  test('warnings are kept next to a denial', () => {
    const decision = decided(unsignedPod, [failed('blocked'), skipped('skipped')]);

    expect(decision.allowed).toBe(false);
    expect(decision.warnings).toEqual(['policy check-image.check-image: skipped']);
  });

  test('no results: allowed, nothing to say', () => {
    expect(decided(unsignedPod, [])).toEqual({ allowed: true, message: undefined, warnings: [], patch: [] });
  });
});

describe('decide: validationFailureActionOverrides', () => {
  const overrides: FailureActionOverride[] = [
    { action: 'Audit', namespaces: [compileWildcard('dev-*')] },
    { action: 'Enforce', namespaces: [compileWildcard('prod')] },
  ];

  test('an override for the namespace replaces the entry action', () => {
    const inDev = { ...unsignedPod, namespace: 'dev-eu' };
    const inProd = { ...unsignedPod, namespace: 'prod' };
    const elsewhere = { ...unsignedPod, namespace: 'default' };

    const enforcedByDefault = failed('bad', { action: 'Enforce', overrides });
    expect(decided(inDev, [enforcedByDefault]).allowed).toBe(true);
    expect(decided(inDev, [enforcedByDefault]).warnings).toEqual(['policy check-image.check-image: bad']);
    expect(decided(elsewhere, [enforcedByDefault]).allowed).toBe(false);

    const auditedByDefault = failed('bad', { action: 'Audit', mutateDigest: false, overrides });
    expect(decided(inProd, [auditedByDefault]).allowed).toBe(false);
    expect(decided(elsewhere, [auditedByDefault]).allowed).toBe(true);
  });
});

describe('decide: digest patch', () => {
  test('one replace op per verified site, keeping the tag', () => {
    const decision = decided(unsignedPod, [
      passed(DIGEST_A, { image: SIGNED, pointer: '/spec/containers/0/image' }),
      passed(DIGEST_B, { image: 'nginx', pointer: '/spec/initContainers/0/image' }),
    ]);

    expect(decision).toEqual({
      allowed: true,
      message: undefined,
      warnings: [],
      patch: [
        { op: 'replace', path: '/spec/containers/0/image', value: `${SIGNED}@${DIGEST_A}` },
        { op: 'replace', path: '/spec/initContainers/0/image', value: `docker.io/nginx:latest@${DIGEST_B}` },
      ],
    });
  });

  test('a site verified by two rules is patched once', () => {
    const decision = decided(unsignedPod, [
      passed(DIGEST_A, { rule: 'first' }),
      passed(DIGEST_A, { rule: 'second' }),
    ]);

    expect(decision.patch).toEqual([
      { op: 'replace', path: '/spec/containers/0/image', value: `${SIGNED}@${DIGEST_A}` },
    ]);
  });

  test('controller pointers are used as given', () => {
    const decision = decided(unsignedPod, [
      passed(DIGEST_A, { pointer: '/spec/jobTemplate/spec/template/spec/containers/0/image' }),
    ]);

    expect(decision.patch).toEqual([
      {
        op: 'replace',
        path: '/spec/jobTemplate/spec/template/spec/containers/0/image',
        value: `${SIGNED}@${DIGEST_A}`,
      },
    ]);
  });

  test('no op for an image that already names a digest', () => {
    const pinned = `ghcr.io/kyverno/test-verify-image:signed@${DIGEST_A}`;

    expect(decided(unsignedPod, [passed(DIGEST_A, { image: pinned })]).patch).toEqual([]);
  });

  test('no op when mutateDigest is false', () => {
    expect(decided(unsignedPod, [passed(DIGEST_A, { mutateDigest: false })]).patch).toEqual([]);
  });
});
