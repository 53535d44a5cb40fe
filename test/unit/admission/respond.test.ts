import { toAdmissionReview } from '../../../lib/admission/respond';
import type { AdmissionDecision, JsonPatchOperation } from '../../../lib/model/admission';

const UID = '705ab4f5-6393-11e8-b7cc-42010a800001';
const PIN: JsonPatchOperation = {
  op: 'replace',
  path: '/spec/containers/0/image',
  value: `ghcr.io/kyverno/test-verify-image:signed@sha256:${'b'.repeat(64)}`,
};

function decision(overrides: Partial<AdmissionDecision> = {}): AdmissionDecision {
  return { allowed: true, message: undefined, warnings: [], patch: [], ...overrides };
}

describe('toAdmissionReview', () => {
  test('an allowed request without patch or warnings is just uid and allowed', () => {
    expect(toAdmissionReview('admission.k8s.io/v1', UID, decision())).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: UID, allowed: true },
    });
  });

  test('echoes the apiVersion of the request', () => {
    const review = toAdmissionReview('admission.k8s.io/v1beta1', UID, decision());

    expect(review.apiVersion).toBe('admission.k8s.io/v1beta1');
    expect(review.response.uid).toBe(UID);
  });

  test('an allowed request with operations carries a base64 JSONPatch', () => {
    const review = toAdmissionReview('admission.k8s.io/v1', UID, decision({ patch: [PIN] }));

    expect(review.response.patchType).toBe('JSONPatch');
    expect(JSON.parse(Buffer.from(review.response.patch!, 'base64').toString('utf8'))).toEqual([PIN]);
    expect(Buffer.from(review.response.patch!, 'base64').toString('utf8')).toBe(JSON.stringify([PIN]));
  });

  test('a denial carries the message in a Failure status and never a patch', () => {
    const review = toAdmissionReview(
      'admission.k8s.io/v1',
      UID,
      decision({ allowed: false, message: 'blocked', patch: [PIN] }),
    );

    expect(review.response).toEqual({
      uid: UID,
      allowed: false,
      status: { status: 'Failure', message: 'blocked' },
    });
  });

  test('a denial without a message still says denied', () => {
    const review = toAdmissionReview('admission.k8s.io/v1', UID, decision({ allowed: false }));

    expect(review.response.status).toEqual({ status: 'Failure', message: 'denied' });
  });

  test('warnings are included only when there are some, allowed or not', () => {
    const warnings = ['policy p.r: image docker.io/nginx:latest skipped by skipImageReferences'];

    expect(toAdmissionReview('admission.k8s.io/v1', UID, decision({ warnings })).response.warnings).toEqual(
      warnings,
    );
    expect(
      toAdmissionReview('admission.k8s.io/v1', UID, decision({ allowed: false, message: 'x', warnings }))
        .response.warnings,
    ).toEqual(warnings);
    expect('warnings' in toAdmissionReview('admission.k8s.io/v1', UID, decision()).response).toBe(false);
  });

  test('the JSON the API server reads has no empty fields', () => {
    const json = JSON.stringify(toAdmissionReview('admission.k8s.io/v1', UID, decision()));

    expect(json).toBe(
      `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"${UID}","allowed":true}}`,
    );
  });
});
