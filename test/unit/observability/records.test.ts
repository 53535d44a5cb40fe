import { decide } from '../../../lib/decision/decide';
import {
  admittedUnverifiedRecords,
  decisionRecord,
  policyLoadRecord,
} from '../../../lib/observability/records';
import { admissionRequest, controllerRequest, KYVERNO_SAMPLE_KEY, podRequest } from '../../support/builders';
import { check, reviewEvent, type CheckOptions } from '../../support/review-events';

const SIGNED = 'ghcr.io/acme/app:1.0';
const OTHER = 'ghcr.io/acme/sidecar:2.0';
const DIGEST = `sha256:${'1'.repeat(64)}`;

describe('decisionRecord', () => {
  test('an admitted, pinned Pod: every request field, the image, its digest and its check', () => {
    const request = podRequest('web', [SIGNED], { uid: 'uid-web' });
    const record = decisionRecord(
      reviewEvent(request, [check({ status: 'pass', image: SIGNED, digest: DIGEST, cacheHit: true })], {
        cluster: 'prod-eu-1',
        durationMs: 12.345,
      }),
    );
    expect(record).toEqual({
      record: 'decision',
      cluster: 'prod-eu-1',
      uid: 'uid-web',
      kind: 'Pod',
      apiVersion: 'v1',
      subResource: null,
      namespace: 'default',
      name: 'web',
      operation: 'CREATE',
      dryRun: false,
      user: 'kubernetes-admin',
      policySetVersion: '0123456789abcdef',
      allowed: true,
      result: 'allowed',
      warnings: 0,
      pinned: 1,
      durationMs: 12.3,
      deadlineHit: false,
      admittedUnverified: 0,
      counts: { pass: 1, fail: 0, error: 0, skip: 0, cacheHits: 1 },
      images: [
        {
          image: SIGNED,
          digest: DIGEST,
          container: 'c0',
          pointer: '/spec/containers/0/image',
          checks: [
            {
              policy: 'check-image',
              rule: 'check-image',
              status: 'pass',
              action: 'Enforce',
              effect: 'none',
              message: `verified image signatures for ${SIGNED}`,
              cacheHit: true,
            },
          ],
        },
      ],
      reason: null,
    });
  });

  test('a denial: the failing check blocks; several checks of one image are grouped under it', () => {
    const request = controllerRequest('Deployment', 'api', [SIGNED, OTHER]);
    const record = decisionRecord(
      reviewEvent(request, [
        check({ status: 'pass', image: SIGNED, digest: DIGEST }),
        check({ status: 'pass', image: OTHER, container: 1, policy: 'team-keys' }),
        check({ status: 'fail', image: OTHER, container: 1, digest: DIGEST }),
      ]),
    );
    expect(record).toMatchObject({
      cluster: null,
      kind: 'Deployment',
      apiVersion: 'apps/v1',
      allowed: false,
      result: 'denied',
      pinned: 0,
      counts: { pass: 2, fail: 1, error: 0, skip: 0 },
    });
    expect(
      record.images.map((image) => [image.image, image.checks.map((c) => `${c.policy}:${c.status}`)]),
    ).toEqual([
      [SIGNED, ['check-image:pass']],
      [OTHER, ['team-keys:pass', 'check-image:fail']],
    ]);
    expect(record.images[1]?.checks[1]).toMatchObject({ effect: 'block', action: 'Enforce' });
  });

  test('Audit failures are warned and counted as admitted unverified', () => {
    const record = decisionRecord(
      reviewEvent(podRequest('audited', [SIGNED]), [
        check({ status: 'fail', image: SIGNED, digest: DIGEST, failureAction: 'Audit' }),
      ]),
    );
    expect(record).toMatchObject({ allowed: true, result: 'warned', warnings: 1, admittedUnverified: 1 });
    expect(record.images[0]?.checks[0]).toMatchObject({ action: 'Audit', effect: 'warn', status: 'fail' });
  });

  test('a registry error under failurePolicy Ignore is admitted, classified, and counted', () => {
    const record = decisionRecord(
      reviewEvent(podRequest('ignored', [SIGNED]), [
        check({ status: 'error', image: SIGNED, failurePolicy: 'Ignore' }),
      ]),
    );
    expect(record).toMatchObject({ allowed: true, result: 'warned', admittedUnverified: 1 });
    expect(record.images[0]).toMatchObject({ digest: null });
    expect(record.images[0]?.checks[0]).toMatchObject({ effect: 'warn', errorClass: 'unreachable' });
  });

  test('a review that hit its deadline says so', () => {
    const cause = {
      kind: 'deadline',
      registry: 'ghcr.io',
      detail: 'registry ghcr.io did not answer in time',
    } as const;
    const record = decisionRecord(
      reviewEvent(podRequest('slow', [SIGNED]), [check({ status: 'error', image: SIGNED, cause })]),
    );
    expect(record).toMatchObject({ allowed: false, deadlineHit: true, admittedUnverified: 0 });
    expect(record.images[0]?.checks[0]?.errorClass).toBe('deadline');
  });

  test('a review that failed before deciding: no images, the reason, no policy-set version', () => {
    const record = decisionRecord(
      reviewEvent(podRequest('x', [SIGNED]), [], { error: 'policy set not loaded: bad.yaml:3 spec: bad' }),
    );
    expect(record).toMatchObject({
      allowed: false,
      result: 'denied',
      images: [],
      policySetVersion: null,
      reason: 'policy set not loaded: bad.yaml:3 spec: bad',
    });
  });

  test('namespaced policies, subresources and dry runs are recorded', () => {
    const request = admissionRequest({
      subResource: 'ephemeralcontainers',
      dryRun: true,
      namespace: 'team-a',
    });
    const record = decisionRecord(
      reviewEvent(request, [
        check({ status: 'pass', image: SIGNED, policyNamespace: 'team-a', policy: 'own' }),
      ]),
    );
    expect(record).toMatchObject({ subResource: 'ephemeralcontainers', dryRun: true, namespace: 'team-a' });
    expect(record.images[0]?.checks[0]).toMatchObject({ policy: 'own', policyNamespace: 'team-a' });
    expect(decisionRecord(reviewEvent(admissionRequest({ namespace: undefined }), []))).toMatchObject({
      namespace: null,
      images: [],
    });
  });
});

describe('admittedUnverifiedRecords', () => {
  test('one record per admitted image with a failing check, with its modes and failures', () => {
    const request = podRequest('mixed', [SIGNED, OTHER]);
    const records = admittedUnverifiedRecords(
      reviewEvent(
        request,
        [
          check({ status: 'pass', image: SIGNED }),
          check({ status: 'fail', image: OTHER, container: 1, digest: DIGEST, failureAction: 'Audit' }),
          check({ status: 'error', image: OTHER, container: 1, failurePolicy: 'Ignore', policy: 'strict' }),
        ],
        { cluster: 'dev-1' },
      ),
    );
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      record: 'admitted_unverified',
      cluster: 'dev-1',
      name: 'mixed',
      image: OTHER,
      digest: DIGEST,
      modes: ['audit', 'enforce'],
    });
    expect(records[0]?.failures.map((failure) => failure.policy)).toEqual(['check-image', 'strict']);
  });

  test('nothing for a denied review, even with Audit failures in it', () => {
    const records = admittedUnverifiedRecords(
      reviewEvent(podRequest('denied', [SIGNED, OTHER]), [
        check({ status: 'fail', image: SIGNED, failureAction: 'Audit' }),
        check({ status: 'fail', image: OTHER, container: 1 }),
      ]),
    );
    expect(records).toEqual([]);
  });

  test('nothing for skips and passes', () => {
    const records = admittedUnverifiedRecords(
      reviewEvent(podRequest('ok', [SIGNED, OTHER]), [
        check({ status: 'pass', image: SIGNED }),
        check({ status: 'skip', image: OTHER, container: 1 }),
      ]),
    );
    expect(records).toEqual([]);
  });
});

describe("the records' effect is decide()'s", () => {
  const overridden = (namespace: string): [CheckOptions, string] => [
    {
      status: 'fail',
      image: SIGNED,
      entry: { image: '*', key: KYVERNO_SAMPLE_KEY },
      spec: {
        validationFailureAction: 'Enforce',
        validationFailureActionOverrides: [{ action: 'Audit', namespaces: ['dev-*'] }],
      },
    },
    namespace,
  ];
  const cases: [string, CheckOptions, string, string][] = [
    ['pass', { status: 'pass', image: SIGNED }, 'default', 'none'],
    ['skip', { status: 'skip', image: SIGNED }, 'default', 'warn'],
    ['Enforce fail', { status: 'fail', image: SIGNED }, 'default', 'block'],
    ['Audit fail', { status: 'fail', image: SIGNED, failureAction: 'Audit' }, 'default', 'warn'],
    ['Enforce error, Fail', { status: 'error', image: SIGNED }, 'default', 'block'],
    ['Enforce error, Ignore', { status: 'error', image: SIGNED, failurePolicy: 'Ignore' }, 'default', 'warn'],
    ['Enforce fail, Ignore', { status: 'fail', image: SIGNED, failurePolicy: 'Ignore' }, 'default', 'block'],
    ['Audit error', { status: 'error', image: SIGNED, failureAction: 'Audit' }, 'default', 'warn'],
    ['original syntax, overridden to Audit in dev-team', ...overridden('dev-team'), 'warn'],
    ['original syntax, not overridden in prod', ...overridden('prod'), 'block'],
  ];

  test.each(cases)('%s', (_name, options, namespace, expected) => {
    const event = reviewEvent(podRequest('p', [SIGNED], { namespace }), [check(options)]);
    const { decision, effects } = decide(event.request, event.outcome?.results ?? []);
    const effect = decisionRecord(event).images[0]?.checks[0]?.effect;
    expect(effects).toEqual([expected]);
    expect(effect).toBe(expected);
    expect(effect === 'block').toBe(!decision.allowed);
    expect(effect === 'warn').toBe(decision.allowed && decision.warnings.length > 0);
  });
});

describe('policyLoadRecord', () => {
  test('keeps every detail of the load and says which record it is', () => {
    expect(
      policyLoadRecord({
        outcome: 'failed',
        location: 's3://acme/imagegate/policies',
        cluster: 'prod-eu-1',
        error: 'policy set not loaded',
        problems: ['a.yaml:3 spec.rules: unknown field'],
        kept: 'abcdef0123456789',
      }),
    ).toEqual({
      record: 'policy_load',
      outcome: 'failed',
      location: 's3://acme/imagegate/policies',
      cluster: 'prod-eu-1',
      error: 'policy set not loaded',
      problems: ['a.yaml:3 spec.rules: unknown field'],
      kept: 'abcdef0123456789',
    });
  });
});
