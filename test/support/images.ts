/**
 * Push tiny images straight to a test registry over plain HTTP (OCI distribution API: blob upload
 * POST + PUT, manifest PUT), without Docker or any other tool.
 */
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';

export interface RegistryAuth {
  username: string;
  password: string;
}

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** Accept header that makes distribution return any manifest kind (without it OCI manifests 404). */
export const MANIFEST_ACCEPT = [
  MediaTypes.ociIndex,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifestList,
  MediaTypes.dockerManifest,
].join(', ');

export interface Descriptor {
  mediaType: string;
  size: number;
  digest: string;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export function sha256Digest(data: string | Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function basicAuthHeader(auth: RegistryAuth): string {
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
}

/** fetch against `http://<registryHost><path>` (or an absolute URL) with optional basic auth. */
export async function registryFetch(
  registryHost: string,
  pathOrUrl: string,
  init: RequestInit & { auth?: RegistryAuth | undefined } = {},
): Promise<Response> {
  const { auth, ...rest } = init;
  const headers = new Headers(rest.headers);
  if (auth) headers.set('authorization', basicAuthHeader(auth));
  const url = new URL(pathOrUrl, `http://${registryHost}`);
  return fetch(url, { ...rest, headers });
}

async function expectStatus(res: Response, expected: number[], what: string): Promise<void> {
  if (expected.includes(res.status)) return;
  const body = await res.text().catch(() => '');
  throw new Error(`${what}: HTTP ${res.status} (expected ${expected.join('/')}): ${body.slice(0, 500)}`);
}

/** Uploads a blob (monolithic POST + PUT) and returns its descriptor fields. */
export async function pushBlob(
  registryHost: string,
  repository: string,
  data: Buffer,
  auth?: RegistryAuth,
): Promise<{ digest: string; size: number }> {
  const digest = sha256Digest(data);
  const start = await registryFetch(registryHost, `/v2/${repository}/blobs/uploads/`, {
    method: 'POST',
    auth,
  });
  await expectStatus(start, [202], `start blob upload to ${repository}`);
  await start.arrayBuffer();
  const location = start.headers.get('location');
  if (!location) throw new Error(`blob upload to ${repository}: no Location header`);
  const putUrl = new URL(location, `http://${registryHost}`);
  putUrl.searchParams.set('digest', digest);
  const put = await registryFetch(registryHost, putUrl.toString(), {
    method: 'PUT',
    auth,
    headers: { 'content-type': 'application/octet-stream' },
    body: data,
  });
  await expectStatus(put, [201], `finish blob upload ${digest} to ${repository}`);
  await put.arrayBuffer();
  return { digest, size: data.length };
}

/**
 * PUTs manifest bytes at `reference` (tag or digest) and returns the digest. Checks that the registry's
 * Docker-Content-Digest equals sha256 of the bytes sent.
 */
export async function putManifest(
  registryHost: string,
  repository: string,
  reference: string,
  body: string | Buffer,
  mediaType: string,
  auth?: RegistryAuth,
): Promise<string> {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const res = await registryFetch(registryHost, `/v2/${repository}/manifests/${reference}`, {
    method: 'PUT',
    auth,
    headers: { 'content-type': mediaType },
    body: bytes,
  });
  await expectStatus(res, [201], `put manifest ${repository}:${reference}`);
  await res.arrayBuffer();
  const digest = sha256Digest(bytes);
  const reported = res.headers.get('docker-content-digest');
  if (reported !== digest) {
    throw new Error(
      `put manifest ${repository}:${reference}: registry digest ${reported} != local ${digest}`,
    );
  }
  return digest;
}

export interface FetchedManifest {
  /** Docker-Content-Digest (checked to equal sha256 of the body). */
  digest: string;
  mediaType: string;
  body: Buffer;
  json: unknown;
}

/** GETs a manifest with the full Accept list; resolves null on 404. */
export async function getManifest(
  registryHost: string,
  repository: string,
  reference: string,
  auth?: RegistryAuth,
): Promise<FetchedManifest | null> {
  const res = await registryFetch(registryHost, `/v2/${repository}/manifests/${reference}`, {
    auth,
    headers: { accept: MANIFEST_ACCEPT },
  });
  if (res.status === 404) {
    await res.arrayBuffer();
    return null;
  }
  await expectStatus(res, [200], `get manifest ${repository}:${reference}`);
  const body = Buffer.from(await res.arrayBuffer());
  const digest = sha256Digest(body);
  const reported = res.headers.get('docker-content-digest');
  if (reported !== null && reported !== digest) {
    throw new Error(
      `get manifest ${repository}:${reference}: Docker-Content-Digest ${reported} != sha256 ${digest}`,
    );
  }
  return {
    digest,
    mediaType: (res.headers.get('content-type') ?? '').split(';')[0]!.trim(),
    body,
    json: JSON.parse(body.toString('utf8')) as unknown,
  };
}

/** GETs a blob and checks its digest. */
export async function fetchBlob(
  registryHost: string,
  repository: string,
  digest: string,
  auth?: RegistryAuth,
): Promise<Buffer> {
  const res = await registryFetch(registryHost, `/v2/${repository}/blobs/${digest}`, { auth });
  await expectStatus(res, [200], `get blob ${repository}@${digest}`);
  const data = Buffer.from(await res.arrayBuffer());
  if (sha256Digest(data) !== digest)
    throw new Error(`blob ${digest} from ${repository} has the wrong digest`);
  return data;
}

export async function deleteManifest(
  registryHost: string,
  repository: string,
  digest: string,
  auth?: RegistryAuth,
): Promise<void> {
  const res = await registryFetch(registryHost, `/v2/${repository}/manifests/${digest}`, {
    method: 'DELETE',
    auth,
  });
  await expectStatus(res, [202], `delete manifest ${repository}@${digest}`);
  await res.arrayBuffer();
}

export async function listTags(
  registryHost: string,
  repository: string,
  auth?: RegistryAuth,
): Promise<string[]> {
  const res = await registryFetch(registryHost, `/v2/${repository}/tags/list`, { auth });
  if (res.status === 404) {
    await res.arrayBuffer();
    return [];
  }
  await expectStatus(res, [200], `list tags of ${repository}`);
  const body = (await res.json()) as { tags?: string[] | null };
  return body.tags ?? [];
}

/** A one-file ustar archive (deterministic: fixed mtime, uid/gid 0). */
function tarOneFile(name: string, content: Buffer): Buffer {
  const header = Buffer.alloc(512, 0);
  const field = (offset: number, length: number, value: string) =>
    header.write(value, offset, length, 'ascii');
  const octal = (n: number, width: number) => n.toString(8).padStart(width - 1, '0') + '\0';
  field(0, 100, name);
  field(100, 8, octal(0o644, 8));
  field(108, 8, octal(0, 8));
  field(116, 8, octal(0, 8));
  field(124, 12, octal(content.length, 12));
  field(136, 12, octal(1577836800, 12)); // 2020-01-01T00:00:00Z
  field(148, 8, '        ');
  field(156, 1, '0');
  field(257, 6, 'ustar\0');
  field(263, 2, '00');
  let sum = 0;
  for (const byte of header) sum += byte;
  field(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  const pad = (512 - (content.length % 512)) % 512;
  return Buffer.concat([header, content, Buffer.alloc(pad), Buffer.alloc(1024)]);
}

export interface PushImageOptions {
  /** Manifest/config/layer media types. Default 'oci'. */
  mediaType?: 'oci' | 'docker';
  /** Content of the single file in the layer. Same content + options = same digest; default random. */
  content?: string;
  platform?: Platform;
  auth?: RegistryAuth;
}

export interface PushedImage {
  digest: string;
  mediaType: string;
  size: number;
  manifest: Buffer;
  configDigest: string;
  layerDigest: string;
}

/** Like {@link pushImage} but returns the manifest details too. */
export async function pushImageDetailed(
  registryHost: string,
  repository: string,
  tag: string,
  opts: PushImageOptions = {},
): Promise<PushedImage> {
  const docker = opts.mediaType === 'docker';
  const content = opts.content ?? `random ${randomBytes(16).toString('hex')}\n`;
  const platform = opts.platform ?? { architecture: 'amd64', os: 'linux' };
  const tar = tarOneFile('hello.txt', Buffer.from(content, 'utf8'));
  const layer = gzipSync(tar, { level: 9 });
  const created = '2020-01-01T00:00:00Z';
  const config = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      ...(platform.variant ? { variant: platform.variant } : {}),
      os: platform.os,
      created,
      config: { Cmd: ['/hello'] },
      rootfs: { type: 'layers', diff_ids: [sha256Digest(tar)] },
      history: [{ created, created_by: 'imagegate test fixture' }],
    }),
  );
  const configBlob = await pushBlob(registryHost, repository, config, opts.auth);
  const layerBlob = await pushBlob(registryHost, repository, layer, opts.auth);
  const mediaType = docker ? MediaTypes.dockerManifest : MediaTypes.ociManifest;
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: { mediaType: docker ? MediaTypes.dockerConfig : MediaTypes.ociConfig, ...configBlob },
      layers: [{ mediaType: docker ? MediaTypes.dockerLayerGzip : MediaTypes.ociLayerGzip, ...layerBlob }],
    }),
  );
  const digest = await putManifest(registryHost, repository, tag, manifest, mediaType, opts.auth);
  return {
    digest,
    mediaType,
    size: manifest.length,
    manifest,
    configDigest: configBlob.digest,
    layerDigest: layerBlob.digest,
  };
}

/**
 * Pushes a one-layer image (a real gzipped tar holding hello.txt) at `tag` and returns its manifest digest.
 * Pushing again to the same tag moves the tag (see {@link moveTag}).
 */
export async function pushImage(
  registryHost: string,
  repository: string,
  tag: string,
  opts: PushImageOptions = {},
): Promise<string> {
  return (await pushImageDetailed(registryHost, repository, tag, opts)).digest;
}

/** Points `tag` at a new (by default random, so different) image and returns the new digest. */
export const moveTag = pushImage;

const DEFAULT_PLATFORMS: Platform[] = [
  { architecture: 'amd64', os: 'linux' },
  { architecture: 'arm64', os: 'linux', variant: 'v8' },
  { architecture: 'arm', os: 'linux', variant: 'v7' },
  { architecture: 'ppc64le', os: 'linux' },
  { architecture: 's390x', os: 'linux' },
  { architecture: '386', os: 'linux' },
];

export interface PushIndexOptions {
  /** 'oci' (default): OCI image index; 'docker': Docker manifest list. */
  mediaType?: 'oci' | 'docker';
  auth?: RegistryAuth;
}

/**
 * Pushes an image index at `tag` listing already-pushed manifests of the same repository and returns its
 * digest. A child given as a plain digest gets a default platform by position (linux/amd64, linux/arm64/v8, …).
 */
export async function pushIndex(
  registryHost: string,
  repository: string,
  tag: string,
  childDigests: readonly (string | { digest: string; platform?: Platform })[],
  opts: PushIndexOptions = {},
): Promise<string> {
  const manifests: Descriptor[] = [];
  for (const [i, child] of childDigests.entries()) {
    const { digest, platform } = typeof child === 'string' ? { digest: child, platform: undefined } : child;
    const fetched = await getManifest(registryHost, repository, digest, opts.auth);
    if (!fetched) throw new Error(`pushIndex: child ${repository}@${digest} not found`);
    manifests.push({
      mediaType: fetched.mediaType,
      size: fetched.body.length,
      digest,
      platform: platform ?? DEFAULT_PLATFORMS[i % DEFAULT_PLATFORMS.length]!,
    });
  }
  const mediaType = opts.mediaType === 'docker' ? MediaTypes.dockerManifestList : MediaTypes.ociIndex;
  const body = JSON.stringify({ schemaVersion: 2, mediaType, manifests });
  return putManifest(registryHost, repository, tag, body, mediaType, opts.auth);
}
