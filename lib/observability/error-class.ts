/**
 * The registry error class of a check (catalogue.ts REGISTRY_ERROR_CLASSES), read from its typed
 * cause: a table from the registry client's codes, never the message text.
 */
import type { ImageCheckResult } from '../decision/decide';
import type { CheckCause, RegistryCauseCode } from '../model/outcome';
import type { RegistryErrorClass } from './catalogue';

/** Each registry code's class; `REGISTRY_HTTP` is classed by its status (see {@link httpClass}). */
export const CLASS_OF_CODE = {
  REGISTRY_UNREACHABLE: 'unreachable',
  REGISTRY_TIMEOUT: 'timeout',
  REGISTRY_AUTH: 'auth',
  REGISTRY_HTTP: 'http_4xx',
  NOT_FOUND: 'not_found',
  ADDRESS_REFUSED: 'address_refused',
  DIGEST_MISMATCH: 'content',
  UNEXPECTED_MEDIA_TYPE: 'content',
  TOO_LARGE: 'content',
  TRUNCATED: 'content',
  MALFORMED: 'content',
  IMAGE_BYTE_BUDGET_EXCEEDED: 'content',
  REVIEW_BYTE_BUDGET_EXCEEDED: 'content',
} as const satisfies Record<RegistryCauseCode, RegistryErrorClass>;

/**
 * The class of a check, or `undefined` when the registry is not to blame: a pass, a skip, a
 * signature that is missing or does not verify, an unreadable reference, a missing digest.
 */
export function registryErrorClass(result: ImageCheckResult): RegistryErrorClass | undefined {
  return result.status === 'pass' ? undefined : causeClass(result.cause);
}

/** The class of a cause, or `undefined` when the registry is not to blame. */
export function causeClass(cause: CheckCause): RegistryErrorClass | undefined {
  switch (cause.kind) {
    case 'registry':
      return cause.code === 'REGISTRY_HTTP' ? httpClass(cause.status) : CLASS_OF_CODE[cause.code];
    case 'deadline':
      return 'deadline';
    case 'internal':
      return 'other';
    case 'verification':
    case 'reference':
    case 'digest-missing':
    case 'skipped':
      return undefined;
  }
}

/** 429 is rate limiting and 5xx an outage; any other status (or a bad redirect, which has none) is `http_4xx`. */
function httpClass(status: number | undefined): RegistryErrorClass {
  if (status === 429) return 'rate_limited';
  return status !== undefined && status >= 500 && status < 600 ? 'http_5xx' : 'http_4xx';
}
