/**
 * `imageReferences` and `skipImageReferences` matched as the kubelet pulls images: an image
 * matches a pattern when any spelling of the same image does (see docs/policies.md, "How image
 * references are matched", and ADR 11).
 */
import {
  canonicalRegistry,
  DEFAULT_REGISTRY,
  namesRegistry,
  writtenName,
  type ImageReference,
} from '../model/image';
import { compileWildcard, type WildcardMatcher } from '../model/wildcard';

/**
 * Every spelling of `ref` that names the image the kubelet pulls for it:
 * - the name as written (Kyverno's `ImageInfo`), the canonical name (host lower case, default
 *   port dropped, Docker Hub aliases folded), and for an official Docker Hub image both
 *   `docker.io/x` and `docker.io/library/x`;
 * - each with `:tag`, or `@digest`; with both a tag and a digest (the kubelet pulls the digest),
 *   with `@digest`, `:tag@digest` and `:tag`.
 */
export function imageSpellings(ref: ImageReference): string[] {
  const written = writtenName(ref);
  const names = new Set([`${written.registry}/${written.repository}`, `${ref.registry}/${ref.repository}`]);
  if (ref.registry === DEFAULT_REGISTRY && !ref.repository.includes('/')) {
    names.add(`${DEFAULT_REGISTRY}/library/${ref.repository}`);
  }
  const versions = ref.digest
    ? [`@${ref.digest}`, ...(ref.tag ? [`:${ref.tag}@${ref.digest}`, `:${ref.tag}`] : [])]
    : [`:${ref.tag ?? 'latest'}`];
  return [...names].flatMap((name) => versions.map((version) => name + version));
}

/**
 * The pattern as written and with its registry canonicalised: a literal first component that
 * names a registry (as in a reference) is written as {@link canonicalRegistry} writes hosts
 * (`GHCR.IO:443/*` -> `ghcr.io/*`, `index.docker.io/*` -> `docker.io/*`); one with wildcards is
 * lower-cased (it can only match a host and repository components, which are lower case).
 */
export function patternForms(pattern: string): string[] {
  const slash = pattern.indexOf('/');
  if (slash === -1) return [pattern];
  const first = pattern.slice(0, slash);
  const host = /[*?]/.test(first)
    ? first.toLowerCase()
    : namesRegistry(first)
      ? (canonicalRegistry(first) ?? first.toLowerCase())
      : first;
  const canonical = host + pattern.slice(slash);
  return canonical === pattern ? [pattern] : [pattern, canonical];
}

/** An `imageReferences` / `skipImageReferences` pattern, compiled at load: each of its {@link patternForms}. */
export interface ImagePattern {
  /** The pattern as written. */
  readonly pattern: string;
  readonly forms: readonly WildcardMatcher[];
}

/** Compiles one image pattern (once, when the policy is loaded). */
export function compileImagePattern(pattern: string): ImagePattern {
  return { pattern, forms: patternForms(pattern).map(compileWildcard) };
}

/**
 * True when any of `patterns` matches any of `spellings` — the {@link imageSpellings} of one
 * reference, listed once for all the pattern lists it is matched against.
 */
export function spellingsMatchAny(patterns: readonly ImagePattern[], spellings: readonly string[]): boolean {
  return patterns.some(({ forms }) =>
    forms.some((form) => spellings.some((spelling) => form.matches(spelling))),
  );
}
