/** FolderPolicyStore: keys from the configured root, never from the working directory. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FolderPolicyStore, PolicySourceError, readPolicyFiles } from '../../../lib/fs/policy-folder';

let root: string;
const cwd = process.cwd();

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'imagegate-policy-folder-'));
  mkdirSync(join(root, 'policies', 'clusters', 'prod'), { recursive: true });
  writeFileSync(join(root, 'policies', 'common.yaml'), 'common: 1\n');
  writeFileSync(join(root, 'policies', 'clusters', 'prod', 'prod.yml'), 'prod: 1\n');
  writeFileSync(join(root, 'policies', 'notes.txt'), 'not a policy\n');
});

afterEach(() => process.chdir(cwd));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('FolderPolicyStore', () => {
  test('keys are the root as configured joined with the path inside it, whatever the working directory', async () => {
    const absolute = join(root, 'policies');
    const fromHere = await new FolderPolicyStore(absolute).listAll();
    process.chdir(root);
    const fromRoot = await new FolderPolicyStore(absolute).listAll();
    expect(fromRoot).toEqual(fromHere);
    expect(fromHere.map((object) => object.key)).toEqual([
      join(absolute, 'clusters', 'prod', 'prod.yml'),
      join(absolute, 'common.yaml'),
    ]);
    expect((await new FolderPolicyStore('./policies/').listAll()).map((object) => object.key)).toEqual([
      join('policies', 'clusters', 'prod', 'prod.yml'),
      join('policies', 'common.yaml'),
    ]);
  });

  test('clusters/<name>/ files belong to that cluster only', async () => {
    const store = new FolderPolicyStore(join(root, 'policies'));
    const names = async (cluster: string | undefined) =>
      Promise.all((await store.list(cluster)).map((object) => store.read(object)));
    expect(await names('prod')).toEqual(['prod: 1\n', 'common: 1\n']);
    expect(await names('dev')).toEqual(['common: 1\n']);
    expect(await names(undefined)).toEqual(['common: 1\n']);
  });

  test('a one-file root is its own key and applies to every cluster', async () => {
    const file = join(root, 'policies', 'clusters', 'prod', 'prod.yml');
    const store = new FolderPolicyStore(file);
    expect(await store.list('dev')).toEqual([{ key: file, etag: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
    expect(await readPolicyFiles(file)).toEqual([{ name: file, text: 'prod: 1\n' }]);
  });

  test('a root that cannot be read is a PolicySourceError naming it', async () => {
    const missing = join(root, 'missing');
    await expect(new FolderPolicyStore(missing).listAll()).rejects.toBeInstanceOf(PolicySourceError);
    await expect(new FolderPolicyStore(missing).listAll()).rejects.toMatchObject({
      code: 'POLICY_SOURCE_UNREADABLE',
      message: expect.stringContaining(`policy path ${missing} cannot be read: `),
    });
  });
});
