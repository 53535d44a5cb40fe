import { ImageReferenceError } from './registry-errors';

/** Kyverno's default registry; no `library/` is inserted (`nginx` -> `docker.io/nginx`). */
export const DEFAULT_REGISTRY = 'docker.io';

/** Host names that all reach Docker Hub; each is folded to {@link DEFAULT_REGISTRY}. */
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
]);

/** The namespace Docker Hub keeps its official (single-component) images in. */
const DOCKER_HUB_OFFICIAL_NAMESPACE = 'library/';

/**
 * A parsed image reference. `registry` and `repository` are canonical (the image as the kubelet
 * pulls it, and the form every registry request, credential lookup, registry list and cache key
 * uses); `written` keeps Kyverno's spelling of the same parts, for messages, patches and variables.
 */
export interface ImageReference {
  /**
   * Canonical host and optional port: lower case, IP addresses in their normal form, no default
   * port (443) and no leading zeros in the port, Docker Hub aliases folded to `docker.io`.
   */
  readonly registry: string;
  /**
   * Canonical repository path, e.g. `kyverno/test-verify-image`; an official Docker Hub image
   * is named without `library/` (`nginx`), as Kyverno shows it.
   */
  readonly repository: string;
  /** Tag; `latest` when the reference names neither a tag nor a digest. */
  readonly tag: string | undefined;
  /** Digest (`sha256:<hex>`) when the reference pins one. */
  readonly digest: string | undefined;
  /**
   * Registry and repository as Kyverno's `ImageInfo` holds them: as written, the default
   * registry added when none is named (`GHCR.IO`, `docker.io/library/nginx` stay as they are).
   * {@link parseImageReference} always sets it; a reference built by hand without it is written
   * in its canonical form.
   */
  readonly written?: WrittenName;
}

/** The registry and repository of a reference, spelled as in the text it was parsed from. */
export interface WrittenName {
  readonly registry: string;
  readonly repository: string;
}

/** Kyverno's (as written) registry and repository of `ref`. */
export function writtenName(ref: ImageReference): WrittenName {
  return ref.written ?? { registry: ref.registry, repository: ref.repository };
}

/**
 * The longest reference text imagegate reads. distribution caps a name (registry and
 * repository) at {@link MAX_NAME_LENGTH} and a tag at 128 characters; with a digest of the
 * longest algorithm in use (sha512: 135 characters) a valid reference is at most 520. This
 * bound is far above that and is checked before anything else looks at the text, so no parser
 * or matcher ever reads megabytes an attacker put in a Pod.
 */
export const MAX_REFERENCE_LENGTH = 4096;
/** distribution's `NameTotalLengthMax`: registry and repository together, as written. */
export const MAX_NAME_LENGTH = 255;
/** How much of a reference that cannot be read is quoted in messages. */
const QUOTED_TEXT_LENGTH = 200;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const SHA256_DIGEST = /^sha256:[0-9a-f]{64}$/;
const HOST_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[0-9A-Fa-f:.]+(?:%[\w.-]+)?\]$/;

/**
 * Parses an image reference the way Kyverno does (distribution's grammar, default registry
 * `docker.io` prefixed without `library/`, tag `latest` when neither tag nor digest is given) and
 * canonicalises its registry and repository (see {@link ImageReference}). Throws
 * {@link ImageReferenceError} with the reason when the text is not a reference, is longer than
 * {@link MAX_REFERENCE_LENGTH}, or names a registry that cannot be canonicalised.
 */
export function parseImageReference(text: string, defaultRegistry = DEFAULT_REGISTRY): ImageReference {
  const fail = (reason: string): never => {
    throw new ImageReferenceError(
      'INVALID_REFERENCE',
      `invalid image reference ${quoteImageText(text)}: ${reason}`,
    );
  };
  if (typeof text !== 'string' || text.length === 0) fail('empty');
  if (text.length > MAX_REFERENCE_LENGTH) {
    fail(`too long (${text.length} characters; at most ${MAX_REFERENCE_LENGTH} are read)`);
  }

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
  const hasRegistry = slash !== -1 && namesRegistry(first);
  const writtenRegistry = hasRegistry ? first : defaultRegistry;
  const writtenRepository = hasRegistry ? rest.slice(slash + 1) : rest;

  const problem = hasRegistry ? hostProblem(writtenRegistry) : undefined;
  if (problem) fail(problem);
  if (writtenRepository.length === 0) fail('missing repository');
  if (`${writtenRegistry}/${writtenRepository}`.length > MAX_NAME_LENGTH) {
    fail(`repository name too long (more than ${MAX_NAME_LENGTH} characters)`);
  }
  for (const component of writtenRepository.split('/')) {
    if (!PATH_COMPONENT.test(component)) fail(`invalid repository component ${JSON.stringify(component)}`);
  }
  const registry = canonicalHost(writtenRegistry);
  if (registry === undefined) {
    return fail(`registry ${JSON.stringify(writtenRegistry)} cannot be canonicalised`);
  }

  return {
    registry,
    repository: canonicalRepository(registry, writtenRepository),
    tag: tag ?? (digest ? undefined : 'latest'),
    digest,
    written: { registry: writtenRegistry, repository: writtenRepository },
  };
}

/**
 * distribution's rule for the first `/`-separated component of a reference: it names the
 * registry when it holds a `.` or a `:`, is `localhost`, or has an upper-case letter; otherwise
 * it is the first component of a Docker Hub repository.
 */
export function namesRegistry(firstComponent: string): boolean {
  return (
    /[.:]/.test(firstComponent) ||
    firstComponent === 'localhost' ||
    firstComponent.toLowerCase() !== firstComponent
  );
}

/** Why `host` is not a registry `host[:port]` of distribution's grammar, or `undefined` when it is. */
function hostProblem(host: string): string | undefined {
  let name = host;
  const portMatch = /^(.*):([0-9]+)$/.exec(host);
  if (portMatch) {
    name = portMatch[1] ?? '';
    const port = Number(portMatch[2]);
    if (port < 1 || port > 65535) return `invalid port in registry ${JSON.stringify(host)}`;
  }
  if (IPV6_HOST.test(name)) return undefined;
  if (name.length === 0 || name.length > 253 || !name.split('.').every((part) => HOST_COMPONENT.test(part))) {
    return `invalid registry host ${JSON.stringify(host)}`;
  }
  return undefined;
}

/**
 * The canonical form of a registry `host[:port]` that is valid in a reference: the WHATWG URL
 * host of `https://<host>` (lower case; `127.1` and `0x7f000001` as `127.0.0.1`; IPv6
 * compressed; port 443 dropped and leading zeros removed), with Docker Hub's aliases folded to
 * `docker.io`. The URL form is what every registry request connects to, so two spellings that
 * reach the same place compare equal. `undefined` when no URL host can be made of it (an IPv6
 * zone, a name ending in a number that is no IPv4 address).
 */
export function canonicalRegistry(host: string): string | undefined {
  return hostProblem(host) === undefined ? canonicalHost(host) : undefined;
}

function canonicalHost(host: string): string | undefined {
  let urlHost: string;
  try {
    urlHost = new URL(`https://${host}/`).host;
  } catch {
    return undefined;
  }
  if (urlHost.length === 0) return undefined;
  return DOCKER_HUB_ALIASES.has(urlHost) ? DEFAULT_REGISTRY : urlHost;
}

/** `docker.io/library/x` is `docker.io/x` (official images have one component after `library/`). */
function canonicalRepository(registry: string, repository: string): string {
  if (registry !== DEFAULT_REGISTRY || !repository.startsWith(DOCKER_HUB_OFFICIAL_NAMESPACE))
    return repository;
  const name = repository.slice(DOCKER_HUB_OFFICIAL_NAMESPACE.length);
  return name.includes('/') ? repository : name;
}

/**
 * The repository name a registry serves a canonical repository at (`/v2/<name>/…`, token scope
 * `repository:<name>:pull`): Docker Hub keeps official images under `library/`
 * (`docker.io` + `nginx` -> `library/nginx`); every other repository is its own name.
 */
export function distributionRepository(registry: string, repository: string): string {
  return registry === DEFAULT_REGISTRY && !repository.includes('/')
    ? `${DOCKER_HUB_OFFICIAL_NAMESPACE}${repository}`
    : repository;
}

/**
 * Kyverno's `ImageInfo.String()`, as written: `registry/repo@digest` when pinned, else
 * `registry/repo:tag` (`nginx` -> `docker.io/nginx:latest`, `GHCR.IO/a/b` stays upper case).
 */
export function formatReference(ref: ImageReference): string {
  const written = writtenName(ref);
  const name = `${written.registry}/${written.repository}`;
  return ref.digest ? `${name}@${ref.digest}` : `${name}:${ref.tag ?? 'latest'}`;
}

/** The canonical spelling of the image: {@link formatReference} of the canonical registry and repository. */
export function canonicalReference(ref: ImageReference): string {
  const name = `${ref.registry}/${ref.repository}`;
  return ref.digest ? `${name}@${ref.digest}` : `${name}:${ref.tag ?? 'latest'}`;
}

/** The value Kyverno writes into a pinned container image: `registry/repo:tag@digest`, as written. */
export function pinnedReference(ref: ImageReference, digest: string): string {
  const written = writtenName(ref);
  return `${written.registry}/${written.repository}:${ref.tag ?? 'latest'}@${digest}`;
}

/**
 * Text that may not be a reference, for a message: as it is up to 200 characters, else its first
 * 200 and its length, so an absurd image string does not fill a denial or a log line.
 */
export function displayImageText(text: string): string {
  return text.length <= QUOTED_TEXT_LENGTH
    ? text
    : `${text.slice(0, QUOTED_TEXT_LENGTH)}… (${text.length} characters)`;
}

/** {@link displayImageText}, JSON-quoted (the quotes around the part shown). */
function quoteImageText(text: string): string {
  if (typeof text !== 'string') return JSON.stringify(String(text));
  return text.length <= QUOTED_TEXT_LENGTH
    ? JSON.stringify(text)
    : `${JSON.stringify(text.slice(0, QUOTED_TEXT_LENGTH))}… (${text.length} characters)`;
}

/** True for `sha256:<64 hex>`, the only digest algorithm imagegate verifies. */
export function isSha256Digest(value: string): boolean {
  return SHA256_DIGEST.test(value);
}

/** cosign's tag for an attachment of `digest`: `sha256:<hex>` -> `sha256-<hex>.<suffix>`. */
export function cosignTag(digest: string, suffix: 'sig' | 'att'): string {
  return `${digest.replace(':', '-')}.${suffix}`;
}
