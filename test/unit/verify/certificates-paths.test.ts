/**
 * Certificate path validation against `openssl verify`: each chain is made by the openssl CLI in a
 * temporary folder, checked by `openssl verify -purpose any`, and imagegate must come to the same
 * answer (and give its reason). Name constraints on emails, DNS names and URIs (Fulcio's SANs),
 * excluded subtrees, an anchor's own constraints, nested constraints, and unknown critical
 * extensions in a leaf and in a CA.
 */
import type { X509Certificate } from '@sigstore/core';
import {
  EKU_CODE_SIGNING,
  parseCertificatesPem,
  verifyCertificatePath,
  type PathResult,
} from '../../../lib/verify/certificates';
import { HANDLED_CRITICAL_EXTENSIONS } from '../../../lib/verify/rfc5280';
import {
  CA_EXTENSIONS,
  LEAF_EXTENSIONS,
  OpenSslPki,
  UNKNOWN_CRITICAL_EXTENSION,
  type OpenSslCertificate,
} from '../../support/openssl-certificate-paths';

let pki: OpenSslPki;
let root: OpenSslCertificate;

beforeAll(() => {
  pki = new OpenSslPki();
  root = pki.root('root');
});

afterAll(() => pki?.remove());

const parse = (certificate: OpenSslCertificate): X509Certificate =>
  parseCertificatesPem(certificate.pem)[0] as X509Certificate;

const ca = (name: string, extra: readonly string[] = [], issuer = root) =>
  pki.issue(name, issuer, [...CA_EXTENSIONS, ...extra]);

const leaf = (name: string, issuer: OpenSslCertificate, san: string, extra: readonly string[] = []) =>
  pki.issue(name, issuer, [...LEAF_EXTENSIONS, `subjectAltName = ${san}`, ...extra]);

/** imagegate's verdict on `certificate` through `intermediates` to `anchor`. */
function imagegate(
  certificate: OpenSslCertificate,
  intermediates: readonly OpenSslCertificate[],
  anchor = root,
): PathResult {
  return verifyCertificatePath(
    parse(certificate),
    intermediates.map(parse),
    [{ anchors: [parse(anchor)], intermediates: [], name: 'the test root' }],
    EKU_CODE_SIGNING,
  );
}

/** Asserts openssl and imagegate agree on the chain, that both say `expected`, and returns imagegate's reason. */
function agree(
  certificate: OpenSslCertificate,
  intermediates: readonly OpenSslCertificate[],
  expected: boolean,
  anchor = root,
): string | undefined {
  const openssl = pki.verify(certificate, intermediates, anchor);
  const ours = imagegate(certificate, intermediates, anchor);
  expect({ openssl: openssl.ok, output: openssl.output }).toMatchObject({ openssl: expected });
  expect(ours.ok).toBe(openssl.ok);
  return ours.ok ? undefined : ours.reason;
}

describe('name constraints, as openssl verify decides them', () => {
  let partner: OpenSslCertificate;

  beforeAll(() => {
    partner = ca('partner CA', [
      'nameConstraints = critical, permitted;email:partner.example, permitted;email:.partner.example',
    ]);
  });

  test('a good chain without constraints', () => {
    const plain = ca('plain CA');
    expect(agree(leaf('good', plain, 'email:admin@acme.example'), [plain], true)).toBeUndefined();
  });

  test('a sub-CA constrained to partner.example cannot certify admin@acme.example', () => {
    expect(agree(leaf('outside', partner, 'email:admin@acme.example'), [partner], false)).toBe(
      'the signing certificate names email "admin@acme.example", outside the name constraints of CA "partner CA" (permitted: "partner.example", ".partner.example")',
    );
  });

  test('the same sub-CA certifies dev@partner.example and dev@ci.partner.example', () => {
    expect(agree(leaf('inside', partner, 'email:dev@partner.example'), [partner], true)).toBeUndefined();
    expect(agree(leaf('sub', partner, 'email:dev@ci.partner.example'), [partner], true)).toBeUndefined();
  });

  test('an email constraint names one host: its subdomains need a .domain constraint', () => {
    const host = ca('host CA', ['nameConstraints = critical, permitted;email:partner.example']);
    expect(agree(leaf('host', host, 'email:dev@partner.example'), [host], true)).toBeUndefined();
    expect(agree(leaf('subdomain', host, 'email:dev@ci.partner.example'), [host], false)).toMatch(
      /^the signing certificate names email "dev@ci\.partner\.example", outside the name constraints/,
    );
  });

  test('an excluded subtree', () => {
    const excluding = ca('excluding CA', ['nameConstraints = critical, excluded;email:acme.example']);
    expect(agree(leaf('excluded', excluding, 'email:admin@acme.example'), [excluding], false)).toBe(
      'the signing certificate names email "admin@acme.example", excluded by the name constraints of CA "excluding CA" ("acme.example")',
    );
    expect(
      agree(leaf('not excluded', excluding, 'email:dev@partner.example'), [excluding], true),
    ).toBeUndefined();
  });

  test('URI constraints on a workflow identity (the host of the URI)', () => {
    const github = ca('github CA', ['nameConstraints = critical, permitted;URI:github.com']);
    const workflow = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
    expect(agree(leaf('workflow', github, `URI:${workflow}`), [github], true)).toBeUndefined();
    expect(agree(leaf('elsewhere', github, 'URI:https://gitlab.example/acme/app'), [github], false)).toBe(
      'the signing certificate names URI "https://gitlab.example/acme/app", outside the name constraints of CA "github CA" (permitted: "github.com")',
    );
  });

  test('DNS constraints', () => {
    const dns = ca('dns CA', ['nameConstraints = critical, permitted;DNS:partner.example']);
    expect(agree(leaf('dns inside', dns, 'DNS:ci.partner.example'), [dns], true)).toBeUndefined();
    expect(agree(leaf('dns outside', dns, 'DNS:build.acme.example'), [dns], false)).toMatch(
      /^the signing certificate names DNS name "build\.acme\.example", outside the name constraints of CA "dns CA"/,
    );
  });

  test('constraints nest: a leaf must be within every CA above it (intersection, not union)', () => {
    const acme = ca('acme CA', ['nameConstraints = critical, permitted;email:acme.example']);
    const nested = ca('nested CA', ['nameConstraints = critical, permitted;email:partner.example'], acme);
    expect(agree(leaf('nested', nested, 'email:admin@acme.example'), [nested, acme], false)).toMatch(
      /outside the name constraints of CA "nested CA"/,
    );
    expect(agree(leaf('nested partner', nested, 'email:dev@partner.example'), [nested, acme], false)).toMatch(
      /outside the name constraints of CA "acme CA"/,
    );
  });

  test("the trust anchor's own constraints apply", () => {
    const constrainedRoot = pki.root('constrained root', [
      ...CA_EXTENSIONS,
      'nameConstraints = critical, permitted;email:partner.example',
    ]);
    const under = ca('under constrained root', [], constrainedRoot);
    expect(
      agree(leaf('under root', under, 'email:admin@acme.example'), [under], false, constrainedRoot),
    ).toMatch(/outside the name constraints of CA "constrained root"/);
    expect(
      agree(leaf('under root ok', under, 'email:dev@partner.example'), [under], true, constrainedRoot),
    ).toBeUndefined();
  });
});

describe('critical extensions, as openssl verify decides them', () => {
  test('a leaf with an unknown critical extension', () => {
    const plain = ca('plain CA 2');
    expect(
      agree(
        leaf('unknown critical', plain, 'email:admin@acme.example', [UNKNOWN_CRITICAL_EXTENSION]),
        [plain],
        false,
      ),
    ).toBe('the signing certificate has an unknown critical extension 1.3.6.1.4.1.55555.1.1');
  });

  test('a CA with an unknown critical extension', () => {
    const odd = ca('odd CA', [UNKNOWN_CRITICAL_EXTENSION]);
    expect(agree(leaf('under odd', odd, 'email:admin@acme.example'), [odd], false)).toBe(
      'CA "odd CA" has an unknown critical extension 1.3.6.1.4.1.55555.1.1',
    );
  });

  test('a critical subject key identifier is not handled (as OpenSSL; Go accepts it)', () => {
    const plain = ca('plain CA 5');
    const odd = pki.issue('critical key id', plain, [
      ...LEAF_EXTENSIONS.filter((line) => !line.startsWith('subjectKeyIdentifier')),
      'subjectKeyIdentifier = critical, hash',
      'subjectAltName = email:admin@acme.example',
    ]);
    expect(agree(odd, [plain], false)).toBe(
      'the signing certificate has an unknown critical extension 2.5.29.14',
    );
  });

  test('the same extension, not critical, is ignored', () => {
    const plain = ca('plain CA 3');
    const extension = UNKNOWN_CRITICAL_EXTENSION.replace('critical, ', '');
    expect(
      agree(leaf('unknown', plain, 'email:admin@acme.example', [extension]), [plain], true),
    ).toBeUndefined();
  });

  test('an issuer whose key usage does not allow certificate signing is not a CA', () => {
    const signer = pki.issue('no certsign CA', root, [
      'basicConstraints = critical, CA:TRUE',
      'keyUsage = critical, digitalSignature',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid:always',
    ]);
    expect(agree(leaf('under no certsign', signer, 'email:admin@acme.example'), [signer], false)).toBe(
      'issuing certificate "no certsign CA" is not a CA',
    );
  });

  test('the handled critical extensions are the RFC 5280 ones', () => {
    expect([...HANDLED_CRITICAL_EXTENSIONS].sort()).toEqual(
      [
        '2.5.29.15',
        '2.5.29.17',
        '2.5.29.19',
        '2.5.29.30',
        '2.5.29.32',
        '2.5.29.33',
        '2.5.29.36',
        '2.5.29.37',
        '2.5.29.54',
      ].sort(),
    );
  });
});

describe('existing path rules are kept', () => {
  test('a leaf that is not for code signing is refused even though openssl -purpose any accepts it', () => {
    const plain = ca('plain CA 4');
    const server = pki.issue('server', plain, [
      'basicConstraints = critical, CA:FALSE',
      'keyUsage = critical, digitalSignature',
      'extendedKeyUsage = serverAuth',
      'subjectAltName = email:admin@acme.example',
    ]);
    expect(pki.verify(server, [plain], root).ok).toBe(true);
    expect(imagegate(server, [plain])).toEqual({
      ok: false,
      reason: 'the signing certificate is not for code signing (extended key usage)',
    });
  });
});
