import { decodeAdmissionReview } from '../../../lib/admission/decode';
import { selectRules } from '../../../lib/policy/match';
import { parsePolicyText } from '../../../lib/policy/compile/documents';
import {
  controllerRequest,
  KYVERNO_SAMPLE_KEY,
  matchAny,
  policyDocument,
  policySet,
  rule,
  verifyImagesEntry,
} from '../../support/builders';

test('generateName pod (ReplicaSet-created) matches names like Kyverno', () => {
  const request = decodeAdmissionReview({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'u',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      namespace: 'default',
      operation: 'CREATE',
      object: {
        metadata: { generateName: 'web-7c9f8d-', namespace: 'default' },
        spec: { containers: [{ name: 'a', image: 'nginx' }] },
      },
    },
  });
  const set = policySet(
    policyDocument({ name: 'p', rules: [rule('r', matchAny({ kinds: ['Pod'], names: ['web-*'] }))] }),
  );
  expect(selectRules(set, request).map((b) => b.ruleName)).toEqual(['r']);
});

test.each([
  ['names', { kinds: ['Pod'], names: ['web*'] }],
  ['selector', { kinds: ['Pod'], selector: { matchLabels: { app: 'web' } } }],
  ['annotations', { kinds: ['Pod'], annotations: { team: 'a' } }],
])('Kyverno CanAutoGen: a Pod rule with %s does not autogen', (_n, resources) => {
  const set = policySet(policyDocument({ name: 'p', rules: [rule('r', matchAny(resources))] }));
  const req = controllerRequest('Deployment', 'web', ['nginx'], {
    labels: { app: 'web' },
    annotations: { team: 'a' },
  });
  expect(selectRules(set, req).map((b) => b.ruleName)).toEqual([]);
});

test('Kyverno: */* matches main resources too', () => {
  const set = policySet(policyDocument({ name: 'p', rules: [rule('r', matchAny({ kinds: ['*/*'] }))] }));
  const req = controllerRequest('Deployment', 'web', ['nginx']);
  expect(selectRules(set, req).map((b) => b.ruleName)).toEqual(['r']);
});

test.each([
  ['an invalid repository', 'ghcr.io/Org/Signatures', /invalid repository component "Org"/],
  ['a tag', 'ghcr.io/org/signatures:v1', /without a tag or digest/],
  ['a digest', `ghcr.io/org/signatures@sha256:${'a'.repeat(64)}`, /without a tag or digest/],
])('a signature repository with %s is a policy problem at its field', (_name, repository, reason) => {
  const doc = policyDocument({
    name: 'p',
    rules: [
      rule('r', matchAny({ kinds: ['Pod'] }), [verifyImagesEntry(['*'], KYVERNO_SAMPLE_KEY, { repository })]),
    ],
  });
  const { problems } = parsePolicyText(JSON.stringify(doc), 'p.json');
  expect(problems).toEqual([
    expect.objectContaining({
      path: 'spec.rules[0].verifyImages[0].repository',
      message: expect.stringMatching(reason),
    }),
  ]);
});
