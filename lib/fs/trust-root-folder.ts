import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describeError } from '../errors';
import {
  loadTrustRoots,
  PUBLIC_GOOD_TRUST_ROOT,
  TrustRootError,
  type TrustRootDocument,
  type TrustRoots,
} from '../verify/trust-roots';

/** The largest trusted_root.json read, from a folder or from S3 (characters of its text). */
export const MAX_TRUST_ROOT_BYTES = 1024 * 1024;

/**
 * One trusted_root.json document named `name`, from its text: the one reader every trust-root
 * source (folder, S3) uses. Throws {@link TrustRootError} for a text that is not JSON or larger
 * than {@link MAX_TRUST_ROOT_BYTES}.
 */
export function parseTrustRootDocument(name: string, text: string): TrustRootDocument {
  if (text.length > MAX_TRUST_ROOT_BYTES) throw tooLarge(name);
  try {
    return { name, json: JSON.parse(text) as unknown };
  } catch (error) {
    throw new TrustRootError('INVALID_TRUST_ROOT', `trust root ${name}: not JSON: ${describeError(error)}`, {
      cause: error,
    });
  }
}

/** Refuses a document whose size in bytes (a file's, an S3 object's ContentLength) is over the cap, before it is read. */
export function checkTrustRootSize(name: string, bytes: number | undefined): void {
  if (bytes !== undefined && bytes > MAX_TRUST_ROOT_BYTES) throw tooLarge(name);
}

function tooLarge(name: string): TrustRootError {
  return new TrustRootError('INVALID_TRUST_ROOT', `trust root ${name}: larger than 1 MiB`);
}

/**
 * Reads the trusted_root.json documents of `IMAGEGATE_TRUST_ROOTS`: every `*.json` file of a
 * folder (not recursive, in name order), or one file. Each is named by its file name. Throws
 * {@link TrustRootError} for a file that is not JSON or too large.
 */
export async function readTrustRootFolder(path: string): Promise<TrustRootDocument[]> {
  let files: string[];
  try {
    const info = await stat(path);
    files = info.isDirectory()
      ? (await readdir(path))
          .filter((name) => name.endsWith('.json'))
          .sort()
          .map((name) => join(path, name))
      : [path];
  } catch (error) {
    throw new TrustRootError('INVALID_TRUST_ROOT', `trust roots ${path}: ${describeError(error)}`, {
      cause: error,
    });
  }
  return Promise.all(
    files.map(async (file) => {
      const name = basename(file);
      checkTrustRootSize(name, (await stat(file)).size);
      return parseTrustRootDocument(name, await readFile(file, 'utf8'));
    }),
  );
}

/**
 * The trust roots of a process: the shipped public-good root plus the documents of
 * `IMAGEGATE_TRUST_ROOTS` (a folder or file) when set.
 */
export async function trustRootsFromFolder(path: string | undefined): Promise<TrustRoots> {
  const documents = path ? await readTrustRootFolder(path) : [];
  return loadTrustRoots([PUBLIC_GOOD_TRUST_ROOT, ...documents]);
}
