/** RFC 6901 escaping of one JSON pointer segment (`~` -> `~0`, `/` -> `~1`). */
export function escapePointerSegment(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}
