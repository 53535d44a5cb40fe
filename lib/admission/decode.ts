import { AdmissionDecodeError } from './errors';
import {
  ADMISSION_API_VERSIONS,
  type AdmissionApiVersion,
  type AdmissionOperation,
  type AdmissionRequest,
} from './types';

const OPERATIONS: readonly AdmissionOperation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];
const MAX_UID_LENGTH = 128;

/**
 * Reads an AdmissionReview (`admission.k8s.io/v1` or `v1beta1`) into an {@link AdmissionRequest}.
 * Throws {@link AdmissionDecodeError} naming the first field that is wrong.
 */
export function decodeAdmissionReview(body: unknown): AdmissionRequest {
  const review = asObject(body, 'body must be a JSON object');
  const apiVersion = review.apiVersion;
  if (!ADMISSION_API_VERSIONS.includes(apiVersion as AdmissionApiVersion)) {
    fail(`apiVersion must be one of ${ADMISSION_API_VERSIONS.join(', ')}, got ${describe(apiVersion)}`);
  }
  if (review.kind !== 'AdmissionReview') fail(`kind must be AdmissionReview, got ${describe(review.kind)}`);
  const request = asObject(review.request, 'request must be an object');

  const uid = request.uid;
  if (typeof uid !== 'string' || uid.length === 0) fail('request.uid must be a non-empty string');
  if (uid.length > MAX_UID_LENGTH) fail(`request.uid must be at most ${MAX_UID_LENGTH} characters`);

  const kind = asObject(request.kind, 'request.kind must be an object {group, version, kind}');
  if (typeof kind.kind !== 'string' || kind.kind.length === 0)
    fail('request.kind.kind must be a non-empty string');
  const operation = request.operation;
  if (!OPERATIONS.includes(operation as AdmissionOperation)) {
    fail(`request.operation must be one of ${OPERATIONS.join(', ')}, got ${describe(operation)}`);
  }

  const object = optionalObject(request.object, 'request.object');
  if ((operation === 'CREATE' || operation === 'UPDATE') && !object) {
    fail(`request.object is required for ${operation as string}`);
  }
  const userInfo = optionalObject(request.userInfo, 'request.userInfo') ?? {};
  const metadata = optionalObject(object?.metadata, 'request.object.metadata');

  return {
    apiVersion: apiVersion as AdmissionApiVersion,
    uid,
    kind: { group: stringOr(kind.group, ''), version: stringOr(kind.version, ''), kind: kind.kind },
    subResource:
      typeof request.subResource === 'string' && request.subResource ? request.subResource : undefined,
    name: stringOr(request.name, stringOr(metadata?.name, '')),
    namespace: typeof request.namespace === 'string' && request.namespace ? request.namespace : undefined,
    operation: operation as AdmissionOperation,
    userInfo: {
      username: stringOr(userInfo.username, ''),
      groups: Array.isArray(userInfo.groups)
        ? userInfo.groups.filter((group) => typeof group === 'string')
        : [],
    },
    object,
    oldObject: optionalObject(request.oldObject, 'request.oldObject'),
    dryRun: request.dryRun === true,
  };
}

/** The apiVersion of a body that looks like an AdmissionReview, for answering in kind. */
export function reviewApiVersion(body: unknown): AdmissionApiVersion {
  const apiVersion = (body as { apiVersion?: unknown } | null)?.apiVersion;
  return apiVersion === 'admission.k8s.io/v1beta1' ? apiVersion : 'admission.k8s.io/v1';
}

function fail(message: string): never {
  throw new AdmissionDecodeError('INVALID_ADMISSION_REVIEW', `invalid AdmissionReview: ${message}`);
}

function asObject(value: unknown, message: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(message);
  return value as Record<string, unknown>;
}

function optionalObject(value: unknown, field: string): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  return asObject(value, `${field} must be an object`);
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

function describe(value: unknown): string {
  return value === undefined ? 'nothing' : (JSON.stringify(value)?.slice(0, 60) ?? typeof value);
}
