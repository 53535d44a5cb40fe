/**
 * Root of every error imagegate raises on purpose. `code` is stable and machine-readable;
 * `message` is written for the person reading the admission response or the log.
 */
export class ImagegateError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The message of anything thrown, for places that must report a foreign error. */
export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
