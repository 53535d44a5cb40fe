import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { ImagegateError } from '../errors';
import type { PolicyFile } from './policy-set';
import { belongsToCluster, isPolicyFileName, type PolicyObject, type PolicyStore } from './store';

export class PolicySourceError extends ImagegateError<'POLICY_SOURCE_UNREADABLE'> {}

/**
 * Reads every `.yaml`, `.yml` and `.json` file under `path` (recursively, in name order), or
 * `path` itself when it is a file.
 */
export async function readPolicyFiles(path: string): Promise<PolicyFile[]> {
  const store = new FolderPolicyStore(path);
  const objects = await store.listAll();
  return Promise.all(objects.map(async (object) => ({ name: object.key, text: await store.read(object) })));
}

/**
 * Policies in a local folder (or one file). The layout may mirror the S3 one: files under
 * `clusters/<name>/` apply to that cluster only, every other file to all clusters. The etag is
 * the content's sha256, so the policy-set version is the same on every machine.
 */
export class FolderPolicyStore implements PolicyStore {
  private readonly texts = new Map<string, string>();

  constructor(private readonly root: string) {}

  get location(): string {
    return this.root;
  }

  async list(cluster: string | undefined): Promise<PolicyObject[]> {
    const all = await this.listAll();
    const isFolder = (await stat(this.root)).isDirectory();
    return all.filter(
      (object) =>
        !isFolder ||
        belongsToCluster(relative(this.root, this.pathOf(object.key)).split(sep).join('/'), cluster),
    );
  }

  /** Every policy file, whatever cluster it belongs to (for `policy lint`). */
  async listAll(): Promise<PolicyObject[]> {
    const info = await stat(this.root).catch((error: unknown) => {
      throw new PolicySourceError(
        'POLICY_SOURCE_UNREADABLE',
        `policy path ${this.root} cannot be read: ${(error as Error).message}`,
        { cause: error },
      );
    });
    const files = info.isFile()
      ? [this.root]
      : (await readdir(this.root, { recursive: true, withFileTypes: true }))
          .filter((entry) => entry.isFile() && isPolicyFileName(entry.name))
          .map((entry) => join(entry.parentPath, entry.name))
          .sort();
    return Promise.all(
      files.map(async (file) => {
        const text = await readFile(file, 'utf8');
        const key = displayName(file);
        this.texts.set(key, text);
        return { key, etag: createHash('sha256').update(text).digest('hex') };
      }),
    );
  }

  async read(object: PolicyObject): Promise<string> {
    return this.texts.get(object.key) ?? readFile(this.pathOf(object.key), 'utf8');
  }

  private pathOf(key: string): string {
    return resolve(key);
  }
}

/** The path relative to the working directory when it is inside it, else absolute. */
function displayName(file: string): string {
  const name = relative(process.cwd(), file);
  return name && !name.startsWith('..') ? name : resolve(file);
}
