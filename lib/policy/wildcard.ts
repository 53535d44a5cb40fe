/**
 * Kyverno's wildcard match: `*` matches any run of characters (including `/`), `?` exactly one;
 * everything else is literal and the whole value must match.
 *
 * Matched without regular expressions and without backtracking: the pattern is cut at its `*`s,
 * the first piece must start the value, the last must end it, and each piece between is taken
 * at its leftmost place after the previous one (taking it further right can only leave less room
 * for the rest). So the cost is at most pattern length × value length, whatever the input: no
 * pattern a policy holds and no value a request holds can make it slow.
 */
export function wildcardMatch(pattern: string, value: string): boolean {
  const pieces = pattern.split('*');
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
    const found = findPiece(piece, value, position, end);
    if (found === -1) return false;
    position = found + piece.length;
  }
  return true;
}

/** True when any pattern matches. */
export function matchesAny(patterns: readonly string[], value: string): boolean {
  return patterns.some((pattern) => wildcardMatch(pattern, value));
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
function findPiece(piece: string, value: string, from: number, end: number): number {
  if (!piece.includes('?')) {
    const found = value.indexOf(piece, from);
    return found !== -1 && found + piece.length <= end ? found : -1;
  }
  for (let start = from; start + piece.length <= end; start++) {
    if (matchesAt(piece, value, start)) return start;
  }
  return -1;
}

const QUESTION_MARK = '?'.charCodeAt(0);
