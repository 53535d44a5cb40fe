import { ImagegateError } from '../errors';

export type ReferenceErrorCode = 'INVALID_REFERENCE';

/** An image reference that is not a valid OCI distribution reference. */
export class ImageReferenceError extends ImagegateError<ReferenceErrorCode> {}

/**
 * The registry could not be asked: not reachable, timed out, refused our credentials or answered
 * an error status. Verification did not happen, so this is "could not check", never "not trusted".
 */
export type RegistryErrorCode =
  'REGISTRY_UNREACHABLE' | 'REGISTRY_TIMEOUT' | 'REGISTRY_AUTH' | 'REGISTRY_HTTP';

export class RegistryError extends ImagegateError<RegistryErrorCode> {
  readonly registry: string;
  readonly status: number | undefined;

  constructor(
    code: RegistryErrorCode,
    registry: string,
    message: string,
    options?: { cause?: unknown; status?: number },
  ) {
    super(code, message, options);
    this.registry = registry;
    this.status = options?.status;
  }
}

/**
 * The registry answered, but with content we must not trust (or no content at all): bytes that do not match their
 * digest, an unexpected media type, a body over its size cap or cut short, or no image for the tag. A registry
 * host refused before any connection (it resolves to a loopback, link-local or private address: see address-guard.ts) is
 * here too: the image names a place imagegate will not fetch from, so it cannot be trusted whatever the failure
 * policy says. This is "not trusted".
 */
export type RegistryContentErrorCode =
  | 'DIGEST_MISMATCH'
  | 'UNEXPECTED_MEDIA_TYPE'
  | 'TOO_LARGE'
  | 'TRUNCATED'
  | 'MALFORMED'
  | 'NOT_FOUND'
  | 'ADDRESS_REFUSED';

export class RegistryContentError extends ImagegateError<RegistryContentErrorCode> {
  readonly registry: string;

  constructor(
    code: RegistryContentErrorCode,
    registry: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.registry = registry;
  }
}
