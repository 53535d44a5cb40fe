/**
 * Signatures made by the tools people use, verified through the Lambda handler against a real
 * local registry (Debian docker-registry, htpasswd, no referrers API):
 * - cosign 3 (Debian's package, see test/support/cosign-cli.ts): `cosign sign --key` as a legacy
 *   `.sig` and as a Sigstore bundle (cosign 3's default, stored through the `sha256-<hex>`
 *   referrers tag), keyless `cosign sign` (bundle and `.sig`) against a local Fulcio/Rekor
 *   (`@sigstore/mock`, test/support/sigstore-mock-server.ts), and `cosign attest` (key: bundle and
 *   `.att`; keyless: bundle);
 * - `@sigstore/sign` DSSE bundles attached with `@sigstore/oci`, as GitHub artifact attestations
 *   (actions/attest) are made and stored.
 * No signature here is made by the project's own test signer.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import { stringify } from 'yaml';
import { awsEnvironment, startFakeAwsJsonEndpoint, type FakeAwsJsonEndpoint } from '../support/aws';
import { cosignCli, type CosignCli } from '../support/cosign-cli';
import { httpEvent, loadHandler, type Handler } from '../support/handler';
import { getManifest, listTags, MediaTypes, pushImage, type RegistryAuth } from '../support/images';
import { makeTempDir, removeDir, runChecked } from '../support/processes';
import { startRegistry, type TestRegistry } from '../support/registry';
import { decodePatch, imageOps, parseBlocked, podReview } from '../support/scenario';
import {
  startSigstoreMock,
  type SigstoreMockServer,
  type TokenClaims,
} from '../support/sigstore-mock-server';
import { GITHUB, WORKFLOW } from '../support/sigstore';

const USER: RegistryAuth = { username: 'ci', password: randomBytes(12).toString('hex') };
const CREDENTIALS_SECRET = 'imagegate/real-tools/registry';
const STRANGER = 'https://github.com/evil/app/.github/workflows/release.yml@refs/heads/main';
const SLSA_V1 = 'https://slsa.dev/provenance/v1';
const BUILDER = 'https://github.com/actions/runner/github-hosted';

/** repository → tags, each signed by one tool (see beforeAll). */
const IMAGES = {
  'cosign/key': ['sig', 'sig-docker', 'bundle'],
  'cosign/annotated': ['sig', 'bundle'],
  'cosign/p384': ['sig', 'bundle'],
  'cosign/keyless': ['sig', 'bundle', 'bundle-timestamped'],
  'cosign/attest': ['key-bundle', 'key-att', 'keyless-bundle'],
  'github/app': ['attested'],
} as const;
type Repository = keyof typeof IMAGES;

let registry: TestRegistry;
let sigstore: SigstoreMockServer;
let awsJson: FakeAwsJsonEndpoint;
let dir: string;
let cosign: CosignCli;
const digests = new Map<string, string>();
const keys: { pub?: string; other?: string; p384?: string } = {};
const savedEnv = { ...process.env };

const image = (repository: Repository, tag: string) => `${registry.host}/${repository}:${tag}`;
const digestOf = (repository: Repository, tag: string) => digests.get(`${repository}:${tag}`) ?? '';
const byDigest = (repository: Repository, tag: string) =>
  `${registry.host}/${repository}@${digestOf(repository, tag)}`;

/** The claims GitHub Actions puts in its tokens that the mock Fulcio turns into extensions. */
const githubClaims = (sub: string): TokenClaims => ({
  iss: GITHUB,
  sub,
  repository: 'acme/app',
  ref: 'refs/heads/main',
  sha: '0123456789abcdef0123456789abcdef01234567',
  workflow: 'release',
  event_name: 'push',
});

function provenance(repository: Repository, tag: string): Record<string, unknown> {
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [
      { name: `${registry.host}/${repository}`, digest: { sha256: digestOf(repository, tag).slice(7) } },
    ],
    predicateType: SLSA_V1,
    predicate: {
      buildDefinition: {
        buildType: 'https://actions.github.io/buildtypes/workflow/v1',
        externalParameters: {
          workflow: { ref: 'refs/heads/main', repository: 'https://github.com/acme/app' },
        },
      },
      runDetails: { builder: { id: BUILDER } },
    },
  };
}

beforeAll(async () => {
  [registry, sigstore, awsJson, dir] = await Promise.all([
    startRegistry({ htpasswd: USER }),
    startSigstoreMock(),
    startFakeAwsJsonEndpoint(),
    makeTempDir('real-tools'),
  ]);
  awsJson.secrets.set(
    CREDENTIALS_SECRET,
    JSON.stringify({
      auths: {
        [registry.host]: { auth: Buffer.from(`${USER.username}:${USER.password}`).toString('base64') },
      },
    }),
  );
  cosign = await cosignCli(dir, { [registry.host]: USER });

  const pushes = Object.entries(IMAGES).flatMap(([repository, tags]) =>
    tags.map(async (tag) => {
      digests.set(`${repository}:${tag}`, await pushImage(registry.host, repository, tag, { auth: USER }));
    }),
  );
  await Promise.all([
    ...pushes,
    cosign.run(['generate-key-pair']),
    cosign.run(['generate-key-pair', '--output-key-prefix', 'other']),
  ]);
  keys.pub = await readFile(join(dir, 'cosign.pub'), 'utf8');
  keys.other = await readFile(join(dir, 'other.pub'), 'utf8');
  // A P-384 key, imported as users bring their own: cosign 3 signs with it using SHA-384.
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey;
  await cosign.file('p384.pem', p384.export({ format: 'pem', type: 'pkcs8' }).toString());
  await cosign.run(['import-key-pair', '--key', 'p384.pem', '--output-key-prefix', 'p384', '--yes']);
  keys.p384 = await readFile(join(dir, 'p384.pub'), 'utf8');

  const trustedRoot = await cosign.file('trusted_root.json', JSON.stringify(sigstore.trustedRoot()));
  const keyOnly = await cosign.file(
    'signing-config.key.json',
    JSON.stringify(sigstore.signingConfig({ fulcio: false, rekor: false })),
  );
  const keyless = await cosign.file('signing-config.keyless.json', JSON.stringify(sigstore.signingConfig()));
  const timestamped = await cosign.file(
    'signing-config.keyless-tsa.json',
    JSON.stringify(sigstore.signingConfig({ tsa: true })),
  );
  const token = await cosign.file('token', sigstore.identityToken(githubClaims(WORKFLOW)));
  const common = ['--allow-http-registry', '--yes'];
  // cosign 3: a signing config without a log = no upload (--tlog-upload=false is refused with one);
  // the legacy formats need the pre-signing-config flags.
  const legacyKey = ['--use-signing-config=false', '--tlog-upload=false', '--new-bundle-format=false'];
  const bundleKey = ['--signing-config', keyOnly, '--trusted-root', trustedRoot];
  const bundleKeyless = (config = keyless) => [
    '--signing-config',
    config,
    '--trusted-root',
    trustedRoot,
    '--identity-token',
    token,
  ];
  const legacyKeyless = [
    '--use-signing-config=false',
    '--new-bundle-format=false',
    '--fulcio-url',
    sigstore.url,
    '--rekor-url',
    sigstore.url,
    '--trusted-root',
    trustedRoot,
    '--identity-token',
    token,
  ];
  const predicate = await cosign.file(
    'provenance.json',
    JSON.stringify(provenance('cosign/attest', 'key-bundle').predicate),
  );
  const attest = ['attest', '--predicate', predicate, '--type', 'slsaprovenance1'];
  await cosign.run(
    ['sign', '--key', 'cosign.key', ...legacyKey, ...common, byDigest('cosign/key', 'sig-docker')],
    { env: { COSIGN_DOCKER_MEDIA_TYPES: '1' } },
  );
  // One at a time: the machine has two cores.
  for (const args of [
    ['sign', '--key', 'cosign.key', ...legacyKey, byDigest('cosign/key', 'sig')],
    ['sign', '--key', 'cosign.key', ...bundleKey, byDigest('cosign/key', 'bundle')],
    ['sign', '--key', 'cosign.key', '-a', 'env=prod', ...legacyKey, byDigest('cosign/annotated', 'sig')],
    ['sign', '--key', 'p384.key', ...legacyKey, byDigest('cosign/p384', 'sig')],
    ['sign', '--key', 'p384.key', ...bundleKey, byDigest('cosign/p384', 'bundle')],
    ['sign', '--key', 'cosign.key', '-a', 'env=prod', ...bundleKey, byDigest('cosign/annotated', 'bundle')],
    ['sign', ...legacyKeyless, byDigest('cosign/keyless', 'sig')],
    ['sign', ...bundleKeyless(), byDigest('cosign/keyless', 'bundle')],
    ['sign', ...bundleKeyless(timestamped), byDigest('cosign/keyless', 'bundle-timestamped')],
    [...attest, '--key', 'cosign.key', ...bundleKey, byDigest('cosign/attest', 'key-bundle')],
    [...attest, '--key', 'cosign.key', ...legacyKey, byDigest('cosign/attest', 'key-att')],
    [...attest, ...bundleKeyless(), byDigest('cosign/attest', 'keyless-bundle')],
  ]) {
    await cosign.run([...args, ...common]);
  }

  // A GitHub artifact attestation, made as actions/attest makes it (a plain Node child: see the script).
  await runChecked(process.execPath, [join(__dirname, '../support/real-tools-github-attest.mjs')], {
    input: JSON.stringify({
      fulcioURL: sigstore.url,
      rekorURL: sigstore.url,
      identityToken: sigstore.identityToken(githubClaims(WORKFLOW)),
      statement: provenance('github/app', 'attested'),
      imageName: `${registry.host}/github/app`,
      imageDigest: digestOf('github/app', 'attested'),
      credentials: USER,
    }),
    timeoutMs: 30_000,
  });

  // The SDK reads endpoints lazily: this environment stays until afterAll.
  Object.assign(process.env, awsEnvironment({ url: awsJson.url }, awsJson));
}, 60_000);

afterAll(async () => {
  process.env = savedEnv;
  await Promise.all([registry?.stop(), sigstore?.stop(), awsJson?.stop(), dir ? removeDir(dir) : undefined]);
});

// -------------------------------------------------------------------------------------------------
// Policies

type Attestor = Record<string, unknown>;
const keyAttestor = (pem: string | undefined): Attestor => ({ keys: { publicKeys: pem } });
const keylessAttestor = (subject: string): Attestor => ({ keyless: { subject, issuer: GITHUB } });

function verifyImagesPolicy(name: string, verifyImages: readonly Record<string, unknown>[]): string {
  return stringify({
    apiVersion: 'kyverno.io/v1',
    kind: 'ClusterPolicy',
    metadata: { name },
    spec: {
      webhookConfiguration: { failurePolicy: 'Fail' },
      rules: [{ name, match: { any: [{ resources: { kinds: ['Pod'] } }] }, verifyImages }],
    },
  });
}

const signatures = (references: string, attestor: Attestor) => ({
  imageReferences: [references],
  failureAction: 'Enforce',
  attestors: [{ entries: [attestor] }],
});

const provenanceOf = (references: string, attestor: Attestor) => ({
  imageReferences: [references],
  failureAction: 'Enforce',
  attestations: [
    {
      name: 'provenance',
      type: SLSA_V1,
      attestors: [{ entries: [attestor] }],
      conditions: [{ all: [{ key: '{{ runDetails.builder.id }}', operator: 'Equals', value: BUILDER }] }],
    },
  ],
});

/**
 * One policy per kind of signer; `key` and `subject` name who must have signed, `env` the
 * annotation `cosign sign -a env=prod` images must carry (signed with the right key), `p384Hash`
 * the hash the P-384 key is declared with.
 */
function policies(
  key: string | undefined,
  subject: string,
  env: string,
  p384Hash: string,
): Record<string, string> {
  const host = registry.host;
  return {
    'cosign-p384.yaml': verifyImagesPolicy('cosign-p384', [
      signatures(`${host}/cosign/p384:*`, { keys: { publicKeys: keys.p384, signatureAlgorithm: p384Hash } }),
    ]),
    'cosign-key.yaml': verifyImagesPolicy('cosign-key', [
      signatures(`${host}/cosign/key:*`, keyAttestor(key)),
    ]),
    'cosign-annotated.yaml': verifyImagesPolicy('cosign-annotated', [
      signatures(`${host}/cosign/annotated:*`, { ...keyAttestor(keys.pub), annotations: { env } }),
    ]),
    'cosign-keyless.yaml': verifyImagesPolicy('cosign-keyless', [
      signatures(`${host}/cosign/keyless:*`, keylessAttestor(subject)),
    ]),
    'cosign-attest.yaml': verifyImagesPolicy('cosign-attest', [
      provenanceOf(`${host}/cosign/attest:key-*`, keyAttestor(key)),
      provenanceOf(`${host}/cosign/attest:keyless-*`, keylessAttestor(subject)),
    ]),
    'github.yaml': verifyImagesPolicy('github-attestations', [
      provenanceOf(`${host}/github/app:*`, keylessAttestor(subject)),
    ]),
  };
}

async function handlerFor(files: Record<string, string>): Promise<Handler> {
  const folder = join(dir, `policies-${randomBytes(4).toString('hex')}`);
  const trust = join(folder, '..', `trust-${randomBytes(4).toString('hex')}`);
  await mkdir(folder);
  await mkdir(trust);
  await Promise.all(Object.entries(files).map(([name, text]) => writeFile(join(folder, name), text)));
  await writeFile(join(trust, 'mock.trusted_root.json'), JSON.stringify(sigstore.trustedRoot()));
  return loadHandler({
    IMAGEGATE_POLICIES: folder,
    IMAGEGATE_TRUST_ROOTS: trust,
    IMAGEGATE_INSECURE_REGISTRIES: registry.host,
    IMAGEGATE_REGISTRY_CREDENTIALS: `secretsmanager://${CREDENTIALS_SECRET}`,
  });
}

interface AdmissionResponse {
  allowed: boolean;
  status?: { message: string };
  patch?: string;
  warnings?: string[];
}

async function admit(handler: Handler, repository: Repository, tag: string): Promise<AdmissionResponse> {
  const name = `${repository.replace('/', '-')}-${tag}`;
  const result = await handler(
    httpEvent(JSON.stringify(podReview(name, [image(repository, tag)]))),
    {} as Context,
  );
  expect(result.statusCode).toBe(200);
  return (JSON.parse(result.body ?? '') as { response: AdmissionResponse }).response;
}

async function expectAdmittedAndPinned(handler: Handler, repository: Repository, tag: string) {
  const response = await admit(handler, repository, tag);
  expect(response.status?.message).toBeUndefined();
  expect(response.allowed).toBe(true);
  expect(imageOps(decodePatch(response))).toEqual([
    {
      op: 'replace',
      path: '/spec/containers/0/image',
      value: `${image(repository, tag)}@${digestOf(repository, tag)}`,
    },
  ]);
}

/** The one rule message of the denial. */
async function denial(handler: Handler, repository: Repository, tag: string): Promise<string> {
  const response = await admit(handler, repository, tag);
  expect(response.allowed).toBe(false);
  const { tree } = parseBlocked(response.status?.message);
  const rules = Object.values(tree as Record<string, Record<string, string>>).flatMap((rule) =>
    Object.values(rule),
  );
  expect(rules).toHaveLength(1);
  return rules[0] ?? '';
}

// -------------------------------------------------------------------------------------------------

describe('what the tools wrote (the formats imagegate must read)', () => {
  const tagOf = (repository: Repository, tag: string) => `sha256-${digestOf(repository, tag).slice(7)}`;
  const manifest = async (repository: Repository, reference: string) =>
    (await getManifest(registry.host, repository, reference, USER)) ?? { mediaType: 'none', json: {} };

  test('cosign 3 writes a legacy .sig / .att only when asked', async () => {
    const tags = await listTags(registry.host, 'cosign/key', USER);
    expect(tags).toEqual(
      expect.arrayContaining([`${tagOf('cosign/key', 'sig')}.sig`, tagOf('cosign/key', 'bundle')]),
    );
    expect(tags).not.toContain(`${tagOf('cosign/key', 'bundle')}.sig`);
    expect(await listTags(registry.host, 'cosign/attest', USER)).toContain(
      `${tagOf('cosign/attest', 'key-att')}.att`,
    );
    expect((await manifest('cosign/key', `${tagOf('cosign/key', 'sig')}.sig`)).mediaType).toBe(
      MediaTypes.ociManifest,
    );
    expect((await manifest('cosign/key', `${tagOf('cosign/key', 'sig-docker')}.sig`)).mediaType).toBe(
      MediaTypes.dockerManifest,
    );
  });

  test.each([
    ['cosign sign', 'cosign/key', 'bundle', 'https://sigstore.dev/cosign/sign/v1'],
    ['cosign attest', 'cosign/attest', 'keyless-bundle', SLSA_V1],
    ['@sigstore/oci', 'github/app', 'attested', SLSA_V1],
  ] as const)(
    '%s stores a v0.3 bundle as a referrer listed in the sha256-<hex> index (no referrers API here)',
    async (_tool, repository, tag, predicateType) => {
      const index = await manifest(repository, tagOf(repository, tag));
      expect(index.mediaType).toBe(MediaTypes.ociIndex);
      const [entry] = (index.json as { manifests: { digest: string }[] }).manifests;
      const referrer = (await manifest(repository, entry?.digest ?? '')).json;
      expect(referrer).toMatchObject({
        artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        layers: [{ mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json' }],
        subject: { digest: digestOf(repository, tag) },
        annotations: { 'dev.sigstore.bundle.predicateType': predicateType },
      });
    },
  );
});

describe('signed by the right signer: admitted and pinned', () => {
  let handler: Handler;
  beforeAll(async () => {
    handler = await handlerFor(policies(keys.pub, WORKFLOW, 'prod', 'sha384'));
  });

  test.each([
    ['cosign sign --key, legacy .sig', 'cosign/key', 'sig'],
    ['COSIGN_DOCKER_MEDIA_TYPES=1 cosign sign --key, legacy .sig', 'cosign/key', 'sig-docker'],
    ['cosign sign --key, Sigstore bundle', 'cosign/key', 'bundle'],
    ['cosign sign --key -a env=prod, legacy .sig', 'cosign/annotated', 'sig'],
    ['cosign sign --key -a env=prod, Sigstore bundle', 'cosign/annotated', 'bundle'],
    ['cosign sign --key <P-384>, legacy .sig (signatureAlgorithm: sha384)', 'cosign/p384', 'sig'],
    ['cosign sign --key <P-384>, Sigstore bundle (signatureAlgorithm: sha384)', 'cosign/p384', 'bundle'],
    ['cosign sign keyless (Fulcio + Rekor), legacy .sig', 'cosign/keyless', 'sig'],
    ['cosign sign keyless (Fulcio + Rekor), Sigstore bundle', 'cosign/keyless', 'bundle'],
    ['cosign sign keyless (Fulcio + Rekor + TSA), Sigstore bundle', 'cosign/keyless', 'bundle-timestamped'],
    ['cosign attest --key, Sigstore bundle', 'cosign/attest', 'key-bundle'],
    ['cosign attest --key, legacy .att', 'cosign/attest', 'key-att'],
    ['cosign attest keyless, Sigstore bundle', 'cosign/attest', 'keyless-bundle'],
    [
      '@sigstore/sign bundle attached by @sigstore/oci (GitHub artifact attestation)',
      'github/app',
      'attested',
    ],
  ] as const)('%s', async (_label, repository, tag) => {
    await expectAdmittedAndPinned(handler, repository, tag);
  });
});

describe('signed by someone else: denied with the reason', () => {
  let handler: Handler;
  beforeAll(async () => {
    handler = await handlerFor(policies(keys.other, STRANGER, 'dev', 'sha256'));
  });

  const failed = (repository: Repository, tag: string, reason: string) =>
    `image verification failed for ${image(repository, tag)}: ${reason}`;
  const attestationFailed = (repository: Repository, tag: string, reason: string) =>
    `image attestations verification failed for ${image(repository, tag)}: attestation "provenance" of type ${SLSA_V1}: verifiedCount: 0, requiredCount: 1: ${reason}`;
  const otherSubject = `signer identity mismatch: expected subject "${STRANGER}", found "${WORKFLOW}"`;

  test.each([
    ['cosign sign --key, legacy .sig', 'cosign/key', 'sig', failed, 'invalid signature'],
    [
      'cosign sign --key, legacy .sig, Docker media types',
      'cosign/key',
      'sig-docker',
      failed,
      'invalid signature',
    ],
    ['cosign sign --key, Sigstore bundle', 'cosign/key', 'bundle', failed, 'invalid signature'],
    [
      'cosign sign -a env=prod, legacy .sig',
      'cosign/annotated',
      'sig',
      failed,
      'annotation env is "prod", expected "dev"',
    ],
    [
      'cosign sign -a env=prod, Sigstore bundle',
      'cosign/annotated',
      'bundle',
      failed,
      'annotation env is "prod", expected "dev"',
    ],
    // cosign 3 signs with a P-384 key over SHA-384; like `cosign verify --key` without
    // --signature-digest-algorithm sha384, a key declared with the default sha256 does not verify.
    ['cosign sign --key <P-384>, legacy .sig, sha256', 'cosign/p384', 'sig', failed, 'invalid signature'],
    [
      'cosign sign --key <P-384>, Sigstore bundle, sha256',
      'cosign/p384',
      'bundle',
      failed,
      'invalid signature',
    ],
    ['cosign sign keyless, legacy .sig', 'cosign/keyless', 'sig', failed, otherSubject],
    ['cosign sign keyless, Sigstore bundle', 'cosign/keyless', 'bundle', failed, otherSubject],
    [
      'cosign sign keyless + TSA, Sigstore bundle',
      'cosign/keyless',
      'bundle-timestamped',
      failed,
      otherSubject,
    ],
    [
      'cosign attest --key, Sigstore bundle',
      'cosign/attest',
      'key-bundle',
      attestationFailed,
      'invalid signature',
    ],
    ['cosign attest --key, legacy .att', 'cosign/attest', 'key-att', attestationFailed, 'invalid signature'],
    [
      'cosign attest keyless, Sigstore bundle',
      'cosign/attest',
      'keyless-bundle',
      attestationFailed,
      otherSubject,
    ],
    ['GitHub artifact attestation', 'github/app', 'attested', attestationFailed, otherSubject],
  ] as const)('%s', async (_label, repository, tag, message, reason) => {
    expect(await denial(handler, repository, tag)).toBe(message(repository, tag, reason));
  });
});

describe("cosign 3's RFC 3161 timestamp from a TSA in the signing config", () => {
  /** Timestamps required (ctlog.tsaCertChain), the log not consulted (rekor.ignoreTlog). */
  const timestampPolicy = () => ({
    'timestamped.yaml': verifyImagesPolicy('timestamped', [
      signatures(`${registry.host}/cosign/keyless:bundle*`, {
        keyless: {
          subject: WORKFLOW,
          issuer: GITHUB,
          rekor: { ignoreTlog: true },
          ctlog: { tsaCertChain: sigstore.tsaChainPem },
        },
      }),
    ]),
  });

  test('the bundle carries the timestamp, and it alone dates the signature', async () => {
    const handler = await handlerFor(timestampPolicy());
    await expectAdmittedAndPinned(handler, 'cosign/keyless', 'bundle-timestamped');
    expect(await denial(handler, 'cosign/keyless', 'bundle')).toBe(
      `image verification failed for ${image('cosign/keyless', 'bundle')}: missing RFC 3161 timestamp: the policy's ctlog.tsaCertChain requires one`,
    );
  });
});
