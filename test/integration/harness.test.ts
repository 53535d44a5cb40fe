/**
 * Proves the integration-test harness itself: the throw-away registry, image pushes, the cosign `.sig`
 * writer (cross-checked with openssl, an independent verifier), htpasswd auth, the counting proxy and
 * kubectl's local JSON patching.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  fetchSignatures,
  generateKeyPair,
  KEY_KINDS,
  signatureTag,
  signImage,
  signPayload,
  simpleSigningPayload,
  type KeyKind,
} from '../support/cosign-signer';
import {
  fetchBlob,
  getManifest,
  listTags,
  moveTag,
  pushImage,
  pushImageDetailed,
  pushIndex,
  registryFetch,
  sha256Digest,
} from '../support/images';
import { applyJsonPatch, KubectlError, kubectlCreate } from '../support/kubectl';
import { makeTempDir, removeDir, run } from '../support/processes';
import {
  startCountingProxy,
  startRegistry,
  type CountingProxy,
  type TestRegistry,
} from '../support/registry';

// Literal strings on purpose: the test must not share constants with the code it checks.
const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

let registry: TestRegistry;
let scratch: string;
let seq = 0;
const uniqueRepo = (name: string) => `harness/${name}-${++seq}`;

beforeAll(async () => {
  scratch = await makeTempDir('harness');
  registry = await startRegistry();
});

afterAll(async () => {
  await registry?.stop();
  if (scratch) await removeDir(scratch);
});

function verifyWith(publicKey: KeyObject, payload: Buffer, signatureB64: string): boolean {
  const algorithm = publicKey.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  return verify(algorithm, payload, publicKey, Buffer.from(signatureB64, 'base64'));
}

/** openssl as an independent verifier: `openssl dgst -sha256 -verify pub.pem -signature sig.der payload`. */
async function opensslVerify(
  kind: KeyKind,
  publicKeyPem: string,
  payload: Buffer,
  signatureB64: string,
): Promise<{ ok: boolean; output: string }> {
  const dir = await makeTempDir('openssl');
  try {
    const pub = join(dir, 'pub.pem');
    const sig = join(dir, 'sig.der');
    const data = join(dir, 'payload.json');
    await writeFile(pub, publicKeyPem);
    await writeFile(sig, Buffer.from(signatureB64, 'base64'));
    await writeFile(data, payload);
    const args =
      kind === 'ed25519'
        ? ['pkeyutl', '-verify', '-pubin', '-inkey', pub, '-rawin', '-in', data, '-sigfile', sig]
        : ['dgst', '-sha256', '-verify', pub, '-signature', sig, data];
    const result = await run('openssl', args);
    const output = (result.stdout + result.stderr).trim();
    const ok = result.code === 0 && /Verified OK|Signature Verified Successfully/.test(output);
    return { ok, output };
  } finally {
    await removeDir(dir);
  }
}

describe('registry and image pushes', () => {
  test('startRegistry serves the distribution API on 127.0.0.1 with an ephemeral port', async () => {
    expect(registry.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(registry.url).toBe(`http://${registry.host}`);
    const res = await fetch(`${registry.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(await res.json()).toEqual({});
  });

  test('pushImage (OCI) returns the digest the registry reports in Docker-Content-Digest', async () => {
    const repo = uniqueRepo('oci');
    const pushed = await pushImageDetailed(registry.host, repo, 'v1', { content: 'hello oci\n' });
    expect(pushed.digest).toMatch(/^sha256:[0-9a-f]{64}$/);

    const res = await fetch(`${registry.url}/v2/${repo}/manifests/v1`, {
      headers: { accept: OCI_MANIFEST },
    });
    expect(res.status).toBe(200);
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.headers.get('docker-content-digest')).toBe(pushed.digest);
    expect(sha256Digest(body)).toBe(pushed.digest);
    expect(res.headers.get('content-type')).toBe(OCI_MANIFEST);

    const head = await fetch(`${registry.url}/v2/${repo}/manifests/v1`, {
      method: 'HEAD',
      headers: { accept: OCI_MANIFEST },
    });
    expect(head.headers.get('docker-content-digest')).toBe(pushed.digest);

    // Registry quirk the webhook must handle: no OCI type in Accept -> 404 for an OCI manifest.
    const noOci = await fetch(`${registry.url}/v2/${repo}/manifests/v1`, {
      headers: { accept: DOCKER_MANIFEST },
    });
    expect(noOci.status).toBe(404);
    await noOci.arrayBuffer();

    // The layer is a real gzipped tar holding the given content.
    const layer = await fetchBlob(registry.host, repo, pushed.layerDigest);
    const tar = gunzipSync(layer);
    expect(tar.subarray(0, 9).toString()).toBe('hello.txt');
    expect(tar.subarray(257, 262).toString()).toBe('ustar');
    expect(tar.subarray(512, 522).toString()).toBe('hello oci\n');
  });

  test('pushImage (docker) stores a Docker schema-2 manifest', async () => {
    const repo = uniqueRepo('docker');
    const digest = await pushImage(registry.host, repo, 'v1', { mediaType: 'docker' });
    const fetched = await getManifest(registry.host, repo, 'v1');
    expect(fetched?.digest).toBe(digest);
    expect(fetched?.mediaType).toBe(DOCKER_MANIFEST);
    expect(fetched?.json).toMatchObject({
      schemaVersion: 2,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json' },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip' }],
    });
  });

  test('equal content gives equal digests, random content distinct ones, and moveTag re-points a tag', async () => {
    const repo = uniqueRepo('tags');
    const a = await pushImage(registry.host, repo, 'a', { content: 'same' });
    const b = await pushImage(registry.host, repo, 'b', { content: 'same' });
    expect(b).toBe(a);
    const r1 = await pushImage(registry.host, repo, 'r1');
    const r2 = await pushImage(registry.host, repo, 'r2');
    expect(r1).not.toBe(r2);

    const moved = await moveTag(registry.host, repo, 'a');
    expect(moved).not.toBe(a);
    expect((await getManifest(registry.host, repo, 'a'))?.digest).toBe(moved);
    expect((await getManifest(registry.host, repo, a))?.digest).toBe(a); // old digest still pullable
    expect((await listTags(registry.host, repo)).sort()).toEqual(['a', 'b', 'r1', 'r2']);
  });

  test('pushIndex writes an OCI image index over pushed children', async () => {
    const repo = uniqueRepo('index');
    const amd = await pushImage(registry.host, repo, 'amd64');
    const arm = await pushImage(registry.host, repo, 'arm64', { mediaType: 'docker' });
    const index = await pushIndex(registry.host, repo, 'multi', [amd, arm]);
    const fetched = await getManifest(registry.host, repo, 'multi');
    expect(fetched?.digest).toBe(index);
    expect(fetched?.mediaType).toBe(OCI_INDEX);
    expect(fetched?.json).toMatchObject({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        { digest: amd, mediaType: OCI_MANIFEST, platform: { architecture: 'amd64', os: 'linux' } },
        {
          digest: arm,
          mediaType: DOCKER_MANIFEST,
          platform: { architecture: 'arm64', os: 'linux' },
        },
      ],
    });
  });
});

describe('cosign legacy .sig writer', () => {
  test('simpleSigningPayload is byte-exact Go encoding/json output', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    expect(simpleSigningPayload('127.0.0.1:5000/test/app', digest).toString()).toBe(
      '{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/test/app"},' +
        `"image":{"docker-manifest-digest":"${digest}"},` +
        '"type":"cosign container image signature"},"optional":null}',
    );
    expect(simpleSigningPayload('r', digest, { z: '1', a: '<&>' }).toString()).toBe(
      '{"critical":{"identity":{"docker-reference":"r"},' +
        `"image":{"docker-manifest-digest":"${digest}"},` +
        '"type":"cosign container image signature"},"optional":{"a":"\\u003c\\u0026\\u003e","z":"1"}}',
    );
  });

  test.each(KEY_KINDS)(
    '%s: the .sig manifest has cosign’s exact shape and the signature verifies',
    async (kind) => {
      const repo = uniqueRepo(`sign-${kind}`);
      const digest = await pushImage(registry.host, repo, 'v1');
      const key = generateKeyPair(kind);
      expect(key.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
      const result = await signImage(registry.host, repo, digest, key.privateKey);
      expect(result.tag).toBe(`sha256-${digest.slice('sha256:'.length)}.sig`);
      expect(await listTags(registry.host, repo)).toContain(result.tag);

      const sigs = await fetchSignatures(registry.host, repo, digest);
      expect(sigs).not.toBeNull();
      expect(sigs!.manifestDigest).toBe(result.manifestDigest);
      expect(sigs!.mediaType).toBe(OCI_MANIFEST);
      expect(sigs!.layers).toHaveLength(1);
      const layer = sigs!.layers[0]!;
      expect(layer.descriptor.mediaType).toBe(SIMPLE_SIGNING_MEDIA_TYPE);
      expect(Object.keys(layer.descriptor.annotations ?? {})).toEqual([SIGNATURE_ANNOTATION]);
      expect(layer.payload.equals(simpleSigningPayload(`${registry.host}/${repo}`, digest))).toBe(true);
      expect(JSON.parse(layer.payload.toString())).toMatchObject({
        critical: { image: { 'docker-manifest-digest': digest } },
      });
      expect(sigs!.manifest).toEqual({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: {
          mediaType: OCI_CONFIG,
          size: expect.any(Number),
          digest: expect.stringMatching(/^sha256:/),
        },
        layers: [
          {
            mediaType: SIMPLE_SIGNING_MEDIA_TYPE,
            size: layer.payload.length,
            digest: sha256Digest(layer.payload),
            annotations: { [SIGNATURE_ANNOTATION]: layer.signature },
          },
        ],
      });
      expect(sigs!.config).toEqual({
        architecture: '',
        created: '0001-01-01T00:00:00Z',
        history: [{ created: '0001-01-01T00:00:00Z' }],
        os: '',
        rootfs: { type: 'layers', diff_ids: [sha256Digest(layer.payload)] },
        config: {},
      });

      const publicKey = createPublicKey(key.publicKeyPem);
      expect(verifyWith(publicKey, layer.payload, layer.signature!)).toBe(true);
      const other = generateKeyPair(kind === 'ed25519' ? 'ed25519' : 'ecdsa-p256');
      expect(verifyWith(other.publicKey, layer.payload, layer.signature!)).toBe(false);
    },
  );

  test.each<KeyKind>(['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'ed25519'])(
    '%s: openssl verifies the stored signature and rejects a tampered payload',
    async (kind) => {
      const repo = uniqueRepo(`openssl-${kind}`);
      const digest = await pushImage(registry.host, repo, 'v1');
      const key = generateKeyPair(kind);
      await signImage(registry.host, repo, digest, key.privateKey);
      const layer = (await fetchSignatures(registry.host, repo, digest))!.layers[0]!;

      const good = await opensslVerify(kind, key.publicKeyPem, layer.payload, layer.signature!);
      expect(good).toEqual({ ok: true, output: expect.stringMatching(/Verified OK|Verified Successfully/) });

      const tampered = Buffer.from(layer.payload.toString().replace(digest, `sha256:${'0'.repeat(64)}`));
      expect(tampered.equals(layer.payload)).toBe(false);
      const bad = await opensslVerify(kind, key.publicKeyPem, tampered, layer.signature!);
      expect(bad.ok).toBe(false);
      expect(bad.output).toMatch(/Verification failure|Signature Verification Failure/i);
    },
  );

  test('payloadOverride + signedBytes store a tampered payload that openssl rejects', async () => {
    const repo = uniqueRepo('tamper');
    const digest = await pushImage(registry.host, repo, 'v1');
    const key = generateKeyPair('ecdsa-p256');
    const honest = simpleSigningPayload(`${registry.host}/${repo}`, digest);
    const forged = simpleSigningPayload(`${registry.host}/${repo}`, `sha256:${'1'.repeat(64)}`);
    await signImage(registry.host, repo, digest, key.privateKey, {
      payloadOverride: forged,
      signedBytes: honest,
    });
    const layer = (await fetchSignatures(registry.host, repo, digest))!.layers[0]!;
    expect(layer.payload.equals(forged)).toBe(true);
    expect((await opensslVerify('ecdsa-p256', key.publicKeyPem, layer.payload, layer.signature!)).ok).toBe(
      false,
    );
    expect((await opensslVerify('ecdsa-p256', key.publicKeyPem, honest, layer.signature!)).ok).toBe(true);
  });

  test('a second signer appends a second layer; each layer verifies only with its own key', async () => {
    const repo = uniqueRepo('two-signers');
    const digest = await pushImage(registry.host, repo, 'v1');
    const alice = generateKeyPair('ecdsa-p256');
    const bob = generateKeyPair('rsa-2048');
    const first = await signImage(registry.host, repo, digest, alice.privateKey);
    const second = await signImage(registry.host, repo, digest, bob.privateKey, {
      optional: { signer: 'bob' },
    });
    expect(first.layerCount).toBe(1);
    expect(second.layerCount).toBe(2);
    expect(second.manifestDigest).not.toBe(first.manifestDigest);

    const sigs = (await fetchSignatures(registry.host, repo, digest))!;
    expect(sigs.manifestDigest).toBe(second.manifestDigest);
    expect(sigs.layers).toHaveLength(2);
    const [a, b] = sigs.layers as [(typeof sigs.layers)[0], (typeof sigs.layers)[0]];
    expect(a.descriptor.digest).toBe(first.layer.digest);
    expect(a.signature).toBe(first.signature);
    expect(JSON.parse(b.payload.toString()).optional).toEqual({ signer: 'bob' });
    expect(verifyWith(alice.publicKey, a.payload, a.signature!)).toBe(true);
    expect(verifyWith(bob.publicKey, a.payload, a.signature!)).toBe(false);
    expect(verifyWith(bob.publicKey, b.payload, b.signature!)).toBe(true);
    expect(verifyWith(alice.publicKey, b.payload, b.signature!)).toBe(false);
    expect(sigs.config).toMatchObject({
      history: [{ created: '0001-01-01T00:00:00Z' }, { created: '0001-01-01T00:00:00Z' }],
      rootfs: { type: 'layers', diff_ids: [a.descriptor.digest, b.descriptor.digest] },
    });
  });

  test('signatureRepository, garbage and missing signature annotations', async () => {
    const repo = uniqueRepo('app');
    const sigRepo = uniqueRepo('signatures');
    const digest = await pushImage(registry.host, repo, 'v1');
    const key = generateKeyPair('ecdsa-p256');
    await signImage(registry.host, repo, digest, key.privateKey, { signatureRepository: sigRepo });
    expect(await fetchSignatures(registry.host, repo, digest)).toBeNull();
    const elsewhere = (await fetchSignatures(registry.host, sigRepo, digest))!;
    expect(elsewhere.tag).toBe(signatureTag(digest));
    // docker-reference names the image's repository, not the signature repository.
    expect(
      elsewhere.layers[0]!.payload.equals(simpleSigningPayload(`${registry.host}/${repo}`, digest)),
    ).toBe(true);
    expect(verifyWith(key.publicKey, elsewhere.layers[0]!.payload, elsewhere.layers[0]!.signature!)).toBe(
      true,
    );

    await signImage(registry.host, repo, digest, key.privateKey, { signatureOverride: 'Z2FyYmFnZQ==' });
    await signImage(registry.host, repo, digest, key.privateKey, { signatureOverride: null });
    const layers = (await fetchSignatures(registry.host, repo, digest))!.layers;
    expect(layers.map((l) => l.signature)).toEqual(['Z2FyYmFnZQ==', undefined]);
    expect(layers[1]!.descriptor.annotations).toBeUndefined();
    expect(verifyWith(key.publicKey, layers[0]!.payload, layers[0]!.signature!)).toBe(false);
  });

  test('signPayload uses sha256 by default and honours another hash', () => {
    const key = generateKeyPair('ecdsa-p384');
    const payload = Buffer.from('payload');
    const sig = Buffer.from(signPayload(payload, key.privateKey), 'base64');
    expect(verify('sha256', payload, key.publicKey, sig)).toBe(true);
    expect(verify('sha384', payload, key.publicKey, sig)).toBe(false);
    const sig384 = Buffer.from(signPayload(payload, key.privateKey, 'sha384'), 'base64');
    expect(verify('sha384', payload, key.publicKey, sig384)).toBe(true);
  });
});

describe('htpasswd registry', () => {
  const auth = { username: 'testuser', password: 'testpass' };
  let secured: TestRegistry;

  beforeAll(async () => {
    secured = await startRegistry({ htpasswd: auth });
  });
  afterAll(async () => {
    await secured?.stop();
  });

  test('rejects anonymous and wrong credentials, accepts basic auth', async () => {
    const anon = await fetch(`${secured.url}/v2/`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toBe('Basic realm="test-realm"');
    await anon.arrayBuffer();

    const wrong = await registryFetch(secured.host, '/v2/', { auth: { ...auth, password: 'nope' } });
    expect(wrong.status).toBe(401);
    await wrong.arrayBuffer();

    const ok = await registryFetch(secured.host, '/v2/', { auth });
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
  });

  test('push, sign and read back work only with credentials', async () => {
    await expect(pushImage(secured.host, 'private/app', 'v1')).rejects.toThrow(/HTTP 401/);
    const digest = await pushImage(secured.host, 'private/app', 'v1', { auth });
    const key = generateKeyPair('ecdsa-p256');
    await signImage(secured.host, 'private/app', digest, key.privateKey, { auth });
    await expect(getManifest(secured.host, 'private/app', 'v1')).rejects.toThrow(/HTTP 401/);
    expect((await getManifest(secured.host, 'private/app', 'v1', auth))?.digest).toBe(digest);
    const layer = (await fetchSignatures(secured.host, 'private/app', digest, auth))!.layers[0]!;
    expect(verifyWith(key.publicKey, layer.payload, layer.signature!)).toBe(true);
  });
});

describe('counting proxy', () => {
  let proxy: CountingProxy;

  beforeAll(async () => {
    proxy = await startCountingProxy(registry.host);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  test('forwards unchanged and records every request', async () => {
    const repo = uniqueRepo('proxied');
    proxy.reset();
    const before = registry.requests();
    const digest = await pushImage(proxy.host, repo, 'v1');
    expect(proxy.count()).toBe(5);
    const uploads = new RegExp(`^PUT /v2/${repo}/blobs/uploads/[0-9a-f-]+$`);
    expect(proxy.requests()).toEqual([
      `POST /v2/${repo}/blobs/uploads/`,
      expect.stringMatching(uploads),
      `POST /v2/${repo}/blobs/uploads/`,
      expect.stringMatching(uploads),
      `PUT /v2/${repo}/manifests/v1`,
    ]);
    // The registry's own (log-based) counter saw the same five requests.
    expect(await registry.waitForRequestCount(before + 5)).toBe(before + 5);

    proxy.reset();
    expect(proxy.count()).toBe(0);
    expect(proxy.requests()).toEqual([]);

    const viaProxy = await getManifest(proxy.host, repo, 'v1');
    const direct = await getManifest(registry.host, repo, 'v1');
    expect(viaProxy?.digest).toBe(digest);
    expect(viaProxy?.body.equals(direct!.body)).toBe(true);
    expect(viaProxy?.mediaType).toBe(OCI_MANIFEST);
    const head = await fetch(`${proxy.url}/v2/${repo}/manifests/v1`, {
      method: 'HEAD',
      headers: { accept: OCI_MANIFEST },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get('docker-content-digest')).toBe(digest);
    expect(head.headers.get('content-length')).toBe(String(direct!.body.length));
    const missing = await fetch(`${proxy.url}/v2/${repo}/manifests/nope`, {
      headers: { accept: OCI_MANIFEST },
    });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ errors: [{ code: 'MANIFEST_UNKNOWN' }] });
    expect(proxy.requests()).toEqual([
      `GET /v2/${repo}/manifests/v1`,
      `HEAD /v2/${repo}/manifests/v1`,
      `GET /v2/${repo}/manifests/nope`,
    ]);
  }, 10_000);
});

describe('kubectl', () => {
  test('kubectlCreate builds a Deployment and applyJsonPatch applies a replace patch', async () => {
    const image = `${registry.host}/test/app:v1`;
    const deployment = (await kubectlCreate(['deployment', 'web', `--image=${image}`, '--replicas=2'])) as {
      kind: string;
      apiVersion: string;
      spec: { replicas: number; template: { spec: { containers: { name: string; image: string }[] } } };
    };
    expect(deployment.kind).toBe('Deployment');
    expect(deployment.apiVersion).toBe('apps/v1');
    expect(deployment.spec.template.spec.containers[0]!.image).toBe(image);

    const pinned = `${registry.host}/test/app@sha256:${'0'.repeat(64)}`;
    const patched = (await applyJsonPatch(deployment, [
      { op: 'replace', path: '/spec/template/spec/containers/0/image', value: pinned },
      { op: 'add', path: '/metadata/annotations', value: { 'imagegate.dev~verified': 'true' } },
      { op: 'add', path: '/metadata/annotations/policy.example.com~1verified', value: 'yes' },
    ])) as typeof deployment & { metadata: { annotations: Record<string, string> } };
    expect(patched.spec.template.spec.containers[0]).toEqual({
      ...deployment.spec.template.spec.containers[0],
      image: pinned,
    });
    expect(patched.spec.replicas).toBe(2);
    expect(patched.metadata.annotations).toEqual({
      'imagegate.dev~verified': 'true',
      'policy.example.com/verified': 'yes',
    });
  });

  test('applyJsonPatch rejects with kubectl’s error for a failing test op or a missing path', async () => {
    const job = await kubectlCreate(['job', 'j', '--image=busybox:1.36']);
    expect(job).toMatchObject({ kind: 'Job', apiVersion: 'batch/v1' });
    const failing = applyJsonPatch(job, [{ op: 'test', path: '/kind', value: 'Pod' }]);
    await expect(failing).rejects.toBeInstanceOf(KubectlError);
    await expect(failing).rejects.toThrow(/test/);
    await expect(
      applyJsonPatch(job, [{ op: 'replace', path: '/spec/template/spec/containers/7/image', value: 'x' }]),
    ).rejects.toThrow(/error/);
  });
});
