import { decodeAdmissionReview } from '../../../lib/admission/decode';
import { AdmissionDecodeError } from '../../../lib/admission/errors';
import { pod } from '../../support/builders';

type Json = Record<string, unknown>;

/** An AdmissionReview body as the API server sends it for a Pod CREATE; `request` fields override. */
function review(request: Json = {}, top: Json = {}): Json {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    ...top,
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800001',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      name: 'signed',
      namespace: 'default',
      operation: 'CREATE',
      userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
      object: pod('signed', ['ghcr.io/kyverno/test-verify-image:signed']),
      oldObject: null,
      dryRun: false,
      ...request,
    },
  };
}

function decodeError(body: unknown): AdmissionDecodeError {
  try {
    decodeAdmissionReview(body);
  } catch (error) {
    if (error instanceof AdmissionDecodeError) return error;
    throw error;
  }
  throw new Error('decodeAdmissionReview accepted the body');
}

describe('decodeAdmissionReview', () => {
  test('reads an admission.k8s.io/v1 review', () => {
    const request = decodeAdmissionReview(review());

    expect(request).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      uid: '705ab4f5-6393-11e8-b7cc-42010a800001',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      subResource: undefined,
      name: 'signed',
      namespace: 'default',
      operation: 'CREATE',
      userInfo: { username: 'kubernetes-admin', groups: ['system:masters', 'system:authenticated'] },
      object: pod('signed', ['ghcr.io/kyverno/test-verify-image:signed']),
      oldObject: undefined,
      dryRun: false,
    });
  });

  test('reads an admission.k8s.io/v1beta1 review and remembers its version', () => {
    const request = decodeAdmissionReview(review({}, { apiVersion: 'admission.k8s.io/v1beta1' }));

    expect(request.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(request.uid).toBe('705ab4f5-6393-11e8-b7cc-42010a800001');
  });

  test('reads subresource, dryRun and a controller kind', () => {
    const request = decodeAdmissionReview(
      review({
        kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
        subResource: 'scale',
        operation: 'UPDATE',
        dryRun: true,
      }),
    );

    expect(request.kind).toEqual({ group: 'apps', version: 'v1', kind: 'Deployment' });
    expect(request.subResource).toBe('scale');
    expect(request.operation).toBe('UPDATE');
    expect(request.dryRun).toBe(true);
  });

  test('falls back to the object name when the request has none', () => {
    const request = decodeAdmissionReview(review({ name: undefined }));

    expect(request.name).toBe('signed');
  });

  test('a cluster-scoped request has no namespace', () => {
    expect(decodeAdmissionReview(review({ namespace: '' })).namespace).toBeUndefined();
  });

  test('DELETE without an object is fine; the old object is kept', () => {
    const old = pod('signed', ['nginx']);

    const request = decodeAdmissionReview(review({ operation: 'DELETE', object: null, oldObject: old }));

    expect(request.operation).toBe('DELETE');
    expect(request.object).toBeUndefined();
    expect(request.oldObject).toEqual(old);
  });

  test.each([
    ['null', null, 'invalid AdmissionReview: body must be a JSON object'],
    ['an array', [review()], 'invalid AdmissionReview: body must be a JSON object'],
    ['a string', 'AdmissionReview', 'invalid AdmissionReview: body must be a JSON object'],
    [
      'a wrong apiVersion',
      review({}, { apiVersion: 'admission.k8s.io/v2' }),
      'invalid AdmissionReview: apiVersion must be one of admission.k8s.io/v1, admission.k8s.io/v1beta1, got "admission.k8s.io/v2"',
    ],
    [
      'no apiVersion',
      review({}, { apiVersion: undefined }),
      'invalid AdmissionReview: apiVersion must be one of admission.k8s.io/v1, admission.k8s.io/v1beta1, got nothing',
    ],
    [
      'a wrong kind',
      review({}, { kind: 'ConversionReview' }),
      'invalid AdmissionReview: kind must be AdmissionReview, got "ConversionReview"',
    ],
    [
      'no request',
      { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' },
      'invalid AdmissionReview: request must be an object',
    ],
    [
      'a missing uid',
      review({ uid: undefined }),
      'invalid AdmissionReview: request.uid must be a non-empty string',
    ],
    ['an empty uid', review({ uid: '' }), 'invalid AdmissionReview: request.uid must be a non-empty string'],
    ['a numeric uid', review({ uid: 42 }), 'invalid AdmissionReview: request.uid must be a non-empty string'],
    [
      'an oversized uid',
      review({ uid: 'u'.repeat(129) }),
      'invalid AdmissionReview: request.uid must be at most 128 characters',
    ],
    [
      'no kind',
      review({ kind: undefined }),
      'invalid AdmissionReview: request.kind must be an object {group, version, kind}',
    ],
    [
      'an empty kind',
      review({ kind: { group: '', version: 'v1', kind: '' } }),
      'invalid AdmissionReview: request.kind.kind must be a non-empty string',
    ],
    [
      'an unknown operation',
      review({ operation: 'PATCH' }),
      'invalid AdmissionReview: request.operation must be one of CREATE, UPDATE, DELETE, CONNECT, got "PATCH"',
    ],
    [
      'CREATE without an object',
      review({ object: null }),
      'invalid AdmissionReview: request.object is required for CREATE',
    ],
    [
      'UPDATE without an object',
      review({ operation: 'UPDATE', object: undefined }),
      'invalid AdmissionReview: request.object is required for UPDATE',
    ],
    [
      'an object that is a list',
      review({ object: [] }),
      'invalid AdmissionReview: request.object must be an object',
    ],
    [
      'a non-object oldObject',
      review({ oldObject: 'x' }),
      'invalid AdmissionReview: request.oldObject must be an object',
    ],
  ])('refuses %s', (_name, body, message) => {
    const error = decodeError(body);

    expect(error.code).toBe('INVALID_ADMISSION_REVIEW');
    expect(error.message).toBe(message);
  });
});
