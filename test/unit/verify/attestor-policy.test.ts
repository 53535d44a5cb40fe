/** Loading keyless, certificates, rekor, ctlog and type fields (lib/policy/parse.ts). */
import { X509Certificate } from '@sigstore/core';
import { compileWildcard } from '../../../lib/model/wildcard';
import type { CertificateAttestor, KeylessAttestor } from '../../../lib/policy/types';
import { createTestSigstore, type TestSigstore } from '../../support/sigstore';
import { attestorFrom, block, entryFrom, problemsOf } from '../../support/attestor-policies';

const ENTRY = 'spec.rules[0].verifyImages[0].attestors[0].entries[0]';
let sigstore: TestSigstore;

beforeAll(() => {
  sigstore = createTestSigstore('policy');
});

const attestors = (lines: string[]) => [
  'attestors:',
  '  - entries:',
  ...lines.flatMap((line) => line.split('\n')).map((line) => `      ${line}`),
];

describe('keyless', () => {
  test('subject and issuer are Kyverno wildcards; the regexps are anchored', () => {
    const attestor = attestorFrom([
      '- keyless:',
      '    subject: https://github.com/acme/*',
      "    subjectRegExp: 'https://github\\.com/acme/.+'",
      '    issuer: https://token.actions.githubusercontent.com',
      "    issuerRegExp: 'https://token\\..*'",
    ]) as KeylessAttestor;
    expect(attestor.kind).toBe('keyless');
    expect(attestor.identity.subject.map((matcher) => matcher.kind)).toEqual(['wildcard', 'regexp']);
    const regexp = attestor.identity.subject[1];
    expect(regexp?.kind === 'regexp' && regexp.regexp.test('https://github.com/acme/app')).toBe(true);
    expect(regexp?.kind === 'regexp' && regexp.regexp.test('x https://github.com/acme/app')).toBe(false);
    // Kyverno's default: the log and SCTs are required.
    expect(attestor.rekor.required).toBe(true);
    expect(attestor.ctlog.requireSct).toBe(true);
  });

  test('additionalExtensions by name or OID; unknown names are refused', () => {
    const attestor = attestorFrom([
      '- keyless:',
      '    issuer: https://token.actions.githubusercontent.com',
      '    additionalExtensions:',
      '      githubWorkflowTrigger: push',
      "      '1.3.6.1.4.1.57264.1.12': https://github.com/acme/*",
    ]) as KeylessAttestor;
    expect(attestor.identity.extensions.map(({ name, oid }) => [name, oid])).toEqual([
      ['githubWorkflowTrigger', '1.3.6.1.4.1.57264.1.2'],
      ['1.3.6.1.4.1.57264.1.12', '1.3.6.1.4.1.57264.1.12'],
    ]);
    expect(
      problemsOf(
        attestors(['- keyless:', '    issuer: x', '    additionalExtensions:', '      workflowColour: blue']),
      ),
    ).toEqual([
      expect.stringMatching(
        new RegExp(
          `^${ENTRY.replace(/[[\].]/g, '\\$&')}\\.keyless\\.additionalExtensions: unknown certificate extension "workflowColour"`,
        ),
      ),
    ]);
  });

  test('an identity (or your own roots) is required', () => {
    expect(
      problemsOf(attestors(['- keyless:', '    rekor:', '      url: https://rekor.sigstore.dev'])),
    ).toEqual([
      `${ENTRY}.keyless: needs subject, subjectRegExp, issuer, issuerRegExp or additionalExtensions (a lone * matches every identity): without an identity any certificate of the trusted Fulcio CAs would pass (or trust only your own CA with roots)`,
    ]);
    const withRoots = attestorFrom([
      '- keyless:',
      '    roots: |-',
      block(sigstore.fulcio.root.pem, 6),
    ]) as KeylessAttestor;
    expect(withRoots.roots).toHaveLength(1);
  });

  test('bad regular expressions, roots, keys and URLs are load errors naming the field', () => {
    expect(
      problemsOf(
        attestors([
          '- keyless:',
          "    subjectRegExp: '(unclosed'",
          '    issuer: x',
          '    roots: not a certificate',
          '    rekor:',
          '      url: rekor.sigstore.dev',
          '      pubkey: not a key',
          '    ctlog:',
          '      pubkey: not a key either',
          '    colour: blue',
        ]),
      ),
    ).toEqual([
      expect.stringMatching(/\.keyless\.subjectRegExp: is not a valid regular expression: /),
      `${ENTRY}.keyless.roots: no PEM certificate found (expected -----BEGIN CERTIFICATE-----)`,
      `${ENTRY}.keyless.rekor.url: must be an http(s) URL, got "rekor.sigstore.dev"`,
      `${ENTRY}.keyless.rekor.pubkey: no PEM public key found (expected -----BEGIN PUBLIC KEY-----)`,
      `${ENTRY}.keyless.ctlog.pubkey: no PEM public key found (expected -----BEGIN PUBLIC KEY-----)`,
      `${ENTRY}.keyless.colour: unknown field`,
    ]);
  });

  test('ignoreTlog and ignoreSCT switch the requirements off', () => {
    const attestor = attestorFrom([
      '- keyless:',
      '    issuer: x',
      '    rekor:',
      '      url: https://rekor.sigstore.dev',
      '      ignoreTlog: true',
      '    ctlog:',
      '      ignoreSCT: true',
    ]) as KeylessAttestor;
    expect(attestor.rekor).toMatchObject({ required: false, url: 'https://rekor.sigstore.dev' });
    expect(attestor.ctlog.requireSct).toBe(false);
  });

  test('the rule-level issuer, subject and roots make a keyless attestor (Kyverno’s legacy syntax)', () => {
    const entry = entryFrom([
      'issuer: https://accounts.google.com',
      'subject: "*@acme.example"',
      'annotations:',
      '  env: prod',
    ]);
    const attestor = entry.attestorSets[0]?.entries[0] as KeylessAttestor;
    expect(attestor).toMatchObject({ kind: 'keyless', annotations: { env: 'prod' } });
    expect(attestor.identity.issuer).toEqual([
      {
        kind: 'wildcard',
        pattern: 'https://accounts.google.com',
        matcher: compileWildcard('https://accounts.google.com'),
      },
    ]);
    expect(problemsOf(['subject: someone@acme.example'])).toEqual([
      'spec.rules[0].verifyImages[0].subject: applies only together with the rule-level issuer',
    ]);
  });
});

describe('certificates', () => {
  test('cert and certChain load; cert may be base64 of the PEM', () => {
    const signer = sigstore.issue({ email: 'a@b.example', issuer: 'x' });
    const attestor = attestorFrom([
      '- certificates:',
      `    cert: ${Buffer.from(signer.pem).toString('base64')}`,
      '    certChain: |-',
      block(sigstore.fulcio.chainPem, 6),
    ]) as CertificateAttestor;
    expect(attestor.kind).toBe('certificate');
    expect(attestor.cert?.equals(X509Certificate.parse(signer.pem))).toBe(true);
    expect(attestor.certChain).toHaveLength(2);
  });

  test('neither cert nor certChain, or a Kyverno variable, is refused', () => {
    expect(problemsOf(attestors(['- certificates:', '    rekor:', '      ignoreTlog: true']))).toEqual([
      `${ENTRY}.certificates: needs cert or certChain (for Fulcio certificates use keyless)`,
    ]);
    expect(problemsOf(attestors(['- certificates:', "    cert: '{{ keys.data.cert }}'"]))).toEqual([
      `${ENTRY}.certificates.cert: is not supported: Kyverno variables ({{ ... }}) need cluster context imagegate does not have; put the PEM itself here`,
    ]);
  });

  test('an attestor entry names exactly one kind', () => {
    expect(
      problemsOf(attestors(['- keyless:', '    issuer: x', '  certificates:', '    certChain: x'])),
    ).toEqual([`${ENTRY}: must have exactly one of keys, certificates, keyless or attestor`]);
  });
});

describe('ctlog.tsaCertChain', () => {
  test('orders the chain signer first; two signing certificates are refused', () => {
    const attestor = attestorFrom([
      '- keyless:',
      '    issuer: x',
      '    ctlog:',
      '      tsaCertChain: |-',
      block(sigstore.tsa.ca.chainPem + sigstore.tsa.leafPem, 8),
    ]) as KeylessAttestor;
    expect(attestor.ctlog.tsaCertChain?.[0]?.isCA).toBe(false);
    expect(attestor.ctlog.tsaCertChain).toHaveLength(3);
    const twoLeaves = sigstore.tsa.leafPem + sigstore.issue({ email: 'a@b.example', issuer: 'x' }).pem;
    expect(
      problemsOf(
        attestors([
          '- keyless:',
          '    issuer: x',
          '    ctlog:',
          '      tsaCertChain: |-',
          block(twoLeaves, 8),
        ]),
      ),
    ).toEqual([
      `${ENTRY}.keyless.ctlog.tsaCertChain: must hold at most one timestamping (non-CA) certificate, found 2`,
    ]);
  });
});

describe('type', () => {
  test('Cosign (default) and SigstoreBundle load; Notary is refused', () => {
    expect(entryFrom(['attestors:', '  - entries:', '      - keyless:', '          issuer: x']).type).toBe(
      'Cosign',
    );
    expect(
      entryFrom(['attestors:', '  - entries:', '      - keyless:', '          issuer: x'], {
        type: 'SigstoreBundle',
      }).type,
    ).toBe('SigstoreBundle');
    expect(problemsOf(['type: Notary'])).toEqual([
      'spec.rules[0].verifyImages[0].type: is not supported: Notary verification is not implemented by imagegate yet',
    ]);
  });
});
