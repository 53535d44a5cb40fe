/** Trust roots as data: the shipped public-good root, validation, merging, the folder source. */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadTrustRoots,
  PUBLIC_GOOD_TRUST_ROOT,
  publicGoodTrustRoots,
  TrustRootError,
} from '../../../lib/verify/trust-roots';
import { readTrustRootFolder, trustRootsFromFolder } from '../../../lib/fs/trust-root-folder';
import { createTestSigstore } from '../../support/sigstore';

const LIB_TRUST = join(__dirname, '../../../lib/verify/trust');

describe('the shipped public-good trust root', () => {
  test('is the @sigstore/tuf seed, recorded with its version and sha256', () => {
    const version = JSON.parse(readFileSync(join(LIB_TRUST, 'public-good.version.json'), 'utf8')) as {
      package: string;
      version: string;
      sha256: string;
    };
    const bytes = readFileSync(join(LIB_TRUST, 'public-good.trusted_root.json'));
    expect(version.package).toBe('@sigstore/tuf');
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(version.sha256);
    const installed = JSON.parse(readFileSync(require.resolve('@sigstore/tuf/package.json'), 'utf8')) as {
      version: string;
    };
    expect(version.version).toBe(installed.version);
    expect(PUBLIC_GOOD_TRUST_ROOT.name).toBe(`public-good (@sigstore/tuf@${installed.version})`);
  });

  test('loads: Rekor v1 and v2, two Fulcio CAs, two CT logs, one TSA', () => {
    const roots = publicGoodTrustRoots();
    expect(roots.tlogs.map((log) => log.baseURL)).toEqual([
      'https://rekor.sigstore.dev',
      'https://log2025-1.rekor.sigstore.dev',
    ]);
    expect(roots.tlogs[0]?.keyId.toString('hex')).toBe(
      'c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d',
    );
    expect(roots.certificateAuthorities).toHaveLength(2);
    expect(roots.ctlogs).toHaveLength(2);
    expect(roots.timestampAuthorities).toHaveLength(1);
  });
});

describe('loadTrustRoots', () => {
  const json = () =>
    JSON.parse(readFileSync(join(LIB_TRUST, 'public-good.trusted_root.json'), 'utf8')) as {
      tlogs: { publicKey: { validFor: { start?: string; end?: string } } }[];
      ctlogs: { publicKey: { validFor: { start?: string } } }[];
      certificateAuthorities: { validFor: { start?: string }; certChain: { certificates: unknown[] } }[];
      mediaType: string;
    };
  const load = (document: unknown) => () => loadTrustRoots([{ name: 'root.json', json: document }]);

  test('merges documents, tagging each authority with its source', () => {
    const instance = createTestSigstore('merge');
    const roots = loadTrustRoots([
      PUBLIC_GOOD_TRUST_ROOT,
      { name: 'merge.json', json: instance.trustedRoot() },
    ]);
    expect(roots.sources).toEqual([PUBLIC_GOOD_TRUST_ROOT.name, 'merge.json']);
    expect(roots.tlogs.map((log) => log.source)).toEqual([
      PUBLIC_GOOD_TRUST_ROOT.name,
      PUBLIC_GOOD_TRUST_ROOT.name,
      'merge.json',
    ]);
    expect(roots.tlogs[2]?.keyId.equals(instance.rekor.logId)).toBe(true);
  });

  test.each<[string, (document: ReturnType<typeof json>) => void, RegExp]>([
    [
      'a log key without validFor.start (sigstore-js would accept it)',
      (document) => delete document.tlogs[0]!.publicKey.validFor.start,
      /^trust root root\.json: tlogs\[0\] \(https:\/\/rekor\.sigstore\.dev\) publicKey\.validFor\.start is missing/,
    ],
    [
      'a CT log key without validFor.start',
      (document) => delete document.ctlogs[1]!.publicKey.validFor.start,
      /ctlogs\[1\] .* publicKey\.validFor\.start is missing/,
    ],
    [
      'a CA without validFor.start',
      (document) => delete document.certificateAuthorities[0]!.validFor.start,
      /certificateAuthorities\[0\] .* validFor\.start is missing/,
    ],
    [
      'a CA without certificates',
      (document) => (document.certificateAuthorities[0]!.certChain.certificates = []),
      /certificateAuthorities\[0\] .* has no certChain/,
    ],
    [
      'a window that ends before it starts',
      (document) => (document.tlogs[0]!.publicKey.validFor.end = '2000-01-01T00:00:00Z'),
      /ends before it starts/,
    ],
    [
      'another media type',
      (document) => (document.mediaType = 'application/json'),
      /mediaType "application\/json" is not a Sigstore trusted root/,
    ],
  ])('refuses %s', (_case, change, message) => {
    const document = json();
    change(document);
    expect(load(document)).toThrow(TrustRootError);
    expect(load(document)).toThrow(message);
  });

  test('refuses a certificate that does not parse and a name given twice', () => {
    const document = json() as unknown as {
      certificateAuthorities: { certChain: { certificates: { rawBytes: string }[] } }[];
    };
    document.certificateAuthorities[0]!.certChain.certificates[0]!.rawBytes = 'AAAA';
    expect(load(document)).toThrow(/^trust root root\.json: unreadable: /);
    expect(() => loadTrustRoots([PUBLIC_GOOD_TRUST_ROOT, PUBLIC_GOOD_TRUST_ROOT])).toThrow(/is given twice/);
  });
});

describe('IMAGEGATE_TRUST_ROOTS folder', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'imagegate-trust-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('reads every *.json file (in name order) and adds them to the public-good root', async () => {
    const a = createTestSigstore('a');
    const b = createTestSigstore('b');
    writeFileSync(join(dir, 'b.json'), JSON.stringify(b.trustedRoot()));
    writeFileSync(join(dir, 'a.json'), JSON.stringify(a.trustedRoot()));
    writeFileSync(join(dir, 'README.md'), 'not a root');

    expect((await readTrustRootFolder(dir)).map((document) => document.name)).toEqual(['a.json', 'b.json']);
    const roots = await trustRootsFromFolder(dir);
    expect(roots.sources).toEqual([PUBLIC_GOOD_TRUST_ROOT.name, 'a.json', 'b.json']);
    expect((await trustRootsFromFolder(join(dir, 'a.json'))).sources).toEqual([
      PUBLIC_GOOD_TRUST_ROOT.name,
      'a.json',
    ]);
    expect((await trustRootsFromFolder(undefined)).sources).toEqual([PUBLIC_GOOD_TRUST_ROOT.name]);
  });

  test('a file that is not JSON, or a missing folder, is an error naming it', async () => {
    writeFileSync(join(dir, 'broken.json'), '{');
    await expect(readTrustRootFolder(dir)).rejects.toThrow(/^trust root broken\.json: not JSON/);
    await expect(readTrustRootFolder(join(dir, 'missing'))).rejects.toThrow(/^trust roots .*missing: /);
  });
});
