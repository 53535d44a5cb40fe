/** The signature evidence read from a registry, as verification receives it. Plain data. */

/** One cosign signature or attestation: a layer of the `.sig` / `.att` manifest and its payload bytes. */
export interface SignatureLayer {
  readonly mediaType: string;
  readonly digest: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly payload: Uint8Array;
}

/** Where cosign attachments are stored: the image's own repository unless a policy says otherwise. */
export interface SignatureLocation {
  readonly registry: string;
  readonly repository: string;
}

/** One Sigstore bundle attached to an image as an OCI referrer. */
export interface SigstoreBundleArtifact {
  /** Digest of the referrer manifest holding the bundle. */
  readonly manifestDigest: string;
  /** Media type of the bundle layer (`application/vnd.dev.sigstore.bundle.v0.3+json`). */
  readonly mediaType: string;
  /** The bundle JSON, checked against its layer digest. */
  readonly bytes: Uint8Array;
}
