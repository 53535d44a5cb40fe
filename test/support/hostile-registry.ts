/**
 * A hostile registry stand-in on 127.0.0.1 for the resource-bound tests and the benchmark: every
 * repository holds one image whose signatures are as large as the formats allow — Sigstore
 * bundle referrers, `.sig` layers and `.att` layers, each of a chosen number and size, every
 * body matching its digest (so nothing fails as "not trusted" before a bound is reached). Bodies
 * are generated, never held whole: the stand-in itself stays small. It counts the blob bodies it
 * is sending at once, and can hold them until requests stop arriving, so that every request the
 * client allows itself is in flight at the same moment.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import { listenOnLoopback } from './ports';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const EMPTY_CONFIG = { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf('{}'), size: 2 };
const CHUNK_BYTES = 64 * 1024;

export interface HostileRegistryOptions {
  /** Sigstore bundle referrers per image, each with one bundle layer of `bundleBytes`. */
  readonly bundles?: number;
  readonly bundleBytes?: number;
  /** `.sig` layers per image (distinct blobs), each of `signatureBytes`. */
  readonly signatureLayers?: number;
  readonly signatureBytes?: number;
  /** `.att` layers per image (distinct blobs), each of `attestationBytes`. */
  readonly attestationLayers?: number;
  readonly attestationBytes?: number;
  /**
   * Hold every blob body (after its headers) until no new blob request has arrived for this
   * long, then send them all (default: send at once).
   */
  readonly holdUntilQuietMs?: number;
}

export interface HostileRegistry {
  /** "127.0.0.1:PORT" */
  readonly host: string;
  /** `host/<repository>:latest` */
  image(repository: string): string;
  /**
   * Blob bodies being sent now, the most at once so far, the most bytes of blob bodies being sent
   * at once, and blob requests received.
   */
  bodies(): {
    readonly now: number;
    readonly most: number;
    readonly mostBytes: number;
    readonly requests: number;
  };
  /** Forgets the body counts. */
  resetCounts(): void;
  stop(): Promise<void>;
}

function digestOf(bytes: string | Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** A generated blob: `size` bytes of a pattern unique to `name`, and its digest. */
class GeneratedBlob {
  readonly digest: string;

  constructor(
    readonly name: string,
    readonly size: number,
  ) {
    const hash = createHash('sha256');
    for (const chunk of this.chunks()) hash.update(chunk);
    this.digest = `sha256:${hash.digest('hex')}`;
  }

  /** JSON (one long string), so that a body read whole also parses: `{"blob":"<name>","pad":"   …"}`. */
  *chunks(): Generator<Buffer> {
    const head = Buffer.alloc(CHUNK_BYTES, 0x20);
    head.write(`{"blob":${JSON.stringify(this.name)},"pad":"`);
    const middle = Buffer.alloc(CHUNK_BYTES, 0x20);
    for (let sent = 0; sent < this.size; sent += CHUNK_BYTES) {
      const chunk = (sent === 0 ? head : middle).subarray(0, Math.min(CHUNK_BYTES, this.size - sent));
      if (sent + chunk.length < this.size) {
        yield chunk;
        continue;
      }
      const last = Buffer.from(chunk);
      last.write('"}', last.length - 2);
      yield last;
    }
  }
}

interface Repository {
  readonly manifest: Buffer;
  readonly digest: string;
  readonly referrers: Buffer;
  readonly bundleManifests: Map<string, Buffer>;
  readonly signatures: Buffer | undefined;
  readonly attestations: Buffer | undefined;
}

/** Starts the stand-in; blob contents are hashed once here (about 1 s per GiB of distinct blobs). */
export async function startHostileRegistry(options: HostileRegistryOptions = {}): Promise<HostileRegistry> {
  const bundle = new GeneratedBlob('bundle', options.bundleBytes ?? 1024);
  const signatureBlobs = Array.from(
    { length: options.signatureLayers ?? 0 },
    (_, index) => new GeneratedBlob(`sig-${index}`, options.signatureBytes ?? 1024),
  );
  const attestationBlobs = Array.from(
    { length: options.attestationLayers ?? 0 },
    (_, index) => new GeneratedBlob(`att-${index}`, options.attestationBytes ?? 1024),
  );
  const blobs = new Map([bundle, ...signatureBlobs, ...attestationBlobs].map((blob) => [blob.digest, blob]));
  const repositories = new Map<string, Repository>();

  const repository = (name: string): Repository => {
    const known = repositories.get(name);
    if (known) return known;
    // The repository's name is in its image manifest: every repository has its own digest.
    const manifest = json({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: EMPTY_CONFIG,
      layers: [],
      annotations: { repository: name },
    });
    const digest = digestOf(manifest);
    const bundleManifests = new Map<string, Buffer>();
    const listed = Array.from({ length: options.bundles ?? 0 }, (_, index) => {
      const referrer = json({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: BUNDLE_TYPE,
        config: EMPTY_CONFIG,
        layers: [{ mediaType: BUNDLE_TYPE, digest: bundle.digest, size: bundle.size }],
        subject: { mediaType: OCI_MANIFEST, digest, size: manifest.length },
        annotations: { index: String(index) },
      });
      bundleManifests.set(digestOf(referrer), referrer);
      return {
        mediaType: OCI_MANIFEST,
        artifactType: BUNDLE_TYPE,
        digest: digestOf(referrer),
        size: referrer.length,
      };
    });
    const layered = (layers: readonly GeneratedBlob[], mediaType: string) =>
      layers.length === 0
        ? undefined
        : json({
            schemaVersion: 2,
            mediaType: OCI_MANIFEST,
            config: EMPTY_CONFIG,
            layers: layers.map((blob) => ({
              mediaType,
              digest: blob.digest,
              size: blob.size,
              annotations: { 'dev.cosignproject.cosign/signature': 'MEUCIQ==', predicateType: 'x' },
            })),
          });
    const created: Repository = {
      manifest,
      digest,
      referrers: json({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: listed }),
      bundleManifests,
      signatures: layered(signatureBlobs, 'application/vnd.dev.cosign.simplesigning.v1+json'),
      attestations: layered(attestationBlobs, 'application/vnd.dsse.envelope.v1+json'),
    };
    repositories.set(name, created);
    return created;
  };

  let now = 0;
  let most = 0;
  let bytesNow = 0;
  let mostBytes = 0;
  let requests = 0;
  let held: (() => void)[] = [];
  let quiet: NodeJS.Timeout | undefined;
  const sockets = new Set<Socket>();

  const sendBlob = (blob: GeneratedBlob, res: http.ServerResponse) => {
    requests++;
    now++;
    bytesNow += blob.size;
    most = Math.max(most, now);
    mostBytes = Math.max(mostBytes, bytesNow);
    let counted = true;
    const done = () => {
      if (counted) {
        now--;
        bytesNow -= blob.size;
      }
      counted = false;
    };
    res.on('finish', done);
    res.on('close', done);
    res.on('error', () => undefined);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(blob.size) });
    const chunks = blob.chunks();
    const pump = () => {
      for (let next = chunks.next(); !next.done; next = chunks.next()) {
        if (res.destroyed) return;
        if (!res.write(next.value)) return void res.once('drain', pump);
      }
      res.end();
    };
    if (options.holdUntilQuietMs === undefined) return pump();
    res.flushHeaders();
    held.push(pump);
    clearTimeout(quiet);
    quiet = setTimeout(() => {
      const release = held;
      held = [];
      for (const send of release) send();
    }, options.holdUntilQuietMs);
  };

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const answer = (status: number, type: string, body: Buffer, digest?: string) => {
      res.writeHead(status, {
        'content-type': type,
        'content-length': String(body.length),
        ...(digest ? { 'docker-content-digest': digest } : {}),
      });
      res.end(body);
    };
    const notFound = () => answer(404, 'application/json', json({ errors: [{ code: 'NOT_FOUND' }] }));
    if (path === '/v2/' || path === '/v2') return answer(200, 'application/json', json({}));
    const match = /^\/v2\/(.+)\/(manifests|blobs|referrers)\/([^/]+)$/.exec(path);
    if (!match || req.method !== 'GET') return notFound();
    const [, name = '', kind, reference = ''] = match;
    const repo = repository(name);
    if (kind === 'blobs') {
      const blob = blobs.get(reference);
      return blob ? sendBlob(blob, res) : notFound();
    }
    if (kind === 'referrers') {
      return reference === repo.digest ? answer(200, OCI_INDEX, repo.referrers) : notFound();
    }
    const cosignTag = repo.digest.replace(':', '-');
    let manifest: Buffer | undefined;
    if (reference === `${cosignTag}.sig`) manifest = repo.signatures;
    else if (reference === `${cosignTag}.att`) manifest = repo.attestations;
    else if (reference === repo.digest || !reference.startsWith('sha256')) manifest = repo.manifest;
    else manifest = repo.bundleManifests.get(reference);
    return manifest ? answer(200, OCI_MANIFEST, manifest, digestOf(manifest)) : notFound();
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const host = await listenOnLoopback(server);
  let stopped: Promise<void> | undefined;
  return {
    host,
    image: (name) => `${host}/${name}:latest`,
    bodies: () => ({ now, most, mostBytes, requests }),
    resetCounts: () => {
      most = now;
      mostBytes = bytesNow;
      requests = 0;
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        clearTimeout(quiet);
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return stopped;
    },
  };
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
