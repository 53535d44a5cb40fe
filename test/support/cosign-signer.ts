/**
 * Writes cosign's legacy key-based signatures (`sha256-<hex>.sig` tag; one OCI manifest whose layers are
 * simple-signing payloads with the signature in the `dev.cosignproject.cosign/signature` annotation) with
 * node:crypto, byte-compatible with what `cosign sign --key` stores. See
 * shared/reference/cosign-formats.md §1.1–1.6.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import {
  fetchBlob,
  getManifest,
  MediaTypes,
  pushBlob,
  putManifest,
  type Descriptor,
  type RegistryAuth,
} from './images';

export type KeyKind = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa-2048' | 'rsa-3072' | 'ed25519';

export const KEY_KINDS: readonly KeyKind[] = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'rsa-3072', 'ed25519'];

export interface TestKeyPair {
  kind: KeyKind;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SPKI "-----BEGIN PUBLIC KEY-----" PEM, the format of cosign.pub. */
  publicKeyPem: string;
}

export function generateKeyPair(kind: KeyKind): TestKeyPair {
  let pair: { privateKey: KeyObject; publicKey: KeyObject };
  switch (kind) {
    case 'ecdsa-p256':
      pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      break;
    case 'ecdsa-p384':
      pair = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
      break;
    case 'rsa-2048':
      pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
      break;
    case 'rsa-3072':
      pair = generateKeyPairSync('rsa', { modulusLength: 3072 });
      break;
    case 'ed25519':
      pair = generateKeyPairSync('ed25519');
      break;
    default: {
      const unknown: never = kind;
      throw new Error(`unknown key kind ${String(unknown)}`);
    }
  }
  return {
    kind,
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    publicKeyPem: pair.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

/** A string encoded the way Go's encoding/json does (HTML-safe: <, >, & and U+2028/2029 escaped). */
function goJsonString(s: string): string {
  return JSON.stringify(s).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/**
 * The simple-signing payload exactly as cosign (Go encoding/json) emits it, e.g.
 * `{"critical":{"identity":{"docker-reference":"r/x"},"image":{"docker-manifest-digest":"sha256:…"},"type":"cosign container image signature"},"optional":null}`.
 * `optional` keys are sorted, as Go sorts map keys.
 */
export function simpleSigningPayload(
  dockerReference: string,
  digest: string,
  optional?: Record<string, string> | null,
): Buffer {
  let optionalJson = 'null';
  if (optional) {
    const entries = Object.keys(optional)
      .sort()
      .map((k) => `${goJsonString(k)}:${goJsonString(optional[k]!)}`);
    optionalJson = `{${entries.join(',')}}`;
  }
  const json =
    `{"critical":{"identity":{"docker-reference":${goJsonString(dockerReference)}},` +
    `"image":{"docker-manifest-digest":${goJsonString(digest)}},` +
    `"type":"cosign container image signature"},"optional":${optionalJson}}`;
  return Buffer.from(json, 'utf8');
}

/**
 * Signs raw payload bytes like cosign's legacy signer and returns standard padded base64: ECDSA → ASN.1 DER
 * over hash(payload); RSA → PKCS#1 v1.5; Ed25519 → pure Ed25519 (`hash` ignored).
 */
export function signPayload(payload: Buffer, key: KeyObject, hash = 'sha256'): string {
  const algorithm = key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : hash;
  return sign(algorithm, payload, key).toString('base64');
}

/** `sha256:<hex>` → `sha256-<hex>.sig` */
export function signatureTag(digest: string, suffix = 'sig'): string {
  return `${digest.replace(':', '-')}.${suffix}`;
}

export const SIMPLE_SIGNING_MEDIA_TYPE = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';

export interface SignImageOptions {
  /** `-a k=v` annotations, written to the payload's `optional` object. */
  optional?: Record<string, string>;
  /** Write the `.sig` tag to this repository (same registry) instead of the image's (COSIGN_REPOSITORY). */
  signatureRepository?: string;
  /** `critical.identity.docker-reference`; default `<registryHost>/<repository>`. */
  dockerReference?: string;
  /** The payload blob to store instead of the correct simple-signing payload. */
  payloadOverride?: Buffer;
  /**
   * The bytes the signature is computed over; default: the stored payload (so with `payloadOverride` alone the
   * signature is valid for the overridden payload). Set it to the correct payload together with a
   * `payloadOverride` to store a tampered payload under a signature of the original.
   */
  signedBytes?: Buffer;
  /** The annotation value to store instead of a real signature (e.g. garbage); null omits the annotation. */
  signatureOverride?: string | null;
  /** Hash for ECDSA/RSA signatures. Default sha256 (what cosign's legacy verification uses). */
  hash?: string;
  /** Extra layer annotations (e.g. a certificate or bundle), merged after the signature annotation. */
  annotations?: Record<string, string>;
  /** Layer media type; default application/vnd.dev.cosign.simplesigning.v1+json. */
  layerMediaType?: string;
  /** 'docker' = COSIGN_DOCKER_MEDIA_TYPES=1 manifest/config types. Only used when the manifest is new. */
  manifestFormat?: 'oci' | 'docker';
  /** Replace an existing `.sig` manifest instead of appending a layer to it. */
  replace?: boolean;
  /** The tag suffix: `sig` (default) or `att` (cosign's legacy attestations, see {@link attestImage}). */
  tagSuffix?: 'sig' | 'att';
  auth?: RegistryAuth;
}

export interface SignResult {
  /** Repository holding the `.sig` tag. */
  repository: string;
  tag: string;
  /** Digest of the `.sig` manifest after this write. */
  manifestDigest: string;
  /** Number of signature layers now in the manifest. */
  layerCount: number;
  payload: Buffer;
  /** Value of the signature annotation (null if omitted). */
  signature: string | null;
  layer: Descriptor;
}

interface SigManifestJson {
  mediaType?: string;
  layers?: Descriptor[];
}

/** The OCI config go-containerregistry computes for cosign's `.sig` image (mutate.Append onto empty.Image). */
function signatureConfig(layerDigests: string[]): Buffer {
  const history = layerDigests.map(() => '{"created":"0001-01-01T00:00:00Z"}').join(',');
  const diffIds = layerDigests.map((d) => JSON.stringify(d)).join(',');
  return Buffer.from(
    `{"architecture":"","created":"0001-01-01T00:00:00Z","history":[${history}],"os":"",` +
      `"rootfs":{"type":"layers","diff_ids":[${diffIds}]},"config":{}}`,
  );
}

function descriptorJson(d: Descriptor): string {
  // Field order of ggcr's v1.Descriptor: mediaType, size, digest, …, annotations.
  const parts = [
    `"mediaType":${JSON.stringify(d.mediaType)}`,
    `"size":${d.size}`,
    `"digest":${JSON.stringify(d.digest)}`,
  ];
  if (d.annotations && Object.keys(d.annotations).length > 0) {
    const ann = Object.keys(d.annotations)
      .sort()
      .map((k) => `${goJsonString(k)}:${goJsonString(d.annotations![k]!)}`);
    parts.push(`"annotations":{${ann.join(',')}}`);
  }
  return `{${parts.join(',')}}`;
}

/**
 * Signs `repository@digest` with `key` the way `cosign sign --key` (legacy `.sig` format) does: uploads the
 * payload blob, a fresh config blob, and PUTs the manifest at `sha256-<hex>.sig`. If that tag already exists,
 * the new signature is appended as an extra layer (existing layer descriptors are kept: mediaType, size, digest,
 * annotations), and the config is rebuilt with one diff_id/history entry per layer. Not safe for
 * concurrent signing of the same digest (cosign's append is racy too).
 */
export async function signImage(
  registryHost: string,
  repository: string,
  digest: string,
  key: KeyObject,
  opts: SignImageOptions = {},
): Promise<SignResult> {
  const sigRepository = opts.signatureRepository ?? repository;
  const tag = signatureTag(digest, opts.tagSuffix ?? 'sig');
  const dockerReference = opts.dockerReference ?? `${registryHost}/${repository}`;
  const payload =
    opts.payloadOverride ?? simpleSigningPayload(dockerReference, digest, opts.optional ?? null);
  const signature =
    opts.signatureOverride !== undefined
      ? opts.signatureOverride
      : signPayload(opts.signedBytes ?? payload, key, opts.hash ?? 'sha256');

  const existing = opts.replace ? null : await getManifest(registryHost, sigRepository, tag, opts.auth);
  const previous = existing ? ((existing.json as SigManifestJson).layers ?? []) : [];
  const manifestMediaType =
    existing?.mediaType ||
    (opts.manifestFormat === 'docker' ? MediaTypes.dockerManifest : MediaTypes.ociManifest);
  const docker = manifestMediaType === MediaTypes.dockerManifest;

  const blob = await pushBlob(registryHost, sigRepository, payload, opts.auth);
  const annotations: Record<string, string> = {};
  if (signature !== null) annotations[SIGNATURE_ANNOTATION] = signature;
  Object.assign(annotations, opts.annotations);
  const layer: Descriptor = {
    mediaType: opts.layerMediaType ?? SIMPLE_SIGNING_MEDIA_TYPE,
    size: blob.size,
    digest: blob.digest,
    annotations,
  };
  const layers = [...previous, layer];

  // Simple-signing layers are stored uncompressed, so each diff_id is the layer digest.
  const config = signatureConfig(layers.map((l) => l.digest));
  const configBlob = await pushBlob(registryHost, sigRepository, config, opts.auth);
  const configDescriptor: Descriptor = {
    mediaType: docker ? MediaTypes.dockerConfig : MediaTypes.ociConfig,
    ...configBlob,
  };
  const manifest =
    `{"schemaVersion":2,"mediaType":${JSON.stringify(manifestMediaType)},` +
    `"config":${descriptorJson(configDescriptor)},"layers":[${layers.map(descriptorJson).join(',')}]}`;
  const manifestDigest = await putManifest(
    registryHost,
    sigRepository,
    tag,
    manifest,
    manifestMediaType,
    opts.auth,
  );
  return {
    repository: sigRepository,
    tag,
    manifestDigest,
    layerCount: layers.length,
    payload,
    signature,
    layer,
  };
}

export interface FetchedSignatureLayer {
  descriptor: Descriptor;
  /** The layer blob (simple-signing payload), digest-checked. */
  payload: Buffer;
  /** The signature annotation (base64) or undefined when absent. */
  signature: string | undefined;
}

export interface FetchedSignatures {
  repository: string;
  tag: string;
  manifestDigest: string;
  mediaType: string;
  manifest: unknown;
  config: unknown;
  layers: FetchedSignatureLayer[];
}

/** Reads back the `.sig` manifest of `digest` (null when there is none), with its config and payload blobs. */
export async function fetchSignatures(
  registryHost: string,
  repository: string,
  digest: string,
  auth?: RegistryAuth,
): Promise<FetchedSignatures | null> {
  const tag = signatureTag(digest);
  const fetched = await getManifest(registryHost, repository, tag, auth);
  if (!fetched) return null;
  const json = fetched.json as SigManifestJson & { config?: Descriptor };
  const config = json.config
    ? (JSON.parse(
        (await fetchBlob(registryHost, repository, json.config.digest, auth)).toString('utf8'),
      ) as unknown)
    : undefined;
  const layers: FetchedSignatureLayer[] = [];
  for (const descriptor of json.layers ?? []) {
    layers.push({
      descriptor,
      payload: await fetchBlob(registryHost, repository, descriptor.digest, auth),
      signature: descriptor.annotations?.[SIGNATURE_ANNOTATION],
    });
  }
  return {
    repository,
    tag,
    manifestDigest: fetched.digest,
    mediaType: fetched.mediaType,
    manifest: fetched.json,
    config,
    layers,
  };
}

export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const PREDICATE_TYPE_ANNOTATION = 'predicateType';

/**
 * The in-toto statement legacy `cosign attest` writes (Statement v0.1, Go struct field order
 * `_type`, `predicateType`, `subject`, `predicate`), e.g.
 * `{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2","subject":[{"name":"r/x","digest":{"sha256":"…"}}],"predicate":{…}}`.
 * The predicate is serialised in its own key order (cosign's predicates are Go structs).
 */
export function inTotoStatement(
  subjectName: string,
  digest: string,
  predicateType: string,
  predicate: unknown,
  statementType = 'https://in-toto.io/Statement/v0.1',
): Buffer {
  const hex = digest.replace(/^sha256:/, '');
  return Buffer.from(
    `{"_type":${goJsonString(statementType)},"predicateType":${goJsonString(predicateType)},` +
      `"subject":[{"name":${goJsonString(subjectName)},"digest":{"sha256":${goJsonString(hex)}}}],` +
      `"predicate":${JSON.stringify(predicate)}}`,
    'utf8',
  );
}

/** DSSE pre-authentication encoding: `DSSEv1 <len(type)> <type> <len(payload)> <payload>`. */
export function dssePae(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${payload.length} `, 'utf8'),
    payload,
  ]);
}

/**
 * The DSSE envelope JSON exactly as cosign stores it as a `.att` layer blob:
 * `{"payloadType":"application/vnd.in-toto+json","payload":"<base64>","signatures":[{"keyid":"","sig":"<base64>"}]}`.
 * `signature` (base64) defaults to a signature by `key` over the PAE of the payload.
 */
export function dsseEnvelope(
  payload: Buffer,
  key: KeyObject | undefined,
  options: { signature?: string; payloadType?: string; hash?: string } = {},
): Buffer {
  const payloadType = options.payloadType ?? IN_TOTO_PAYLOAD_TYPE;
  const signature =
    options.signature ??
    (key ? signPayload(dssePae(payloadType, payload), key, options.hash ?? 'sha256') : undefined);
  if (signature === undefined) throw new Error('dsseEnvelope needs a key or a signature');
  return Buffer.from(
    `{"payloadType":${goJsonString(payloadType)},"payload":${JSON.stringify(payload.toString('base64'))},` +
      `"signatures":[{"keyid":"","sig":${JSON.stringify(signature)}}]}`,
    'utf8',
  );
}

export interface AttestImageOptions {
  /** The statement's subject digest; default the image's (set it to another to make a wrong subject). */
  subjectDigest?: string;
  /** The statement's subject name; default `<registryHost>/<repository>`. */
  subjectName?: string;
  /** Write the `.att` tag to this repository (same registry) instead of the image's. */
  attestationRepository?: string;
  /** Extra layer annotations (certificate, chain, Rekor bundle), merged after cosign's two. */
  annotations?: Record<string, string>;
  /** The stored envelope instead of the signed one (tampering tests). */
  envelopeOverride?: Buffer;
  auth?: RegistryAuth;
}

/**
 * Attests `repository@digest` the way legacy `cosign attest --key --type <predicateType>` does: a
 * DSSE envelope of an in-toto statement, signed over its PAE, stored as one layer of the
 * `sha256-<hex>.att` manifest (media type `application/vnd.dsse.envelope.v1+json`, annotations
 * `predicateType` and an empty `dev.cosignproject.cosign/signature`), appended to any earlier
 * attestations. Returns what {@link signImage} returns; `payload` is the envelope.
 */
export async function attestImage(
  registryHost: string,
  repository: string,
  digest: string,
  key: KeyObject,
  predicateType: string,
  predicate: unknown,
  opts: AttestImageOptions = {},
): Promise<SignResult> {
  const statement = inTotoStatement(
    opts.subjectName ?? `${registryHost}/${repository}`,
    opts.subjectDigest ?? digest,
    predicateType,
    predicate,
  );
  const envelope = opts.envelopeOverride ?? dsseEnvelope(statement, key);
  return signImage(registryHost, repository, digest, key, {
    tagSuffix: 'att',
    payloadOverride: envelope,
    signatureOverride: '',
    layerMediaType: DSSE_ENVELOPE_MEDIA_TYPE,
    annotations: { [PREDICATE_TYPE_ANNOTATION]: predicateType, ...opts.annotations },
    ...(opts.attestationRepository ? { signatureRepository: opts.attestationRepository } : {}),
    ...(opts.auth ? { auth: opts.auth } : {}),
  });
}
