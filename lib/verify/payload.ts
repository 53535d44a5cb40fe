/** The fields of a cosign simple-signing payload that verification reads. */
export interface SimpleSigningClaims {
  readonly dockerManifestDigest: string | undefined;
  readonly dockerReference: string | undefined;
  readonly optional: Readonly<Record<string, unknown>> | undefined;
}

/**
 * Reads a simple-signing payload as Go's `encoding/json` does for cosign: keys match
 * case-insensitively (an exact match wins). Returns `undefined` for anything that is not a
 * JSON object with a `critical` object.
 */
export function parseSimpleSigningPayload(bytes: Uint8Array): SimpleSigningClaims | undefined {
  let document: unknown;
  try {
    document = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return undefined;
  }
  const critical = objectField(document, 'critical');
  if (!critical) return undefined;
  const digest = field(objectField(critical, 'image'), 'docker-manifest-digest');
  const reference = field(objectField(critical, 'identity'), 'docker-reference');
  return {
    dockerManifestDigest: typeof digest === 'string' ? digest : undefined,
    dockerReference: typeof reference === 'string' ? reference : undefined,
    optional: objectField(document, 'optional'),
  };
}

function field(object: Record<string, unknown> | undefined, name: string): unknown {
  if (!object) return undefined;
  if (Object.hasOwn(object, name)) return object[name];
  const lower = name.toLowerCase();
  const key = Object.keys(object).find((candidate) => candidate.toLowerCase() === lower);
  return key === undefined ? undefined : object[key];
}

function objectField(object: unknown, name: string): Record<string, unknown> | undefined {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return undefined;
  const value = field(object as Record<string, unknown>, name);
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
