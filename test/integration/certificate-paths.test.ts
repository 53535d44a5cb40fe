/**
 * Certificates and timestamps through the Lambda handler, against the real local registry:
 * signatures made with certificates the openssl CLI issued (a sub-CA name-constrained to
 * partner.example, a leaf with an unknown critical extension) are judged as `openssl verify`
 * judges their chains, for `keyless` and `certificates` attestors; and RFC 3161 timestamps whose
 * genTime has 2 or 4 fractional digits (as `openssl ts -reply` writes them) date a legacy `.sig`
 * and a Sigstore bundle when the policy requires a timestamp, while a garbled genTime is reported
 * as unreadable.
 */
import { X509Certificate } from '@sigstore/core';
import { EKU_CODE_SIGNING, verifyCertificatePath } from '../../lib/verify/certificates';
import { TimestampUnreadableError } from '../../lib/verify/timestamp';
import { block } from '../support/attestor-policies';
import { admitPod, checkImageDenial, checkImagePolicy, TempFolders } from '../support/check-image-handler';
import { loadHandler, type Handler } from '../support/handler';
import { pushImage } from '../support/images';
import {
  CA_EXTENSIONS,
  LEAF_EXTENSIONS,
  OpenSslPki,
  UNKNOWN_CRITICAL_EXTENSION,
  type OpenSslCertificate,
} from '../support/openssl-certificate-paths';
import { startRegistry, type TestRegistry } from '../support/registry';
import {
  attachBundle,
  createTestSigstore,
  signBundle,
  signImageKeyless,
  type SigningIdentity,
  type TestSigstore,
  type TimestampOptions,
  GITHUB,
  WORKFLOW,
} from '../support/sigstore';

const REPOSITORY = 'acme/paths';

let registry: TestRegistry;
let sigstore: TestSigstore;
let pki: OpenSslPki;
let root: OpenSslCertificate;
let partner: OpenSslCertificate;
let plain: OpenSslCertificate;
const certificates: Record<string, OpenSslCertificate> = {};
const digests: Record<string, string> = {};
const folders = new TempFolders('imagegate-certificate-paths-');
/** The garbled genTime the last garbled timestamp carries. */
let garbledGenTime = '';
const GARBLED: TimestampOptions = {
  fractionDigits: 2,
  rewriteGenTime: (text) => (garbledGenTime = `20x6${text.slice(4)}`),
};

const image = (tag: string) => `${registry.host}/${REPOSITORY}:${tag}`;
const failed = (tag: string, reason: string) => `image verification failed for ${image(tag)}: ${reason}`;
const indent = block;

/** An openssl-made leaf as the signer identity the test signer uses (chain: its CA, then the root). */
function identityOf(leaf: OpenSslCertificate, issuer: OpenSslCertificate): SigningIdentity {
  return {
    privateKey: leaf.privateKey,
    publicKey: leaf.publicKey,
    der: leaf.der,
    pem: leaf.pem,
    chainPem: issuer.pem + root.pem,
  };
}

/** A ClusterPolicy `check-image` with one attestor (`attestor` lines at 16 spaces). */
const policy = (attestor: readonly string[]) => checkImagePolicy(`${registry.host}/${REPOSITORY}*`, attestor);

/** The test Rekor by its key, and no SCT (openssl's certificates have none). */
const rekorWithoutSct = () =>
  [
    '  rekor:',
    `    url: ${sigstore.rekor.baseUrl}`,
    '    pubkey: |-',
    indent(sigstore.rekor.publicKeyPem, 6),
    '  ctlog:',
    '    ignoreSCT: true',
  ].flatMap((line) => line.split('\n'));

async function handlerFor(attestor: readonly string[]): Promise<Handler> {
  const dir = await folders.with({ 'check-image.yaml': policy(attestor) });
  return loadHandler({ IMAGEGATE_POLICIES: dir, IMAGEGATE_INSECURE_REGISTRIES: registry.host });
}

const admit = (handler: Handler, name: string, tag: string) => admitPod(handler, name, image(tag));
const denial = (handler: Handler, name: string, tag: string) => checkImageDenial(handler, name, image(tag));

/** imagegate's own reason for the chain, to compare the handler's message with. */
function chainReason(leaf: OpenSslCertificate, issuer: OpenSslCertificate): string {
  const result = verifyCertificatePath(
    X509Certificate.parse(leaf.pem),
    [X509Certificate.parse(issuer.pem)],
    [{ anchors: [X509Certificate.parse(root.pem)], intermediates: [], name: "the policy's roots" }],
    EKU_CODE_SIGNING,
  );
  return result.ok ? 'ok' : result.reason;
}

beforeAll(async () => {
  registry = await startRegistry();
  sigstore = createTestSigstore('paths');
  pki = new OpenSslPki();
  root = pki.root('paths root');
  partner = pki.issue('partner CA', root, [
    ...CA_EXTENSIONS,
    'nameConstraints = critical, permitted;email:partner.example',
  ]);
  plain = pki.issue('plain CA', root, CA_EXTENSIONS);
  const leaf = (name: string, issuer: OpenSslCertificate, email: string, extra: string[] = []) =>
    pki.issue(name, issuer, [...LEAF_EXTENSIONS, `subjectAltName = email:${email}`, ...extra]);
  certificates.outside = leaf('outside', partner, 'admin@acme.example');
  certificates.inside = leaf('inside', partner, 'dev@partner.example');
  certificates.critical = leaf('critical', plain, 'admin@acme.example', [UNKNOWN_CRITICAL_EXTENSION]);
  certificates.good = leaf('good', plain, 'admin@acme.example');

  const tags = ['outside', 'inside', 'critical', 'good', 'ts-sig-2', 'ts-bundle-4', 'ts-garbled'];
  for (const tag of tags) digests[tag] = await pushImage(registry.host, REPOSITORY, tag);
  const issuers: Record<string, OpenSslCertificate> = {
    outside: partner,
    inside: partner,
    critical: plain,
    good: plain,
  };
  for (const [tag, issuer] of Object.entries(issuers)) {
    await signImageKeyless(
      registry.host,
      REPOSITORY,
      digests[tag]!,
      sigstore,
      identityOf(certificates[tag]!, issuer),
    );
  }

  const signer = sigstore.issue({ uri: WORKFLOW, issuer: GITHUB, notAfter: new Date(Date.now() + 3600_000) });
  await signImageKeyless(registry.host, REPOSITORY, digests['ts-sig-2']!, sigstore, signer, {
    timestamp: true,
    timestampOptions: { fractionDigits: 2 },
  });
  const bundle = signBundle(sigstore, digests['ts-bundle-4']!, signer, {
    timestamp: true,
    timestampOptions: { fractionDigits: 4 },
  });
  await attachBundle(registry.host, REPOSITORY, digests['ts-bundle-4']!, bundle);
  await signImageKeyless(registry.host, REPOSITORY, digests['ts-garbled']!, sigstore, signer, {
    timestamp: true,
    timestampOptions: GARBLED,
  });
});

afterAll(async () => {
  pki?.remove();
  await folders.removeAll();
  await registry?.stop();
});

describe('a sub-CA constrained to partner.example, through the handler', () => {
  test('openssl verify refuses the out-of-constraint chain and accepts the in-constraint one', () => {
    expect(pki.verify(certificates.outside!, [partner], root).ok).toBe(false);
    expect(pki.verify(certificates.inside!, [partner], root).ok).toBe(true);
  });

  test('keyless with subject "*@acme.example": admin@acme.example from the partner CA is denied', async () => {
    const handler = await handlerFor([
      '- keyless:',
      '    subject: "*@acme.example"',
      '    roots: |-',
      indent(root.pem, 6),
      ...rekorWithoutSct().map((line) => `  ${line}`),
    ]);
    const reason = chainReason(certificates.outside!, partner);
    expect(reason).toMatch(
      /^the signing certificate names email "admin@acme\.example", outside the name constraints of CA "partner CA"/,
    );
    expect(await denial(handler, 'outside', 'outside')).toBe(
      failed('outside', `untrusted certificate chain: ${reason}`),
    );
    // The same identity from an unconstrained CA passes: the name constraint is what denies.
    expect((await admit(handler, 'good', 'good')).allowed).toBe(true);
  });

  test('keyless with subject "*@partner.example": the in-constraint certificate is admitted', async () => {
    const handler = await handlerFor([
      '- keyless:',
      '    subject: "*@partner.example"',
      '    roots: |-',
      indent(root.pem, 6),
      ...rekorWithoutSct().map((line) => `  ${line}`),
    ]);
    expect((await admit(handler, 'inside', 'inside')).allowed).toBe(true);
  });

  test('certificates with the root as certChain: the out-of-constraint signature is denied', async () => {
    const handler = await handlerFor([
      '- certificates:',
      '    certChain: |-',
      indent(root.pem, 6),
      ...rekorWithoutSct().map((line) => `  ${line}`),
    ]);
    expect(await denial(handler, 'outside', 'outside')).toBe(
      failed('outside', `untrusted certificate chain: ${chainReason(certificates.outside!, partner)}`),
    );
    expect((await admit(handler, 'inside', 'inside')).allowed).toBe(true);
  });

  test('a leaf with an unknown critical extension is denied, as openssl verify refuses it', async () => {
    expect(pki.verify(certificates.critical!, [plain], root).ok).toBe(false);
    const handler = await handlerFor([
      '- keyless:',
      '    subject: "*@acme.example"',
      '    roots: |-',
      indent(root.pem, 6),
      ...rekorWithoutSct().map((line) => `  ${line}`),
    ]);
    expect(await denial(handler, 'critical', 'critical')).toBe(
      failed('critical', `untrusted certificate chain: ${chainReason(certificates.critical!, plain)}`),
    );
  });
});

describe('RFC 3161 genTime precision, through the handler', () => {
  let handler: Handler;

  beforeAll(async () => {
    handler = await handlerFor([
      '- keyless:',
      `    subject: ${WORKFLOW}`,
      `    issuer: ${GITHUB}`,
      '    roots: |-',
      // A v0.3 bundle carries the leaf alone: the intermediate is trusted too.
      indent(sigstore.fulcio.chainPem, 6),
      '    rekor:',
      `      url: ${sigstore.rekor.baseUrl}`,
      '      pubkey: |-',
      indent(sigstore.rekor.publicKeyPem, 8),
      '    ctlog:',
      '      pubkey: |-',
      indent(sigstore.ctlog.publicKeyPem, 8),
      '      tsaCertChain: |-',
      indent(sigstore.tsa.leafPem + sigstore.tsa.ca.chainPem, 8),
    ]);
  });

  test('a legacy .sig whose timestamp has a 2-digit fraction is admitted', async () => {
    expect((await admit(handler, 'sig-2', 'ts-sig-2')).allowed).toBe(true);
  });

  test('a Sigstore bundle whose timestamp has a 4-digit fraction is admitted', async () => {
    expect((await admit(handler, 'bundle-4', 'ts-bundle-4')).allowed).toBe(true);
  });

  test('a garbled genTime is reported as an unreadable timestamp', async () => {
    expect(garbledGenTime).toMatch(/^20x6\d{10}\.\d{2}Z$/);
    expect(await denial(handler, 'garbled', 'ts-garbled')).toBe(
      failed(
        'ts-garbled',
        `invalid RFC 3161 timestamp: ${new TimestampUnreadableError(garbledGenTime).message}`,
      ),
    );
  });
});
