/**
 * Kyverno's wildcard match: `*` matches any run of characters (including `/`), `?` exactly one;
 * everything else is literal and the whole value must match.
 *
 * Matched without regular expressions and without backtracking: the pattern is cut at its `*`s
 * once, when it is compiled; the first piece must start the value, the last must end it, and each
 * piece between is taken at its leftmost place after the previous one (taking it further right can
 * only leave less room for the rest). So the cost is at most pattern length × value length,
 * whatever the input: no pattern a policy holds and no value a request holds can make it slow.
 */

/** A compiled wildcard pattern; plain data (the pattern and its pieces), so two compilations of one pattern are equal. */
export class WildcardMatcher {
  /** The pattern cut at its `*`s: `[first, ...middle, last]`, or `[whole]` without a `*`. */
  private readonly pieces: readonly string[];
  /** For each piece, whether it holds a `?` (else it is found with `indexOf`). */
  private readonly wild: readonly boolean[];

  constructor(readonly pattern: string) {
    this.pieces = pattern.split('*');
    this.wild = this.pieces.map((piece) => piece.includes('?'));
  }

  /** Whether the whole of `value` matches the pattern. */
  matches(value: string): boolean {
    const { pieces } = this;
    const first = pieces[0] ?? '';
    if (pieces.length === 1) return value.length === first.length && matchesAt(first, value, 0);
    const last = pieces[pieces.length - 1] ?? '';
    if (first.length + last.length > value.length) return false;
    if (!matchesAt(first, value, 0) || !matchesAt(last, value, value.length - last.length)) return false;
    let position = first.length;
    const end = value.length - last.length;
    for (let index = 1; index < pieces.length - 1; index++) {
      const piece = pieces[index] ?? '';
      if (piece.length === 0) continue;
      const found = findPiece(piece, this.wild[index] ?? true, value, position, end);
      if (found === -1) return false;
      position = found + piece.length;
    }
    return true;
  }
}

/** Compiles `pattern` once (at policy load) for any number of matches. */
export function compileWildcard(pattern: string): WildcardMatcher {
  return new WildcardMatcher(pattern);
}

/** True when any compiled pattern matches `value`. */
export function anyMatches(matchers: readonly WildcardMatcher[], value: string): boolean {
  return matchers.some((matcher) => matcher.matches(value));
}

/**
 * One match of a pattern known only at run time (a condition value after variable substitution);
 * patterns a policy holds are compiled at load with {@link compileWildcard}.
 */
export function wildcardMatch(pattern: string, value: string): boolean {
  return compileWildcard(pattern).matches(value);
}

/** Whether `piece` (literal characters and `?`) matches `value` at `start`. */
function matchesAt(piece: string, value: string, start: number): boolean {
  for (let index = 0; index < piece.length; index++) {
    const expected = piece.charCodeAt(index);
    if (expected !== QUESTION_MARK && expected !== value.charCodeAt(start + index)) return false;
  }
  return true;
}

/** The leftmost place from `from` where `piece` matches and ends by `end`, or -1. */
function findPiece(piece: string, wild: boolean, value: string, from: number, end: number): number {
  if (!wild) {
    const found = value.indexOf(piece, from);
    return found !== -1 && found + piece.length <= end ? found : -1;
  }
  for (let start = from; start + piece.length <= end; start++) {
    if (matchesAt(piece, value, start)) return start;
  }
  return -1;
}

const QUESTION_MARK = '?'.charCodeAt(0);
