/**
 * Keyless verification end to end, offline, against the real local registry (Debian
 * docker-registry, which has no referrers API) and a private test Sigstore (test/support/sigstore.ts):
 * legacy keyless `.sig` signatures through the Lambda handler, and the trust-root folder
 * (`IMAGEGATE_TRUST_ROOTS`) plus Sigstore bundles attached through the `sha256-<hex>` fallback tag
 * through the registry client and the pure verifier.
 */
import { fetchCosignSignatures } from '../../lib/oci/cosign';
import { fetchSigstoreBundles } from '../../lib/oci/referrers';
import { RegistryClient } from '../../lib/oci/registry';
import { UndiciTransport } from '../../lib/oci/transport';
import { parsePolicyText } from '../../lib/policy/compile/documents';
import type { ImageVerification } from '../../lib/policy/types';
import { evaluateAttestorSets } from '../../lib/verify/signatures';
import { trustRootsFromFolder } from '../../lib/fs/trust-root-folder';
import type { TrustRoots } from '../../lib/verify/trust-roots';
import { block } from '../support/attestor-policies';
import { admitPod, checkImageDenial, checkImagePolicy, TempFolders } from '../support/check-image-handler';
import { loadHandler, type Handler } from '../support/handler';
import { pushImage } from '../support/images';
import { startRegistry, type TestRegistry } from '../support/registry';
import { decodePatch, imageOps } from '../support/scenario';
import {
  attachBundle,
  createTestSigstore,
  signBundle,
  signImageKeyless,
  type SigningIdentity,
  type TestSigstore,
  GITHUB,
  WORKFLOW,
} from '../support/sigstore';

const REPOSITORY = 'acme/app';

let registry: TestRegistry;
let sigstore: TestSigstore;
let other: TestSigstore;
let signer: SigningIdentity;
let trustFolder: string;
const folders = new TempFolders('imagegate-keyless-');
const digests: Record<string, string> = {};

/** `registry/acme/app:<tag>` */
const image = (tag: string) => `${registry.host}/${REPOSITORY}:${tag}`;

const folderWith = (files: Record<string, string>) => folders.with(files);
const indent = block;

/** A ClusterPolicy `check-image` with one keyless attestor (`keyless` lines at 20 spaces). */
const policy = (keyless: string[], options: { type?: string } = {}) =>
  checkImagePolicy(
    `${registry.host}/${REPOSITORY}*`,
    ['- keyless:', ...keyless.flatMap((line) => line.split('\n')).map((line) => `    ${line}`)],
    options,
  );

/** The test instance trusted inline, the way a Kyverno policy can (roots, rekor.pubkey, ctlog.pubkey). */
function inlineTrust(extra: { rekor?: string[]; ctlog?: string[] } = {}): string[] {
  return [
    'roots: |-',
    indent(sigstore.fulcio.root.pem, 2),
    'rekor:',
    `  url: ${sigstore.rekor.baseUrl}`,
    '  pubkey: |-',
    indent(sigstore.rekor.publicKeyPem, 4),
    ...(extra.rekor ?? []).flatMap((line) => line.split('\n')).map((line) => `  ${line}`),
    'ctlog:',
    '  pubkey: |-',
    indent(sigstore.ctlog.publicKeyPem, 4),
    ...(extra.ctlog ?? []).flatMap((line) => line.split('\n')).map((line) => `  ${line}`),
  ];
}

const identity = (subject = WORKFLOW, issuer = GITHUB) => [`subject: ${subject}`, `issuer: ${issuer}`];

beforeAll(async () => {
  registry = await startRegistry();
  sigstore = createTestSigstore('e2e');
  other = createTestSigstore('e2e-other');
  signer = sigstore.issue({ uri: WORKFLOW, issuer: GITHUB, notAfter: new Date(Date.now() + 3600_000) });
  trustFolder = await folderWith({ 'e2e.trusted_root.json': JSON.stringify(sigstore.trustedRoot()) });

  const tags = [
    'signed',
    'unsigned',
    'untrusted',
    'tampered-set',
    'expired',
    'no-log',
    'no-log-timestamped',
    'no-sct',
    'bundle',
    'bundle-stranger',
  ];
  for (const tag of tags) digests[tag] = await pushImage(registry.host, REPOSITORY, tag);
  const sign = (
    tag: string,
    by: SigningIdentity,
    options: Parameters<typeof signImageKeyless>[5] = {},
    instance = sigstore,
  ) => signImageKeyless(registry.host, REPOSITORY, digests[tag]!, instance, by, options);

  await sign('signed', signer);
  await sign('untrusted', other.issue({ uri: WORKFLOW, issuer: GITHUB }), {}, other);
  await sign('tampered-set', signer, { rekor: 'tampered' });
  const start = new Date(Date.now() - 2 * 3600_000);
  await sign(
    'expired',
    sigstore.issue({
      uri: WORKFLOW,
      issuer: GITHUB,
      notBefore: start,
      notAfter: new Date(start.getTime() + 600_000),
    }),
  );
  await sign('no-log', signer, { rekor: 'none' });
  await sign('no-log-timestamped', signer, { rekor: 'none', timestamp: true });
  await sign('no-sct', sigstore.issue({ uri: WORKFLOW, issuer: GITHUB, sct: false }));

  await attachBundle(
    registry.host,
    REPOSITORY,
    digests.bundle!,
    signBundle(sigstore, digests.bundle!, signer),
  );
  const stranger = sigstore.issue({
    uri: 'https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main',
    issuer: GITHUB,
  });
  // Listed with the empty artifactType old cosign wrote: found by opening the manifest.
  await attachBundle(
    registry.host,
    REPOSITORY,
    digests['bundle-stranger']!,
    signBundle(sigstore, digests['bundle-stranger']!, stranger),
    {
      listedArtifactType: 'application/vnd.oci.empty.v1+json',
    },
  );
});

afterAll(async () => {
  await folders.removeAll();
  await registry?.stop();
});

const admit = (handler: Handler, name: string, tag: string) => admitPod(handler, name, image(tag));
/** The rule message of a denial of Pod `name` by check-image/check-image. */
const denial = (handler: Handler, name: string, tag: string) => checkImageDenial(handler, name, image(tag));

const failed = (tag: string, reason: string) => `image verification failed for ${image(tag)}: ${reason}`;

describe('legacy keyless .sig through the handler (trust given inline: roots, rekor.pubkey, ctlog.pubkey)', () => {
  let handler: Handler;

  beforeAll(async () => {
    handler = loadHandler({
      IMAGEGATE_POLICIES: await folderWith({ 'check-image.yaml': policy([...identity(), ...inlineTrust()]) }),
      IMAGEGATE_INSECURE_REGISTRIES: registry.host,
    });
  });

  test('the right identity is admitted and pinned', async () => {
    const response = await admit(handler, 'signed', 'signed');
    expect(response.allowed).toBe(true);
    expect(imageOps(decodePatch(response))).toEqual([
      { op: 'replace', path: '/spec/containers/0/image', value: `${image('signed')}@${digests.signed}` },
    ]);
  });

  test('an unsigned image: signature not found', async () => {
    expect(await denial(handler, 'unsigned', 'unsigned')).toBe(failed('unsigned', 'signature not found'));
  });

  test('a certificate from an untrusted CA', async () => {
    expect(await denial(handler, 'untrusted', 'untrusted')).toMatch(
      new RegExp(
        `^${escape(failed('untrusted', 'untrusted certificate chain: '))}.*does not chain to the policy's roots$`,
      ),
    );
  });

  test('a tampered SET', async () => {
    expect(await denial(handler, 'tampered', 'tampered-set')).toMatch(
      new RegExp(
        `^${escape(failed('tampered-set', 'invalid transparency-log proof: the signed entry timestamp does not verify'))}`,
      ),
    );
  });

  test('a certificate expired when the signature was logged', async () => {
    expect(await denial(handler, 'expired', 'expired')).toMatch(
      new RegExp(
        `^${escape(failed('expired', 'certificate expired at signing time: valid '))}.* \\(Rekor integrated time, `,
      ),
    );
  });

  test('a signature without a log proof', async () => {
    expect(await denial(handler, 'no-log', 'no-log')).toBe(
      failed(
        'no-log',
        'missing transparency-log proof: the signature has no Rekor bundle, and imagegate checks the log offline only (rekor.ignoreTlog: true accepts signatures without one)',
      ),
    );
  });

  test('a certificate without an SCT', async () => {
    expect(await denial(handler, 'no-sct', 'no-sct')).toBe(
      failed('no-sct', 'missing certificate transparency proof: the certificate has no embedded SCT'),
    );
  });
});

describe('identity mismatches through the handler', () => {
  test('another subject, showing expected and found', async () => {
    const handler = loadHandler({
      IMAGEGATE_POLICIES: await folderWith({
        'check-image.yaml': policy([...identity('https://github.com/acme/other/*'), ...inlineTrust()]),
      }),
      IMAGEGATE_INSECURE_REGISTRIES: registry.host,
    });
    expect(await denial(handler, 'subject', 'signed')).toBe(
      failed(
        'signed',
        `signer identity mismatch: expected subject "https://github.com/acme/other/*", found "${WORKFLOW}"`,
      ),
    );
  });

  test('another issuer', async () => {
    const handler = loadHandler({
      IMAGEGATE_POLICIES: await folderWith({
        'check-image.yaml': policy([...identity(WORKFLOW, 'https://accounts.google.com'), ...inlineTrust()]),
      }),
      IMAGEGATE_INSECURE_REGISTRIES: registry.host,
    });
    expect(await denial(handler, 'issuer', 'signed')).toBe(
      failed(
        'signed',
        `signer identity mismatch: expected issuer "https://accounts.google.com", found "${GITHUB}"`,
      ),
    );
  });
});

describe('ignoreTlog and ignoreSCT through the handler', () => {
  test('ignoreTlog: a signature without a log proof, dated by an RFC 3161 timestamp, is admitted', async () => {
    const handler = loadHandler({
      IMAGEGATE_POLICIES: await folderWith({
        'check-image.yaml': policy([
          ...identity(),
          ...inlineTrust({
            rekor: ['ignoreTlog: true'],
            ctlog: ['tsaCertChain: |-', indent(sigstore.tsa.leafPem + sigstore.tsa.ca.chainPem, 4)],
          }),
        ]),
      }),
      IMAGEGATE_INSECURE_REGISTRIES: registry.host,
    });
    expect((await admit(handler, 'timestamped', 'no-log-timestamped')).allowed).toBe(true);
    // The timestamp is then required (tsaCertChain), and the log proof is not consulted.
    expect(await denial(handler, 'no-timestamp', 'signed')).toBe(
      failed('signed', "missing RFC 3161 timestamp: the policy's ctlog.tsaCertChain requires one"),
    );
  });

  test('ignoreSCT: a certificate without an SCT is admitted', async () => {
    const handler = loadHandler({
      IMAGEGATE_POLICIES: await folderWith({
        'check-image.yaml': policy([...identity(), ...inlineTrust({ ctlog: ['ignoreSCT: true'] })]),
      }),
      IMAGEGATE_INSECURE_REGISTRIES: registry.host,
    });
    expect((await admit(handler, 'no-sct', 'no-sct')).allowed).toBe(true);
  });
});

describe('IMAGEGATE_TRUST_ROOTS and Sigstore bundles, against the registry', () => {
  let client: RegistryClient;
  let transport: UndiciTransport;
  let trust: TrustRoots;

  beforeAll(async () => {
    transport = new UndiciTransport();
    client = new RegistryClient({ transport, insecureRegistries: [registry.host] });
    trust = await trustRootsFromFolder(trustFolder);
  });

  afterAll(async () => {
    await transport?.close();
  });

  /** The entry of `policy(lines)`, loaded with the trust roots of the folder. */
  function entryOf(lines: string[], type?: string): ImageVerification {
    const { policies, problems } = parsePolicyText(policy(lines, { type }), 'check-image.yaml', { trust });
    expect(problems).toEqual([]);
    return policies[0]!.rules[0]!.verifyImages[0]!;
  }

  /** What the handler does per image, once wired: fetch both formats, then verify. */
  async function check(tag: string, entry: ImageVerification) {
    const location = { registry: registry.host, repository: REPOSITORY };
    const digest = digests[tag]!;
    const [layers, bundles] = await Promise.all([
      fetchCosignSignatures(client, location, digest),
      fetchSigstoreBundles(client, location, digest),
    ]);
    return evaluateAttestorSets(
      entry.attestorSets,
      digest,
      () => ({ legacy: { ok: true, layers }, bundles: { ok: true, bundles } }),
      { trust, type: entry.type, now: new Date() },
    );
  }

  test('the folder’s trusted_root.json is enough: no roots or keys in the policy', async () => {
    const entry = entryOf(identity());
    expect(await check('signed', entry)).toEqual({ status: 'pass' });
    expect(await check('untrusted', entry)).toMatchObject({
      status: 'fail',
      reason: expect.stringMatching(
        /^untrusted certificate chain: .* does not chain to any of \d+ trusted CAs$/,
      ) as string,
    });
    expect(await check('no-log', entryOf([...identity(), 'rekor:', '  ignoreTlog: true']))).toEqual({
      status: 'pass',
    });
  });

  test('the local registry has no referrers API: bundles are found through the sha256-<hex> tag', async () => {
    const location = { registry: registry.host, repository: REPOSITORY };
    expect(await client.listReferrers(registry.host, REPOSITORY, digests.bundle!)).toBeUndefined();
    expect(await fetchSigstoreBundles(client, location, digests.bundle!)).toHaveLength(1);
    expect(await fetchSigstoreBundles(client, location, digests['bundle-stranger']!)).toHaveLength(1);
    expect(await fetchSigstoreBundles(client, location, digests.signed!)).toEqual([]);
  });

  test('type Cosign reads the bundle first; SigstoreBundle reads only bundles', async () => {
    expect(await check('bundle', entryOf(identity()))).toEqual({ status: 'pass' });
    expect(await check('bundle', entryOf(identity(), 'SigstoreBundle'))).toEqual({ status: 'pass' });
    expect(await check('signed', entryOf(identity(), 'SigstoreBundle'))).toEqual({
      status: 'fail',
      failure: 'NO_SIGNATURES',
      reason: 'signature not found: no Sigstore bundle refers to the image',
    });
    expect(await check('bundle-stranger', entryOf(identity()))).toEqual({
      status: 'fail',
      failure: 'IDENTITY_MISMATCH',
      reason: `signer identity mismatch: expected subject "${WORKFLOW}", found "https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main"`,
    });
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('IMAGEGATE_TRUST_ROOTS and Sigstore bundles through the handler', () => {
  let handler: Handler;
  let bundlesOnly: Handler;

  beforeAll(async () => {
    const env = { IMAGEGATE_INSECURE_REGISTRIES: registry.host, IMAGEGATE_TRUST_ROOTS: trustFolder };
    handler = loadHandler({ ...env, IMAGEGATE_POLICIES: await folderWith({ 'p.yaml': policy(identity()) }) });
    bundlesOnly = loadHandler({
      ...env,
      IMAGEGATE_POLICIES: await folderWith({ 'p.yaml': policy(identity(), { type: 'SigstoreBundle' }) }),
    });
  });

  test('the trust root from the folder is enough: no roots or keys in the policy', async () => {
    expect((await admit(handler, 'signed', 'signed')).allowed).toBe(true);
    expect(await denial(handler, 'untrusted', 'untrusted')).toMatch(
      new RegExp(`^${escape(failed('untrusted', 'untrusted certificate chain: '))}.* trusted CAs$`),
    );
  });

  test('a Sigstore bundle attached through the referrers tag is verified (type Cosign reads bundles first)', async () => {
    expect((await admit(handler, 'bundle', 'bundle')).allowed).toBe(true);
    expect(await denial(handler, 'stranger', 'bundle-stranger')).toBe(
      failed(
        'bundle-stranger',
        `signer identity mismatch: expected subject "${WORKFLOW}", found "https://github.com/evil/app/.github/workflows/x.yml@refs/heads/main"`,
      ),
    );
  });

  test('type SigstoreBundle ignores legacy .sig signatures', async () => {
    expect((await admit(bundlesOnly, 'bundle', 'bundle')).allowed).toBe(true);
    expect(await denial(bundlesOnly, 'legacy', 'signed')).toBe(
      failed('signed', 'signature not found: no Sigstore bundle refers to the image'),
    );
  });
});
