/**
 * RFC 3161 genTime as TSAs write it: DER drops trailing zeros of the fractional second, so a
 * millisecond TSA writes 0–3 digits and a microsecond one up to 6. Each length is made by
 * `openssl ts -reply` (`clock_precision_digits`), in a Sigstore bundle and in a legacy `.sig`
 * layer, with the policy requiring the timestamp (`ctlog.tsaCertChain`); a genTime that is not a
 * time is reported as unreadable, not as an invalid signature.
 */
import { RFC3161Timestamp } from '@sigstore/core';
import { verifySigstoreBundle } from '../../../lib/verify/bundle';
import { Stage } from '../../../lib/model/verification';
import { verifyLegacySignatures } from '../../../lib/verify/sig-layer';
import { resolveCheck, type AttestorCheck } from '../../../lib/verify/spec';
import { readGenTime, TimestampUnreadableError, withReadableGenTime } from '../../../lib/verify/timestamp';
import { loadTrustRoots, type TrustRoots } from '../../../lib/verify/trust-roots';
import { simpleSigningPayload } from '../../support/cosign-signer';
import {
  createTestSigstore,
  legacyAnnotations,
  legacyLayer,
  signBundle,
  timestampGenTime,
  type SigningIdentity,
  type TestSigstore,
  type TimestampOptions,
  GITHUB,
  WORKFLOW,
} from '../../support/sigstore';
import { DIGEST_A } from '../../support/builders';
import { attestorFrom, block } from '../../support/attestor-policies';

let sigstore: TestSigstore;
let trust: TrustRoots;
let signer: SigningIdentity;

beforeAll(() => {
  sigstore = createTestSigstore('gentime');
  trust = loadTrustRoots([{ name: 'gentime.json', json: sigstore.trustedRoot() }]);
  signer = sigstore.issue({ uri: WORKFLOW, issuer: GITHUB });
});

const token = (response: Buffer) => RFC3161Timestamp.parse(Buffer.from(response));

/** A keyless attestor for the signer; `required` adds `ctlog.tsaCertChain`, which requires a timestamp. */
function check(required: boolean): AttestorCheck {
  const lines = [
    '- keyless:',
    `    subject: ${WORKFLOW}`,
    `    issuer: ${GITHUB}`,
    ...(required
      ? ['    ctlog:', '      tsaCertChain: |-', block(sigstore.tsa.leafPem + sigstore.tsa.ca.chainPem, 8)]
      : []),
  ];
  return resolveCheck(attestorFrom(lines, { trust }), { trust, type: 'Cosign', now: undefined });
}

function bundleResult(options: TimestampOptions, required = true) {
  const bundle = signBundle(sigstore, DIGEST_A, signer, { timestamp: true, timestampOptions: options });
  return verifySigstoreBundle(bundle, { kind: 'image', digest: DIGEST_A }, check(required));
}

function legacyResult(options: TimestampOptions, required = true) {
  const payload = simpleSigningPayload('registry.example/acme/app', DIGEST_A, null);
  const annotations = legacyAnnotations(sigstore, payload, signer, {
    timestamp: true,
    timestampOptions: options,
  });
  return verifyLegacySignatures([legacyLayer(payload, annotations)], DIGEST_A, check(required));
}

describe.each([1, 2, 3, 4, 6])('genTime with %i fractional digit(s)', (digits) => {
  test('the test TSA writes exactly that many', () => {
    const genTime = timestampGenTime(sigstore.timestamp(Buffer.from('data'), { fractionDigits: digits }));
    expect(genTime).toMatch(new RegExp(`^\\d{14}\\.\\d{${digits - 1}}[1-9]Z$`));
  });

  test('a Sigstore bundle carrying it verifies', () => {
    expect(bundleResult({ fractionDigits: digits })).toBeUndefined();
  });

  test('a legacy .sig carrying it verifies when the policy requires a timestamp', () => {
    expect(legacyResult({ fractionDigits: digits })).toMatchObject({ verified: true });
  });

  test('the time is read to the millisecond', () => {
    const response = sigstore.timestamp(Buffer.from('data'), { fractionDigits: digits });
    const text = timestampGenTime(response);
    const iso = `${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6, 8)}T${text.slice(8, 10)}:${text.slice(10, 12)}:${text.slice(12, 14)}.${text.slice(15, -1).padEnd(3, '0').slice(0, 3)}Z`;
    expect(readGenTime(token(response)).toISOString()).toBe(iso);
    expect(withReadableGenTime(token(response)).signingTime.toISOString()).toBe(iso);
  });
});

describe('a genTime that is not a time', () => {
  const garbled: TimestampOptions = {
    fractionDigits: 2,
    rewriteGenTime: (genTime) => `20x6${genTime.slice(4)}`,
  };
  const outOfRange: TimestampOptions = {
    fractionDigits: 2,
    rewriteGenTime: (genTime) => `${genTime.slice(0, 4)}13${genTime.slice(6)}`,
  };

  test('is an error of its own, with its own code', () => {
    const response = sigstore.timestamp(Buffer.from('data'), garbled);
    let thrown: unknown;
    try {
      readGenTime(token(response));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TimestampUnreadableError);
    expect(thrown).toMatchObject({ code: 'UNREADABLE_TIMESTAMP' });
    expect((thrown as Error).message).toMatch(/^the timestamp's genTime "20x6\d{10}\.\d\dZ" is unreadable/);
  });

  test('a bundle that must carry a timestamp is refused as unreadable, not as an invalid signature', () => {
    for (const options of [garbled, outOfRange]) {
      const result = bundleResult(options);
      expect(result).toMatchObject({ stage: Stage.Timestamp });
      expect(result?.reason).toMatch(
        /^invalid RFC 3161 timestamp: the timestamp's genTime ".*" is unreadable/,
      );
    }
  });

  test('a legacy .sig that must carry a timestamp is refused as unreadable', () => {
    const result = legacyResult(garbled);
    expect(result).toMatchObject({ verified: false, stage: Stage.Timestamp });
    expect(result.verified ? '' : result.reason).toMatch(
      /^invalid RFC 3161 timestamp: the timestamp's genTime "20x6/,
    );
  });

  test('the message is the typed error’s', () => {
    const response = sigstore.timestamp(Buffer.from('data'), garbled);
    const payload = simpleSigningPayload('registry.example/acme/app', DIGEST_A, null);
    const annotations = legacyAnnotations(sigstore, payload, signer, { timestamp: true });
    annotations['dev.sigstore.cosign/rfc3161timestamp'] = JSON.stringify({
      SignedRFC3161Timestamp: response.toString('base64'),
    });
    const result = verifyLegacySignatures([legacyLayer(payload, annotations)], DIGEST_A, check(true));
    expect(result).toEqual({
      verified: false,
      failure: 'UNREADABLE_TIMESTAMP',
      stage: Stage.Timestamp,
      reason: `invalid RFC 3161 timestamp: ${new TimestampUnreadableError(timestampGenTime(response)).message}`,
    });
  });

  test('where timestamps are not required, an unreadable one is left out and the log dates the signature', () => {
    expect(bundleResult(garbled, false)).toBeUndefined();
    expect(legacyResult(garbled, false)).toMatchObject({ verified: true });
  });
});
