import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, normalize, relative, sep } from 'node:path';
import { describeError, ImagegateError } from '../errors';
import type { PolicyFile } from '../policy/policy-set';
import { belongsToCluster, isPolicyFileName } from '../policy/store';
import type { PolicyObject, PolicyStore } from '../ports';

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

/** A policy file found under the root. */
interface FolderEntry {
  /** Where it is read from. */
  readonly file: string;
  /** Its path inside the root folder, `/`-separated (`clusters/prod/a.yaml`); empty for a one-file root. */
  readonly inRoot: string;
  readonly text: string;
}

/**
 * Policies in a local folder (or one file). The layout may mirror the S3 one: files under
 * `clusters/<name>/` apply to that cluster only, every other file to all clusters. A key is the
 * root as configured joined with the file's path inside it (`policies/clusters/prod/a.yaml`), so
 * keys — and with them the policy-set version — do not depend on the working directory. The etag
 * is the content's sha256, so the policy-set version is the same on every machine.
 */
export class FolderPolicyStore implements PolicyStore {
  private readonly entries = new Map<string, FolderEntry>();

  constructor(private readonly root: string) {}

  get location(): string {
    return this.root;
  }

  async list(cluster: string | undefined): Promise<PolicyObject[]> {
    const all = await this.listAll();
    return all.filter((object) => {
      const inRoot = this.entries.get(object.key)?.inRoot ?? '';
      return inRoot === '' || belongsToCluster(inRoot, cluster);
    });
  }

  /** Every policy file, whatever cluster it belongs to (for `policy lint`). */
  async listAll(): Promise<PolicyObject[]> {
    const info = await stat(this.root).catch((error: unknown) => {
      throw new PolicySourceError(
        'POLICY_SOURCE_UNREADABLE',
        `policy path ${this.root} cannot be read: ${describeError(error)}`,
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
        const inRoot = info.isFile() ? '' : relative(this.root, file).split(sep).join('/');
        const key = inRoot === '' ? normalize(this.root) : join(this.root, inRoot);
        this.entries.set(key, { file, inRoot, text });
        return { key, etag: createHash('sha256').update(text).digest('hex') };
      }),
    );
  }

  async read(object: PolicyObject): Promise<string> {
    const entry = this.entries.get(object.key);
    return entry?.text ?? readFile(object.key, 'utf8');
  }
}
