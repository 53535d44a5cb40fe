import { AdmissionDecodeError } from './errors';
import {
  ADMISSION_API_VERSIONS,
  type AdmissionApiVersion,
  type Operation as AdmissionOperation,
  type AdmissionRequest,
} from '../model/admission';

const OPERATIONS: readonly AdmissionOperation[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];
const MAX_UID_LENGTH = 128;
/** The uid is echoed and logged: printable ASCII only (the API server sends a UUID). */
const UID = /^[\x21-\x7e]+$/;
/**
 * Limits on the fields imagegate echoes into messages, logs and metrics. Kubernetes' own are
 * smaller (names are DNS subdomains of at most 253 characters, namespaces DNS labels of at most 63);
 * these only keep a forged review from blowing up a log line.
 */
const MAX_NAME_LENGTH = 253;
const MAX_NAMESPACE_LENGTH = 63;
const MAX_USER_FIELD_LENGTH = 1024;
const MAX_GROUPS = 1024;

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
  if (!UID.test(uid)) fail('request.uid must be printable ASCII without spaces');

  const kind = asObject(request.kind, 'request.kind must be an object {group, version, kind}');
  if (typeof kind.kind !== 'string' || kind.kind.length === 0)
    fail('request.kind.kind must be a non-empty string');
  const kindName = boundedString(kind.kind, 'request.kind.kind', MAX_NAME_LENGTH) ?? '';
  const group = boundedString(kind.group, 'request.kind.group', MAX_NAME_LENGTH) ?? '';
  const version = boundedString(kind.version, 'request.kind.version', MAX_NAME_LENGTH) ?? '';
  const operation = request.operation;
  if (!OPERATIONS.includes(operation as AdmissionOperation)) {
    fail(`request.operation must be one of ${OPERATIONS.join(', ')}, got ${describe(operation)}`);
  }
  const name = boundedString(request.name, 'request.name', MAX_NAME_LENGTH);
  const namespace = boundedString(request.namespace, 'request.namespace', MAX_NAMESPACE_LENGTH);
  const subResource = boundedString(request.subResource, 'request.subResource', MAX_NAME_LENGTH);

  const object = optionalObject(request.object, 'request.object');
  if ((operation === 'CREATE' || operation === 'UPDATE') && !object) {
    fail(`request.object is required for ${operation as string}`);
  }
  const oldObject = optionalObject(request.oldObject, 'request.oldObject');
  const userInfo = optionalObject(request.userInfo, 'request.userInfo') ?? {};
  const username = boundedString(userInfo.username, 'request.userInfo.username', MAX_USER_FIELD_LENGTH);
  const groups = userInfo.groups ?? [];
  if (!Array.isArray(groups) || groups.length > MAX_GROUPS) {
    fail(`request.userInfo.groups must be a list of at most ${MAX_GROUPS} strings`);
  }
  for (const [index, item] of (groups as unknown[]).entries()) {
    const field = `request.userInfo.groups[${index}]`;
    if (typeof item !== 'string') fail(`${field} must be a string, got ${describe(item)}`);
    boundedString(item, field, MAX_USER_FIELD_LENGTH);
  }
  const metadata = optionalObject(object?.metadata, 'request.object.metadata');
  const objectName = boundedString(metadata?.name, 'request.object.metadata.name', MAX_NAME_LENGTH);
  boundedString(metadata?.namespace, 'request.object.metadata.namespace', MAX_NAMESPACE_LENGTH);
  const dryRun = request.dryRun ?? false;
  if (typeof dryRun !== 'boolean') fail(`request.dryRun must be true or false, got ${describe(dryRun)}`);

  return {
    apiVersion: apiVersion as AdmissionApiVersion,
    uid,
    kind: { group, version, kind: kindName },
    subResource: subResource || undefined,
    name: name ?? objectName ?? '',
    namespace: namespace || undefined,
    operation: operation as AdmissionOperation,
    userInfo: {
      username: username ?? '',
      groups: groups as string[],
    },
    object,
    oldObject,
    dryRun,
  };
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

/** A string field that may be absent (or null): its value, refused when it is not a string or too long. */
function boundedString(value: unknown, field: string, max: number): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') fail(`${field} must be a string, got ${describe(value)}`);
  if (value.length > max) fail(`${field} must be at most ${max} characters`);
  return value;
}

/** A short rendering of a wrong value for a message; never throws, never long. */
function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'an object' : typeof value;
}
