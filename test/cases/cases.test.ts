/**
 * Table tests of Kyverno verifyImages semantics: every folder next to this file is one admission
 * request run through the Lambda handler (functions/admit.ts) against one real registry holding a
 * fixed set of signed images. See README.md in this folder for the layout of a case.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  attestImage,
  generateKeyPair,
  signImage,
  simpleSigningPayload,
  type TestKeyPair,
} from '../support/cosign-signer';
import { httpEvent, lambdaContext, loadHandler, type Handler } from '../support/handler';
import { pushImage } from '../support/images';
import { applyJsonPatch, kubectlCreate } from '../support/kubectl';
import {
  startCountingProxy,
  startRegistry,
  type CountingProxy,
  type TestRegistry,
} from '../support/registry';

type Json = Record<string, unknown>;

interface PatchOp {
  op: string;
  path: string;
  value?: unknown;
}

/** `case.json`: how the runner builds the AdmissionReview around `object.json` (or a kubectl-made object). */
interface CaseSpec {
  operation?: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  /** Default: the object's metadata.namespace, else `default`. */
  namespace?: string;
  /** Default: the object's metadata.name. */
  name?: string;
  /** Default: from the object's apiVersion and kind. */
  kind?: { group: string; version: string; kind: string };
  /** Default: the lower-case plural of the kind. */
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  userInfo?: { username: string; groups?: string[] };
  /** Build the object with `kubectl create <args> --dry-run=client -o json` instead of object.json. */
  kubectlCreate?: string[];
  /** JSON patch applied (with kubectl patch --local) to the object kubectl created, e.g. to add init containers. */
  objectPatch?: PatchOp[];
}

/** `expected.json` */
interface Expected {
  allowed: boolean;
  /**
   * The denial message with go-yaml's folding of long lines undone (each rule on one line); a list
   * is joined with newlines.
   */
  message?: string | string[];
  /** The denial message byte for byte, folding included; a list is joined with newlines. */
  exactMessage?: string | string[];
  /** Substrings the denial message (folding undone) must contain. */
  messageContains?: string[];
  /** Exact warnings, in order; none when left out. */
  warnings?: string[];
  /** Exact image ops (every op outside /metadata), as pointer -> pinned image; none when left out. */
  patch?: Record<string, string>;
  /** Whether the patch records the policy-set version in `metadata.annotations` (ADR 4). */
  /** Set (true), left alone (false / absent) or removed by the patch. */
  policySetAnnotation?: boolean | 'removed';
  /** Exact number of registry requests the review made (through the counting proxy). */
  registryRequests?: number;
}

interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { message: string };
  patchType?: string;
  patch?: string;
  warnings?: string[];
}

// IMAGEGATE_CASES_DIR runs the cases of another folder (e.g. ones kept out while a bug is open).
const CASES_DIR = process.env.IMAGEGATE_CASES_DIR ?? __dirname;
const REPOSITORY = 'team/app';
const SIGNATURE_REPOSITORY = 'team/sigs';
const POLICY_SET_ANNOTATION = 'imagegate.io/policy-set';
type KeyName = 'a' | 'b' | 'c';

/** The image set every case can use: tag -> how it is signed. */
interface ImageSpec {
  readonly keys: readonly KeyName[];
  /** Signatures stored in team/sigs instead of team/app. */
  readonly elsewhere?: readonly KeyName[];
  readonly optional?: Record<string, string>;
  /** A valid signature with key a, over a payload naming another image's digest. */
  readonly payloadFor?: string;
  /** Legacy `.att` attestations by key a: SLSA v0.2 provenance with this `builder.id`, optionally for another image's digest. */
  readonly provenance?: { readonly builder: string; readonly subjectFor?: string };
}

const SLSA_PROVENANCE = 'https://slsa.dev/provenance/v0.2';
const GITHUB_BUILDER =
  'https://github.com/slsa-framework/slsa-github-generator/.github/workflows/generator_container_slsa3.yml@refs/tags/v1.9.0';

const IMAGES: Readonly<Record<string, ImageSpec>> = {
  unsigned: { keys: [] },
  'signed-a': { keys: ['a'] },
  'signed-b': { keys: ['b'] },
  'signed-c': { keys: ['c'] },
  'signed-ab': { keys: ['a', 'b'] },
  'signed-ac': { keys: ['a', 'c'] },
  'signed-abc': { keys: ['a', 'b', 'c'] },
  'annotated-a': { keys: ['a'], optional: { env: 'prod' } },
  'sig-elsewhere-a': { keys: [], elsewhere: ['a'] },
  'sig-split-ab': { keys: ['b'], elsewhere: ['a'] },
  'wrong-digest-a': { keys: [], payloadFor: 'signed-a' },
  'attested-a': { keys: ['a'], provenance: { builder: GITHUB_BUILDER } },
  'attested-wrong-subject-a': {
    keys: ['a'],
    provenance: { builder: GITHUB_BUILDER, subjectFor: 'signed-a' },
  },
  'attested-other-builder-a': { keys: ['a'], provenance: { builder: 'https://ci.example.com/pipelines/42' } },
};

const caseNames = readdirSync(CASES_DIR, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

let registry: TestRegistry;
let proxy: CountingProxy;
let keys: Record<KeyName, TestKeyPair>;
const digests: Record<string, string> = {};
let workDir: string;

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startCountingProxy(registry.host);
  workDir = await mkdtemp(join(tmpdir(), 'imagegate-cases-'));
  keys = {
    a: generateKeyPair('ecdsa-p256'),
    b: generateKeyPair('rsa-2048'),
    c: generateKeyPair('ed25519'),
  };
  await Promise.all(
    Object.keys(IMAGES).map(async (tag) => {
      digests[tag] = await pushImage(registry.host, REPOSITORY, tag);
    }),
  );
  // Appending a signature layer rewrites the .sig manifest, so one image's signatures go one by one.
  await Promise.all(
    Object.entries(IMAGES).map(async ([tag, spec]) => {
      const digest = digests[tag]!;
      const dockerReference = `${proxy.host}/${REPOSITORY}`;
      for (const key of spec.keys) {
        await signImage(registry.host, REPOSITORY, digest, keys[key].privateKey, {
          dockerReference,
          ...(spec.optional ? { optional: spec.optional } : {}),
        });
      }
      for (const key of spec.elsewhere ?? []) {
        await signImage(registry.host, REPOSITORY, digest, keys[key].privateKey, {
          dockerReference,
          signatureRepository: SIGNATURE_REPOSITORY,
        });
      }
      if (spec.provenance) {
        await attestImage(
          registry.host,
          REPOSITORY,
          digest,
          keys.a.privateKey,
          SLSA_PROVENANCE,
          {
            builder: { id: spec.provenance.builder },
            buildType: 'https://github.com/slsa-framework/slsa-github-generator/container@v1',
            invocation: { configSource: { uri: 'git+https://github.com/acme/app@refs/tags/v1.0.0' } },
          },
          {
            subjectName: dockerReference,
            ...(spec.provenance.subjectFor ? { subjectDigest: digests[spec.provenance.subjectFor]! } : {}),
          },
        );
      }
      if (spec.payloadFor) {
        await signImage(registry.host, REPOSITORY, digest, keys.a.privateKey, {
          payloadOverride: simpleSigningPayload(dockerReference, digests[spec.payloadFor]!),
        });
      }
    }),
  );
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

test('the case folders are complete', () => {
  expect(caseNames.length).toBeGreaterThan(0);
  for (const name of caseNames) {
    const dir = join(CASES_DIR, name);
    const files = readdirSync(dir);
    const missing = ['README.md', 'policy.yaml', 'expected.json'].filter((file) => !files.includes(file));
    if (
      !files.includes('review.json') &&
      !files.includes('object.json') &&
      !readCaseSpec(dir).kubectlCreate
    ) {
      missing.push('review.json, object.json or case.json kubectlCreate');
    }
    expect({ name, missing }).toEqual({ name, missing: [] });
  }
});

test.each(caseNames)('%s', async (name) => {
  const dir = join(CASES_DIR, name);
  const policyText = readFileSync(join(dir, 'policy.yaml'), 'utf8');
  const policyFolder = await mkdtemp(join(workDir, `${name}-`));
  await writeFile(join(policyFolder, 'policy.yaml'), substitute(policyText, { yamlKeys: true }));
  const handler = loadHandler({
    IMAGEGATE_POLICIES: policyFolder,
    IMAGEGATE_INSECURE_REGISTRIES: proxy.host,
    // registry-unreachable-*: a closed loopback port, which the SSRF guard would refuse unless allowed.
    IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES: '127.0.0.1:1',
    IMAGEGATE_LOG_LEVEL: 'ERROR',
  });

  const needsVersion = ['review.json', 'object.json', 'old-object.json', 'expected.json', 'case.json'].some(
    (file) =>
      existsSync(join(dir, file)) && readFileSync(join(dir, file), 'utf8').includes('{{policySetVersion}}'),
  );
  let review = await buildReview(dir, name, 'probe-version-not-used');
  let version: string | undefined;
  if (needsVersion) {
    version = await probePolicySetVersion(handler, review, readJson(dir, 'probe-object.json', ''));
    review = await buildReview(dir, name, version);
  }
  const expected = JSON.parse(
    substitute(readFileSync(join(dir, 'expected.json'), 'utf8'), { version }),
  ) as Expected;

  proxy.reset();
  const response = await admit(handler, review);
  const requests = proxy.requests();
  const request = review.request as Json;

  expect(response.uid).toBe(request.uid);
  const message = response.status?.message;
  expect({ allowed: response.allowed, message: unfold(message) }).toEqual({
    allowed: expected.allowed,
    message: expectedMessage(expected, message),
  });
  if (expected.exactMessage !== undefined) expect(message).toBe(lines(expected.exactMessage));
  for (const part of expected.messageContains ?? []) expect(unfold(message)).toContain(part);
  expect(response.warnings ?? []).toEqual(expected.warnings ?? []);
  if (expected.registryRequests !== undefined) {
    expect(requests).toHaveLength(expected.registryRequests);
  }

  const patch = decodePatch(response);
  if (!response.allowed) {
    expect(patch).toEqual([]);
    return;
  }
  const imageOps = patch.filter((op) => !op.path.startsWith('/metadata/'));
  expect(imageOps).toEqual(
    Object.entries(expected.patch ?? {}).map(([path, value]) => ({ op: 'replace', path, value })),
  );
  const object = request.object as Json;
  const metadataOps = patch.filter((op) => op.path.startsWith('/metadata/'));
  if (expected.policySetAnnotation === 'removed') {
    expect(metadataOps).toEqual([
      { op: 'remove', path: `/metadata/annotations/${POLICY_SET_ANNOTATION.replace('/', '~1')}` },
    ]);
  } else if (expected.policySetAnnotation) {
    const recorded = metadataOps.at(-1)?.value;
    expect(typeof recorded).toBe('string');
    const hasAnnotations = typeof (object.metadata as Json | undefined)?.annotations === 'object';
    expect(metadataOps).toEqual([
      ...(hasAnnotations ? [] : [{ op: 'add', path: '/metadata/annotations', value: {} }]),
      {
        op: 'add',
        path: `/metadata/annotations/${POLICY_SET_ANNOTATION.replace('/', '~1')}`,
        value: recorded,
      },
    ]);
  } else {
    expect(metadataOps).toEqual([]);
  }
  if (response.patchType !== undefined) expect(response.patchType).toBe('JSONPatch');
  if (patch.length === 0) {
    expect(response.patch).toBeUndefined();
    return;
  }

  // The API server applies the patch: kubectl must accept it, and only the expected images change.
  const patched = (await applyJsonPatch(object, patch)) as Json;
  const wanted: Record<string, unknown> = { ...imagesOf(object), ...expected.patch };
  const applied = Object.fromEntries(
    Object.keys(wanted).map((pointer) => [pointer, resolve(patched, pointer)]),
  );
  expect(applied).toEqual(wanted);
  if (expected.policySetAnnotation === true && version !== undefined) {
    // The value an UPDATE records is the one a CREATE of the stored result records, so the next
    // UPDATE of it can skip what was verified.
    const stored = {
      ...review,
      request: { ...request, uid: `${String(request.uid)}-stored`, oldObject: patched },
    };
    expect(metadataOps.at(-1)?.value).toBe(await probePolicySetVersion(handler, stored));
  }
  const patchedAnnotations = ((patched.metadata as Json).annotations ?? {}) as Record<string, string>;
  if (expected.policySetAnnotation === 'removed') {
    expect(patchedAnnotations[POLICY_SET_ANNOTATION]).toBeUndefined();
  } else if (expected.policySetAnnotation) {
    expect(patchedAnnotations[POLICY_SET_ANNOTATION]).toBe(metadataOps.at(-1)?.value);
  }
});

async function admit(handler: Handler, review: Json): Promise<AdmissionResponse> {
  const result = await handler(httpEvent(JSON.stringify(review)), lambdaContext);
  expect(result.statusCode).toBe(200);
  return (JSON.parse(result.body ?? '') as { response: AdmissionResponse }).response;
}

/**
 * The `imagegate.io/policy-set` value the handler records (policy-set version and fingerprint of
 * the verified images): cases about UPDATE put it in `oldObject` as `{{policySetVersion}}`,
 * claiming the stored object was admitted under the current policies. So the stored object
 * (stripped of the annotation) — or `probeObject` (`probe-object.json`: another object whose
 * annotation was copied) — is admitted once more, as a CREATE, and the value read from the
 * annotation op of its patch.
 */
async function probePolicySetVersion(handler: Handler, review: Json, probeObject?: Json): Promise<string> {
  const request = review.request as Json;
  const object = structuredClone(probeObject ?? request.oldObject ?? request.object) as Json;
  const metadata = (object.metadata ?? {}) as Json;
  const annotations = (metadata.annotations ?? {}) as Json;
  delete annotations[POLICY_SET_ANNOTATION];
  if (Object.keys(annotations).length === 0) delete metadata.annotations;
  const probe = {
    ...review,
    request: {
      ...request,
      uid: `${String(request.uid)}-probe`,
      operation: 'CREATE',
      object,
      oldObject: null,
    },
  };
  delete (probe.request as Json).subResource;
  const response = await admit(handler, probe);
  const op = decodePatch(response).find((candidate) => candidate.path.endsWith('imagegate.io~1policy-set'));
  if (typeof op?.value !== 'string') {
    throw new Error(`probe for the policy-set version got no annotation op: ${JSON.stringify(response)}`);
  }
  return op.value;
}

function readCaseSpec(dir: string): CaseSpec {
  const file = join(dir, 'case.json');
  return existsSync(file) ? (JSON.parse(substitute(readFileSync(file, 'utf8'), {})) as CaseSpec) : {};
}

function readJson(dir: string, file: string, version: string): Json | undefined {
  const path = join(dir, file);
  return existsSync(path)
    ? (JSON.parse(substitute(readFileSync(path, 'utf8'), { version })) as Json)
    : undefined;
}

/** review.json as is, or an AdmissionReview around object.json / a kubectl-made object and case.json. */
async function buildReview(dir: string, name: string, version: string): Promise<Json> {
  const review = readJson(dir, 'review.json', version);
  if (review) return review;
  const spec = readCaseSpec(dir);
  let object = readJson(dir, 'object.json', version);
  if (spec.kubectlCreate) {
    object = (await kubectlCreate(spec.kubectlCreate)) as Json;
    if (spec.objectPatch) object = (await applyJsonPatch(object, spec.objectPatch)) as Json;
  }
  if (!object) throw new Error(`${name}: no object`);
  const metadata = (object.metadata ?? {}) as Json;
  const [group, version_] = String(object.apiVersion).includes('/')
    ? String(object.apiVersion).split('/')
    : ['', String(object.apiVersion)];
  const kind = spec.kind ?? { group: group ?? '', version: version_ ?? '', kind: String(object.kind) };
  const operation = spec.operation ?? 'CREATE';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `uid-${name}`,
      kind,
      resource: spec.resource ?? { group: kind.group, version: kind.version, resource: plural(kind.kind) },
      ...(spec.subResource ? { subResource: spec.subResource } : {}),
      name: spec.name ?? metadata.name,
      namespace: spec.namespace ?? metadata.namespace ?? 'default',
      operation,
      userInfo: spec.userInfo ?? {
        username: 'kubernetes-admin',
        groups: ['kubeadm:cluster-admins', 'system:authenticated'],
      },
      object: operation === 'DELETE' ? null : object,
      oldObject: readJson(dir, 'old-object.json', version) ?? (operation === 'DELETE' ? object : null),
      dryRun: false,
    },
  };
}

function plural(kind: string): string {
  const lower = kind.toLowerCase();
  return lower.endsWith('s') ? `${lower}es` : `${lower}s`;
}

/**
 * Fills the placeholders: `{{registry}}` (the counting proxy's 127.0.0.1:PORT), `{{digest:<tag>}}`,
 * `{{policySetVersion}}`, and in policies a line holding only `{{key:a}}` (`b`, `c`), replaced by
 * that PEM public key with the line's indentation, so the key sits inside a YAML block scalar.
 */
function substitute(text: string, options: { yamlKeys?: boolean; version?: string | undefined }): string {
  let out = text;
  if (options.yamlKeys) {
    out = out.replace(/^([ \t]*)\{\{key:([a-z])\}\}[ \t]*$/gm, (_line, indent: string, name: string) => {
      const key = keys[name as KeyName] as TestKeyPair | undefined;
      if (!key) throw new Error(`unknown key {{key:${name}}}`);
      return key.publicKeyPem
        .trim()
        .split('\n')
        .map((line) => `${indent}${line}`)
        .join('\n');
    });
  }
  out = out.replace(/\{\{([a-zA-Z]+)(?::([^}]+))?\}\}/g, (placeholder, name: string, argument?: string) => {
    if (name === 'registry' && argument === undefined) return proxy.host;
    if (name === 'digest' && argument !== undefined && digests[argument]) return digests[argument];
    if (name === 'policySetVersion' && argument === undefined && options.version) return options.version;
    throw new Error(`unknown or misplaced placeholder ${placeholder}`);
  });
  return out;
}

function lines(text: string | string[]): string {
  return Array.isArray(text) ? text.join('\n') : text;
}

/**
 * Undoes go-yaml's folding in Kyverno's denial tree: a long message continues on lines indented
 * four spaces (policies sit at column 0, rules at 2), each fold having replaced one space.
 */
function unfold(message: string | undefined): string | undefined {
  return message?.replace(/\n {4}(?=\S)/g, ' ');
}

function expectedMessage(expected: Expected, actual: string | undefined): string | undefined {
  if (expected.message !== undefined) return unfold(lines(expected.message));
  if (expected.exactMessage !== undefined) return unfold(lines(expected.exactMessage));
  // Without a message, only its presence is checked here (messageContains does the rest).
  return expected.allowed ? undefined : actual ? unfold(actual) : '(a denial message)';
}

function decodePatch(response: AdmissionResponse): PatchOp[] {
  return response.patch
    ? (JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as PatchOp[])
    : [];
}

/** Every image field of an object (container `image`, image volume `image.reference`), by JSON pointer. */
function imagesOf(value: unknown, pointer = ''): Record<string, string> {
  if (typeof value !== 'object' || value === null) return {};
  const found: Record<string, string> = {};
  for (const [key, child] of Object.entries(value)) {
    const path = `${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    const imageField = key === 'image' || (key === 'reference' && pointer.endsWith('/image'));
    if (imageField && typeof child === 'string') found[path] = child;
    else Object.assign(found, imagesOf(child, path));
  }
  return found;
}

function resolve(value: unknown, pointer: string): unknown {
  return pointer
    .split('/')
    .slice(1)
    .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((node, segment) => (node as Record<string, unknown> | undefined)?.[segment], value);
}
