import { ImageReferenceError } from './errors';

/** Kyverno's default registry; no `library/` is inserted (`nginx` -> `docker.io/nginx`). */
export const DEFAULT_REGISTRY = 'docker.io';

/** A parsed, normalised image reference. */
export interface ImageReference {
  /** Host and optional port, e.g. `ghcr.io`, `127.0.0.1:5000`, `docker.io`. */
  readonly registry: string;
  /** Repository path inside the registry, e.g. `kyverno/test-verify-image`. */
  readonly repository: string;
  /** Tag; `latest` when the reference names neither a tag nor a digest. */
  readonly tag: string | undefined;
  /** Digest (`sha256:<hex>`) when the reference pins one. */
  readonly digest: string | undefined;
}

const MAX_REFERENCE_LENGTH = 4096;
const MAX_NAME_LENGTH = 255;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;
const HOST_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[0-9A-Fa-f:.]+(?:%[\w.-]+)?\]$/;

/**
 * Parses an image reference the way Kyverno does (distribution's grammar, default registry
 * `docker.io` prefixed without `library/`, tag `latest` when neither tag nor digest is given).
 * Throws {@link ImageReferenceError} with the reason when the text is not a reference.
 */
export function parseImageReference(text: string, defaultRegistry = DEFAULT_REGISTRY): ImageReference {
  const fail = (reason: string): never => {
    throw new ImageReferenceError(
      'INVALID_REFERENCE',
      `invalid image reference ${JSON.stringify(text)}: ${reason}`,
    );
  };
  if (typeof text !== 'string' || text.length === 0) fail('empty');
  if (text.length > MAX_REFERENCE_LENGTH) fail('too long');

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) fail('malformed digest');
    if (digest.startsWith('sha256:') && !SHA256_DIGEST.test(digest))
      fail('sha256 digest must be 64 lowercase hex');
  }

  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) fail(`malformed tag ${JSON.stringify(tag)}`);
  }

  const slash = rest.indexOf('/');
  const first = slash === -1 ? '' : rest.slice(0, slash);
  const hasRegistry =
    slash !== -1 && (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first);
  const registry = hasRegistry ? first : defaultRegistry;
  const repository = hasRegistry ? rest.slice(slash + 1) : rest;

  if (hasRegistry) validateHost(registry, fail);
  if (repository.length === 0) fail('missing repository');
  if (`${registry}/${repository}`.length > MAX_NAME_LENGTH) fail('repository name too long');
  for (const component of repository.split('/')) {
    if (!PATH_COMPONENT.test(component)) fail(`invalid repository component ${JSON.stringify(component)}`);
  }

  return { registry, repository, tag: tag ?? (digest ? undefined : 'latest'), digest };
}

function validateHost(host: string, fail: (reason: string) => never): void {
  let name = host;
  const portMatch = /^(.*):([0-9]+)$/.exec(host);
  if (portMatch) {
    name = portMatch[1] ?? '';
    const port = Number(portMatch[2]);
    if (port < 1 || port > 65535) fail(`invalid port in registry ${JSON.stringify(host)}`);
  }
  if (IPV6_HOST.test(name)) return;
  if (name.length === 0 || name.length > 253 || !name.split('.').every((part) => HOST_COMPONENT.test(part))) {
    fail(`invalid registry host ${JSON.stringify(host)}`);
  }
}

/** Kyverno's `ImageInfo.String()`: `registry/repo@digest` when pinned, else `registry/repo:tag`. */
export function formatReference(ref: ImageReference): string {
  const name = `${ref.registry}/${ref.repository}`;
  return ref.digest ? `${name}@${ref.digest}` : `${name}:${ref.tag ?? 'latest'}`;
}

/** The value Kyverno writes into a pinned container image: `registry/repo:tag@digest`. */
export function pinnedReference(ref: ImageReference, digest: string): string {
  return `${ref.registry}/${ref.repository}:${ref.tag ?? 'latest'}@${digest}`;
}

/** True for `sha256:<64 hex>`, the only digest algorithm imagegate verifies. */
export function isSha256Digest(value: string): boolean {
  return SHA256_DIGEST.test(value);
}

/** cosign's tag for an attachment of `digest`: `sha256:<hex>` -> `sha256-<hex>.<suffix>`. */
export function cosignTag(digest: string, suffix: 'sig' | 'att'): string {
  return `${digest.replace(':', '-')}.${suffix}`;
}
