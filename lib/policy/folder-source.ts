import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join, relative, resolve } from 'node:path';
import { ImagegateError } from '../errors';
import { buildPolicySet, type PolicyFile, type PolicyProvider, type PolicySet } from './policy-set';

const POLICY_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

export class PolicySourceError extends ImagegateError<'POLICY_SOURCE_UNREADABLE'> {}

/**
 * Reads every `.yaml`, `.yml` and `.json` file under `path` (recursively, in name order), or
 * `path` itself when it is a file. Names are relative to the working directory for readable errors.
 */
export async function readPolicyFiles(path: string): Promise<PolicyFile[]> {
  const info = await stat(path).catch((error: unknown) => {
    throw new PolicySourceError(
      'POLICY_SOURCE_UNREADABLE',
      `policy path ${path} cannot be read: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  });
  const files = info.isFile()
    ? [path]
    : (await readdir(path, { recursive: true, withFileTypes: true }))
        .filter((entry) => entry.isFile() && POLICY_EXTENSIONS.has(extname(entry.name).toLowerCase()))
        .map((entry) => join(entry.parentPath, entry.name))
        .sort();
  return Promise.all(
    files.map(async (file) => ({
      name: displayName(file),
      text: await readFile(file, 'utf8'),
    })),
  );
}

/** The path relative to the working directory when it is inside it, else absolute. */
function displayName(file: string): string {
  const name = relative(process.cwd(), file);
  return name && !name.startsWith('..') ? name : resolve(file);
}

/** Policies from a local folder, read once on first use (a Lambda cold start, a CLI run). */
export class FolderPolicyProvider implements PolicyProvider {
  private loaded: Promise<PolicySet> | undefined;

  constructor(private readonly path: string) {}

  current(): Promise<PolicySet> {
    this.loaded ??= readPolicyFiles(this.path).then(buildPolicySet);
    return this.loaded;
  }
}
