/**
 * Fuzzing the front door: API Gateway event -> body limits -> JSON -> AdmissionReview decoder -> the
 * whole review (policy matching, image sites, references, decision, patch) against an in-memory
 * image source. Whatever arrives, the answer is HTTP 400 with a reason or HTTP 200 with a
 * well-formed AdmissionReview for the request's uid — never an exception, never an internal fault.
 */
import fc from 'fast-check';
import { handleAdmissionEvent, MAX_JSON_DEPTH } from '../../../lib/lambda/http';
import { RegistryContentError, RegistryError } from '../../../lib/model/registry-errors';
import type { ImageReference } from '../../../lib/model/image';
import type { PolicySet } from '../../../lib/policy/policy-set';
import type { Runtime } from '../../../lib/runtime';
import { KYVERNO_SAMPLE_KEY, policySet } from '../../support/builders';
import { FakeImageSource } from '../../support/fake-image-source';
import { fuzzParameters, FUZZ_RUNS, mutated, PER_INPUT_MS } from './fuzz';
import { publicGoodTrustRoots } from '../../../lib/verify/trust-roots';

fc.configureGlobal({ baseSize: 'small' });

const DIGEST = `sha256:${'c'.repeat(64)}`;
/** Every image is checked (Enforce), so every review runs the whole pipeline. */
const policies: PolicySet = policySet({
  apiVersion: 'kyverno.io/v1',
  kind: 'ClusterPolicy',
  metadata: { name: 'check-image' },
  spec: {
    webhookConfiguration: { failurePolicy: 'Ignore' },
    rules: [
      {
        name: 'check-image',
        match: { any: [{ resources: { kinds: ['Pod'] } }] },
        verifyImages: [
          {
            imageReferences: ['*'],
            failureAction: 'Enforce',
            attestors: [{ entries: [{ keys: { publicKeys: KYVERNO_SAMPLE_KEY } }] }],
          },
        ],
      },
    ],
  },
});

/** Registry answers chosen by the repository name: a digest, "could not check" or "not trusted". */
const images = new FakeImageSource()
  .resolveWith((ref: ImageReference) => {
    if (ref.repository.includes('down'))
      return new RegistryError('REGISTRY_UNREACHABLE', ref.registry, 'unreachable');
    if (ref.repository.includes('bad'))
      return new RegistryContentError('DIGEST_MISMATCH', ref.registry, 'mismatch');
    return DIGEST;
  })
  .signaturesWith((location) =>
    location.repository.includes('sig')
      ? [
          {
            mediaType: 'x',
            digest: DIGEST,
            annotations: { 'dev.cosignproject.cosign/signature': 'AAAA' },
            payload: Buffer.from('{}'),
          },
        ]
      : [],
  );

const faults: string[] = [];
const runtime = {
  policies: { current: () => Promise.resolve(policies) },
  images,
  log: { info: () => undefined, warn: () => undefined, error: (message: string) => faults.push(message) },
  cache: undefined,
  trust: () => Promise.resolve(publicGoodTrustRoots()),
  tokens: undefined,
  close: () => Promise.resolve(),
} as unknown as Runtime;

const text = fc.string({ maxLength: 30 });
/** Mostly `valid`, sometimes any JSON: reviews get far enough to be reviewed, and every field is also wrong sometimes. */
const mostly = <T>(valid: fc.Arbitrary<T>, maxDepth = 1) =>
  fc.oneof({ weight: 19, arbitrary: valid }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth }) });

const imageRef = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      'nginx',
      'ghcr.io/team/app:1.0',
      'registry.example:5000/team/down:1',
      'r.example/team/bad',
      'r.example/sig/app@' + DIGEST,
      '',
    ),
  },
  {
    weight: 2,
    arbitrary: mutated(fc.constantFrom('ghcr.io/team/app:1.0', `docker.io/library/nginx@${DIGEST}`)),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);
const container = fc.record(
  { name: text, image: imageRef, env: fc.jsonValue({ maxDepth: 2 }) },
  { requiredKeys: ['image'] },
);
const containers = (maxLength: number) => mostly(fc.array(container, { maxLength }), 2);
const podSpec = fc.record(
  { containers: containers(4), initContainers: containers(2), ephemeralContainers: containers(2) },
  { requiredKeys: [] },
);
const metadata = fc.record(
  {
    name: mostly(text),
    namespace: mostly(text),
    annotations: mostly(fc.dictionary(text, text), 2),
    labels: fc.dictionary(text, text),
  },
  { requiredKeys: [] },
);
const kinds = fc.constantFrom(
  'Pod',
  'Deployment',
  'CronJob',
  'Job',
  'StatefulSet',
  'DaemonSet',
  'ReplicaSet',
  'Secret',
);
const object = fc.oneof(
  {
    arbitrary: fc.record({ apiVersion: text, kind: kinds, metadata, spec: podSpec }, { requiredKeys: [] }),
    weight: 4,
  },
  fc.record(
    {
      kind: kinds,
      metadata,
      spec: fc.record({ template: fc.record({ metadata, spec: podSpec }, { requiredKeys: [] }) }),
    },
    { requiredKeys: [] },
  ),
  fc.record({
    kind: fc.constant('CronJob'),
    spec: fc.record({
      jobTemplate: fc.record({ spec: fc.record({ template: fc.record({ spec: podSpec }) }) }),
    }),
  }),
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 1 },
);
const request = fc.record(
  {
    uid: mostly(fc.oneof({ weight: 4, arbitrary: fc.uuid() }, { weight: 1, arbitrary: text })),
    kind: mostly(
      fc.record({
        group: fc.constantFrom('', 'apps', 'batch'),
        version: fc.constantFrom('v1', 'v1beta1'),
        kind: kinds,
      }),
      2,
    ),
    operation: mostly(fc.constantFrom('CREATE', 'CREATE', 'UPDATE', 'DELETE', 'CONNECT')),
    subResource: mostly(fc.constantFrom('ephemeralcontainers', 'status', '')),
    name: mostly(text),
    namespace: mostly(text),
    object,
    oldObject: object,
    userInfo: mostly(
      fc.record({ username: mostly(text), groups: mostly(fc.array(text), 2) }, { requiredKeys: [] }),
      2,
    ),
    dryRun: mostly(fc.boolean()),
  },
  { requiredKeys: ['uid', 'kind', 'operation'] },
);
const review = fc.record(
  {
    apiVersion: fc.oneof(
      { weight: 5, arbitrary: fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1') },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
    ),
    kind: fc.oneof(
      { weight: 5, arbitrary: fc.constant('AdmissionReview') },
      { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
    ),
    request,
  },
  { requiredKeys: ['apiVersion', 'kind', 'request'] },
);

/** Reviews whose envelope is right: only the object (kinds, containers, images) varies. */
const wellFormed = fc
  .record({
    uid: fc.uuid(),
    apiVersion: fc.constantFrom('admission.k8s.io/v1', 'admission.k8s.io/v1beta1'),
    kind: kinds,
    operation: fc.constantFrom('CREATE', 'UPDATE'),
    spec: podSpec,
    template: fc.boolean(),
  })
  .map(({ uid, apiVersion, kind, operation, spec, template }) => {
    const object = {
      kind,
      metadata: { name: 'fuzz', namespace: 'default' },
      spec: template ? { template: { spec } } : spec,
    };
    return {
      apiVersion,
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: { group: '', version: 'v1', kind },
        operation,
        name: 'fuzz',
        namespace: 'default',
        object,
        ...(operation === 'UPDATE' ? { oldObject: object } : {}),
        userInfo: { username: 'fuzz', groups: ['system:authenticated'] },
      },
    };
  });
const reviewText = fc.oneof(review, wellFormed).map((value) => JSON.stringify(value));
const nested = fc
  .tuple(fc.integer({ min: MAX_JSON_DEPTH - 5, max: 5_000 }), fc.constantFrom('[', '{"a":'), fc.boolean())
  .map(([depth, open, closed]) => {
    const inner = open.repeat(depth) + (closed ? (open === '[' ? ']' : '1}').repeat(depth) : '');
    return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","object":${inner}}}`;
  });

/** An API Gateway event and what its body holds, when that is a JSON object. */
const events = fc
  .oneof(
    { weight: 12, arbitrary: reviewText },
    { weight: 2, arbitrary: mutated(reviewText) },
    { weight: 1, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value)) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 100 }) },
    { weight: 1, arbitrary: nested },
  )
  .chain((body) =>
    fc.oneof(
      { weight: 8, arbitrary: fc.constant({ body, isBase64Encoded: false }) },
      {
        weight: 2,
        arbitrary: fc.constant({ body: Buffer.from(body).toString('base64'), isBase64Encoded: true }),
      },
      // Text that was never base64: decodes to bytes that are rarely JSON.
      { weight: 1, arbitrary: fc.constant({ body: body || undefined, isBase64Encoded: true }) },
    ),
  );

function uidOf(body: string | undefined, base64: boolean): unknown {
  try {
    const textBody = base64 ? Buffer.from(body ?? '', 'base64').toString('utf8') : (body ?? '');
    return (JSON.parse(textBody) as { request?: { uid?: unknown } }).request?.uid;
  } catch {
    return undefined;
  }
}

test(`handleAdmissionEvent: ${FUZZ_RUNS} events, every answer a 400 with a reason or an AdmissionReview`, async () => {
  const statuses = { 200: 0, 400: 0, allowed: 0, denied: 0 };
  await fc.assert(
    fc.asyncProperty(events, async (event) => {
      const started = performance.now();
      const result = await handleAdmissionEvent(event, runtime);
      const elapsed = performance.now() - started;
      expect(elapsed).toBeLessThan(PER_INPUT_MS);
      expect(faults).toEqual([]);
      const answer = JSON.parse(result.body ?? '') as Record<string, unknown>;
      if (result.statusCode === 400) {
        statuses[400]++;
        expect(Object.keys(answer)).toEqual(['error']);
        expect(typeof answer.error).toBe('string');
        return;
      }
      expect(result.statusCode).toBe(200);
      statuses[200]++;
      expect(answer.kind).toBe('AdmissionReview');
      const response = answer.response as {
        uid: unknown;
        allowed: unknown;
        status?: { message?: string };
        patch?: string;
      };
      expect(response.uid).toBe(uidOf(event.body, event.isBase64Encoded));
      expect(typeof response.allowed).toBe('boolean');
      // An internal fault would surface as a fail-closed denial: none may happen.
      expect(response.status?.message ?? '').not.toContain('imagegate could not review this request');
      if (response.patch !== undefined) {
        expect(Array.isArray(JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')))).toBe(true);
      }
      statuses[response.allowed ? 'allowed' : 'denied']++;
    }),
    fuzzParameters(0x5eed_0004),
  );
  // Every outcome is reached, or the generators test less than they seem to.
  expect(statuses[400]).toBeGreaterThan(FUZZ_RUNS / 20);
  expect(statuses.allowed).toBeGreaterThan(FUZZ_RUNS / 50);
  expect(statuses.denied).toBeGreaterThan(FUZZ_RUNS / 50);
});
