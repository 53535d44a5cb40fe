/**
 * The cosign and Sigstore storage format, in one place: annotation names, tag suffixes, media
 * types and the size limits imagegate applies when reading them (cosign-formats §1–§3).
 */

/** `.sig` layer annotation: the base64 signature over the layer's payload. */
export const COSIGN_SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
/** `.sig` / `.att` layer annotation: the PEM signing certificate of a keyless signature. */
export const COSIGN_CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
/** `.sig` / `.att` layer annotation: the PEM chain (intermediates, then root) of that certificate. */
export const COSIGN_CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';
/** `.sig` / `.att` layer annotation: a Rekor v1 entry's signed entry timestamp (cosign `RekorBundle`). */
export const COSIGN_REKOR_BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
/** `.sig` / `.att` layer annotation: `{"SignedRFC3161Timestamp": "<base64 DER>"}`. */
export const COSIGN_RFC3161_ANNOTATION = 'dev.sigstore.cosign/rfc3161timestamp';

/** The tag suffix of cosign's legacy attachments: `sha256-<hex>.sig` and `sha256-<hex>.att`. */
export type CosignTagSuffix = 'sig' | 'att';

/** Media type of a `.att` layer: the DSSE envelope JSON. */
export const DSSE_ENVELOPE_MEDIA_TYPE = 'application/vnd.dsse.envelope.v1+json';
/** The DSSE `payloadType` of an in-toto statement. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** cosign's `custom` predicate (`cosign attest --type custom`): its `Data` string is JSON when it parses. */
export const COSIGN_CUSTOM_PREDICATE_TYPE = 'https://cosign.sigstore.dev/attestation/v1';

/** The `artifactType` of a Sigstore bundle v0.3 referrer (cosign v3 `cosign sign` / `attest`). */
export const SIGSTORE_BUNDLE_ARTIFACT_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** Every Sigstore bundle media type starts so (v0.1 to v0.3, with or without `.v0.3+json`). */
export const SIGSTORE_BUNDLE_PREFIX = 'application/vnd.dev.sigstore.bundle';

/** Most layers of one `.sig` or `.att` manifest. */
export const MAX_SIGNATURE_LAYERS = 100;
/** Most bytes of one `.sig` payload (a simple-signing payload is about 300 bytes). */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
/**
 * An attestation (an SBOM, a scan) is larger than a signature payload; Kyverno's bundle limit.
 * Whatever the layer count, the image's byte budget (byte-budget.ts) caps what one image reads.
 */
export const MAX_ATTESTATION_BYTES = 10 * 1024 * 1024;
/** Kyverno refuses images with more referrers; so does imagegate (each one costs requests). */
export const MAX_REFERRERS = 50;
/**
 * Kyverno's limit for one bundle. Each read reserves this much of the process's bodies in flight
 * (byte-budget.ts) and is charged to the image's byte budget as it arrives.
 */
export const MAX_BUNDLE_BYTES = 10 * 1024 * 1024;
