import {
  POLICY_SET_ANNOTATION,
  policySetAnnotationPatch,
  policySetAnnotationRemoval,
  policySetAnnotationValue,
  recordedVerification,
  verificationFingerprint,
  type VerifiedImage,
} from '../../../lib/decision/patch';

const VERSION = '0123456789abcdef';
const app: VerifiedImage = {
  entry: '["ClusterPolicy","","check-image","spec.rules[0].verifyImages[0]"]',
  pointer: '/spec/containers/0/image',
  image: 'ghcr.io/acme/app:v1@sha256:' + 'a'.repeat(64),
};
const sidecar: VerifiedImage = {
  ...app,
  pointer: '/spec/containers/1/image',
  image: 'ghcr.io/acme/proxy:v2',
};
const ANNOTATION_PATH = `/metadata/annotations/imagegate.io~1policy-set`;

function annotated(value: string): Record<string, unknown> {
  return { metadata: { annotations: { [POLICY_SET_ANNOTATION]: value } } };
}

describe('verificationFingerprint', () => {
  test('does not depend on order or duplicates', () => {
    expect(verificationFingerprint([app, sidecar])).toBe(verificationFingerprint([sidecar, app, sidecar]));
  });

  test.each([
    ['another entry', { ...app, entry: '["ClusterPolicy","","strict","spec.rules[0].verifyImages[0]"]' }],
    ['another pointer', { ...app, pointer: '/spec/initContainers/0/image' }],
    ['another image', { ...app, image: 'ghcr.io/acme/app:v2' }],
  ])('changes with %s', (_name, changed) => {
    expect(verificationFingerprint([changed])).not.toBe(verificationFingerprint([app]));
  });

  test('an added entry for the same image changes it', () => {
    const stricter = { ...app, entry: '["ClusterPolicy","","strict","spec.rules[0].verifyImages[0]"]' };
    expect(verificationFingerprint([app, stricter])).not.toBe(verificationFingerprint([app]));
  });

  test('fields cannot be shifted into one another', () => {
    const a = { entry: 'e', pointer: '/p', image: 'x' };
    const b = { entry: 'e", "/p', pointer: '', image: 'x' };
    expect(verificationFingerprint([a])).not.toBe(verificationFingerprint([b]));
  });
});

describe('recordedVerification', () => {
  test('reads back what policySetAnnotationValue writes', () => {
    const value = policySetAnnotationValue(VERSION, [app, sidecar]);

    expect(recordedVerification(annotated(value))).toEqual({
      policySet: VERSION,
      fingerprint: verificationFingerprint([app, sidecar]),
    });
  });

  test.each([
    ['a bare version (as written before fingerprints)', VERSION],
    ['a short fingerprint', `${VERSION}.abc`],
    ['an upper-case fingerprint', `${VERSION}.${'A'.repeat(32)}`],
    ['no version', `.${'a'.repeat(32)}`],
    ['an empty value', ''],
  ])('records nothing for %s', (_name, value) => {
    expect(recordedVerification(annotated(value))).toBeUndefined();
  });

  test.each([
    ['no object', undefined],
    ['no metadata', {}],
    ['no annotations', { metadata: {} }],
    ['other annotations only', { metadata: { annotations: { team: 'shop' } } }],
  ])('records nothing for %s', (_name, object) => {
    expect(recordedVerification(object)).toBeUndefined();
  });
});

describe('policySetAnnotationPatch', () => {
  const value = policySetAnnotationValue(VERSION, [app]);

  test('adds the annotations map first when the object has none', () => {
    expect(policySetAnnotationPatch({ metadata: { name: 'web' } }, value)).toEqual([
      { op: 'add', path: '/metadata/annotations', value: {} },
      { op: 'add', path: ANNOTATION_PATH, value },
    ]);
  });

  test('overwrites any other value, a hand-written one included', () => {
    expect(policySetAnnotationPatch(annotated(VERSION), value)).toEqual([
      { op: 'add', path: ANNOTATION_PATH, value },
    ]);
  });

  test('leaves the right value alone', () => {
    expect(policySetAnnotationPatch(annotated(value), value)).toEqual([]);
  });
});

describe('policySetAnnotationRemoval', () => {
  test('removes the annotation whatever its value', () => {
    expect(policySetAnnotationRemoval(annotated('made up'))).toEqual([
      { op: 'remove', path: ANNOTATION_PATH },
    ]);
  });

  test('does nothing when there is none', () => {
    expect(policySetAnnotationRemoval({ metadata: { annotations: { team: 'shop' } } })).toEqual([]);
    expect(policySetAnnotationRemoval(undefined)).toEqual([]);
  });
});
