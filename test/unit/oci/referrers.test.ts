/** Sigstore bundle discovery: the referrers API, the `sha256-<hex>` fallback tag, and what is skipped. */
import { createHash } from 'node:crypto';
import { RegistryContentError, RegistryError } from '../../../lib/model/registry-errors';
import { SIGSTORE_BUNDLE_ARTIFACT_TYPE } from '../../../lib/model/cosign-format';
import { fetchSigstoreBundles } from '../../../lib/oci/referrers';
import { RegistryClient } from '../../../lib/oci/registry';
import type { RegistryTransport, TransportRequest, TransportResponse } from '../../../lib/ports';

const REGISTRY = 'registry.example';
const REPOSITORY = 'acme/app';
const digestOf = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
const IMAGE = `sha256:${'a'.repeat(64)}`;
const OTHER_IMAGE = `sha256:${'b'.repeat(64)}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** A registry answering from a path -> response table; records the paths asked. */
class FakeRegistry implements RegistryTransport {
  readonly routes = new Map<string, { status: number; body: Buffer; contentType?: string }>();
  readonly asked: string[] = [];

  send(request: TransportRequest): Promise<TransportResponse> {
    const path = request.url.pathname;
    this.asked.push(path);
    const route = this.routes.get(path);
    if (!route) return Promise.resolve({ status: 404, headers: {}, body: Buffer.from('{}') });
    const headers: Record<string, string> = route.contentType ? { 'content-type': route.contentType } : {};
    return Promise.resolve({ status: route.status, headers, body: route.body });
  }

  blob(bytes: Buffer): string {
    const digest = digestOf(bytes);
    this.routes.set(`/v2/${REPOSITORY}/blobs/${digest}`, { status: 200, body: bytes });
    return digest;
  }

  manifest(reference: string, json: unknown, contentType = OCI_MANIFEST): { digest: string; size: number } {
    const bytes = Buffer.from(JSON.stringify(json));
    const digest = digestOf(bytes);
    for (const key of new Set([reference, digest])) {
      this.routes.set(`/v2/${REPOSITORY}/manifests/${key}`, { status: 200, body: bytes, contentType });
    }
    return { digest, size: bytes.length };
  }

  /** A cosign v3 bundle referrer of `subject`; returns its index descriptor. */
  bundleReferrer(bundle: string, subject = IMAGE, layerType = SIGSTORE_BUNDLE_ARTIFACT_TYPE) {
    const bytes = Buffer.from(bundle);
    const layer = this.blob(bytes);
    const config = this.blob(Buffer.from('{}'));
    const manifest = this.manifest(`bundle-${bundle}`, {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: SIGSTORE_BUNDLE_ARTIFACT_TYPE,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: config, size: 2 },
      layers: [{ mediaType: layerType, digest: layer, size: bytes.length }],
      subject: { mediaType: OCI_MANIFEST, digest: subject, size: 100 },
    });
    return { mediaType: OCI_MANIFEST, artifactType: SIGSTORE_BUNDLE_ARTIFACT_TYPE, ...manifest };
  }

  index(manifests: unknown[]): Buffer {
    return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
  }
}

function setup() {
  const fake = new FakeRegistry();
  const client = new RegistryClient({ transport: fake });
  const fetch = () => fetchSigstoreBundles(client, { registry: REGISTRY, repository: REPOSITORY }, IMAGE);
  const texts = async () => (await fetch()).map((bundle) => Buffer.from(bundle.bytes).toString('utf8'));
  return { fake, fetch, texts };
}

describe('fetchSigstoreBundles', () => {
  test('referrers API: keeps the Sigstore bundle referrers and reads their one layer', async () => {
    const { fake, texts } = setup();
    const bundle = fake.bundleReferrer('{"bundle":1}');
    const sbom = fake.manifest('sbom', { schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] });
    fake.routes.set(`/v2/${REPOSITORY}/referrers/${IMAGE}`, {
      status: 200,
      contentType: OCI_INDEX,
      body: fake.index([bundle, { mediaType: OCI_MANIFEST, artifactType: 'application/spdx+json', ...sbom }]),
    });

    expect(await texts()).toEqual(['{"bundle":1}']);
    expect(fake.asked).not.toContain(`/v2/${REPOSITORY}/manifests/${sbom.digest}`);
    expect(fake.asked).not.toContain(`/v2/${REPOSITORY}/manifests/${IMAGE.replace(':', '-')}`);
  });

  test('no referrers API (404): the sha256-<hex> tag, opening every listed manifest', async () => {
    const { fake, texts } = setup();
    const current = fake.bundleReferrer('{"bundle":"new"}');
    // Indexes written by old cosign list bundles with the empty artifactType: open them anyway.
    const old = {
      ...fake.bundleReferrer('{"bundle":"old"}'),
      artifactType: 'application/vnd.oci.empty.v1+json',
    };
    const sbom = fake.manifest('sbom', {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      layers: [{ mediaType: 'application/spdx+json', digest: fake.blob(Buffer.from('spdx')), size: 4 }],
    });
    fake.manifest(
      IMAGE.replace(':', '-'),
      JSON.parse(fake.index([current, old, { mediaType: OCI_MANIFEST, ...sbom }]).toString()),
      OCI_INDEX,
    );

    expect((await texts()).sort()).toEqual(['{"bundle":"new"}', '{"bundle":"old"}']);
  });

  test('neither API nor tag: no bundles', async () => {
    const { fetch } = setup();
    expect(await fetch()).toEqual([]);
  });

  test('a fallback tag that is not an index, and referrers of another image, are ignored', async () => {
    const { fake, fetch } = setup();
    fake.manifest(IMAGE.replace(':', '-'), { schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] });
    expect(await fetch()).toEqual([]);

    const { fake: other, fetch: fetchOther } = setup();
    other.manifest(
      IMAGE.replace(':', '-'),
      JSON.parse(other.index([other.bundleReferrer('{}', OTHER_IMAGE)]).toString()),
      OCI_INDEX,
    );
    expect(await fetchOther()).toEqual([]);
  });

  test('a referrers API answering 503 is a registry error, not "no bundles"', async () => {
    const { fake, fetch } = setup();
    fake.routes.set(`/v2/${REPOSITORY}/referrers/${IMAGE}`, { status: 503, body: Buffer.from('down') });
    await expect(fetch()).rejects.toBeInstanceOf(RegistryError);
  });

  test('a bundle whose bytes do not match their digest is a content error', async () => {
    const { fake, fetch } = setup();
    const bundle = fake.bundleReferrer('{"bundle":1}');
    for (const [path, route] of fake.routes) {
      if (path.includes('/blobs/') && route.body.toString() === '{"bundle":1}')
        route.body = Buffer.from('{"bundle":2}');
    }
    fake.routes.set(`/v2/${REPOSITORY}/referrers/${IMAGE}`, {
      status: 200,
      contentType: OCI_INDEX,
      body: fake.index([bundle]),
    });
    await expect(fetch()).rejects.toBeInstanceOf(RegistryContentError);
  });

  test('more than 50 referrers is refused', async () => {
    const { fake, fetch } = setup();
    const many = Array.from({ length: 51 }, (_, index) => ({
      mediaType: OCI_MANIFEST,
      artifactType: SIGSTORE_BUNDLE_ARTIFACT_TYPE,
      digest: `sha256:${index.toString(16).padStart(64, '0')}`,
      size: 1,
    }));
    fake.routes.set(`/v2/${REPOSITORY}/referrers/${IMAGE}`, {
      status: 200,
      contentType: OCI_INDEX,
      body: fake.index(many),
    });
    await expect(fetch()).rejects.toMatchObject({ code: 'TOO_LARGE' });
  });
});
