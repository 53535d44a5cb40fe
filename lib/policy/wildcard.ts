const compiled = new Map<string, RegExp>();

/**
 * Kyverno's wildcard match: `*` matches any run of characters (including `/`), `?` exactly one;
 * everything else is literal and the whole value must match.
 */
export function wildcardMatch(pattern: string, value: string): boolean {
  let regex = compiled.get(pattern);
  if (!regex) {
    const source = pattern
      .split('')
      .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
      .join('');
    regex = new RegExp(`^${source}$`, 's');
    compiled.set(pattern, regex);
  }
  return regex.test(value);
}

/** True when any pattern matches. */
export function matchesAny(patterns: readonly string[], value: string): boolean {
  return patterns.some((pattern) => wildcardMatch(pattern, value));
}
