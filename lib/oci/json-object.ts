import { RegistryContentError } from '../model/registry-errors';

/** `bytes` as a JSON object; anything else is content that cannot be trusted (`MALFORMED`). */
export function parseJsonObject(bytes: Uint8Array, registry: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new RegistryContentError(
      'MALFORMED',
      registry,
      `registry ${registry} sent a ${what} that is not JSON`,
      {
        cause: error,
      },
    );
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RegistryContentError(
      'MALFORMED',
      registry,
      `registry ${registry} sent a ${what} that is not a JSON object`,
    );
  }
  return value as Record<string, unknown>;
}
