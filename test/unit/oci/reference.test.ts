import { ImageReferenceError } from '../../../lib/model/registry-errors';
import {
  canonicalReference,
  canonicalRegistry,
  cosignTag,
  distributionRepository,
  formatReference,
  MAX_NAME_LENGTH,
  MAX_REFERENCE_LENGTH,
  isSha256Digest,
  parseImageReference,
  pinnedReference,
} from '../../../lib/model/image';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe('parseImageReference', () => {
  test.each([
    // text, registry, repository, tag, digest
    ['nginx', 'docker.io', 'nginx', 'latest', undefined],
    ['nginx:1.27', 'docker.io', 'nginx', '1.27', undefined],
    ['kyverno/kyverno', 'docker.io', 'kyverno/kyverno', 'latest', undefined],
    ['docker.io/library/nginx', 'docker.io', 'nginx', 'latest', undefined],
    ['library/nginx', 'docker.io', 'nginx', 'latest', undefined],
    ['docker.io/library/a/b', 'docker.io', 'library/a/b', 'latest', undefined],
    ['ghcr.io/kyverno/test-verify-image:signed', 'ghcr.io', 'kyverno/test-verify-image', 'signed', undefined],
    ['localhost:5000/a/b:1', 'localhost:5000', 'a/b', '1', undefined],
    ['localhost/a', 'localhost', 'a', 'latest', undefined],
    ['127.0.0.1:5000/x', '127.0.0.1:5000', 'x', 'latest', undefined],
    ['[::1]:5000/x', '[::1]:5000', 'x', 'latest', undefined],
    ['[::1]:5000/x:v2', '[::1]:5000', 'x', 'v2', undefined],
    ['registry:5000/team/app', 'registry:5000', 'team/app', 'latest', undefined],
    [`ghcr.io/a/b@${DIGEST}`, 'ghcr.io', 'a/b', undefined, DIGEST],
    [`ghcr.io/a/b:v1@${DIGEST}`, 'ghcr.io', 'a/b', 'v1', DIGEST],
    [`nginx@${DIGEST}`, 'docker.io', 'nginx', undefined, DIGEST],
  ])('%s -> registry %s, repository %s, tag %s, digest %s', (text, registry, repository, tag, digest) => {
    expect(parseImageReference(text)).toMatchObject({ registry, repository, tag, digest });
  });

  test('a bare name gets the default registry without library/ (Kyverno, not Docker)', () => {
    const ref = parseImageReference('nginx');

    expect(ref.registry).toBe('docker.io');
    expect(ref.repository).toBe('nginx');
    expect(formatReference(ref)).toBe('docker.io/nginx:latest');
  });

  test.each([
    // text, canonical registry, canonical repository, as written (registry, repository)
    ['GHCR.IO/acme/app:v1', 'ghcr.io', 'acme/app', 'GHCR.IO', 'acme/app'],
    ['Ghcr.Io/acme/app:v1', 'ghcr.io', 'acme/app', 'Ghcr.Io', 'acme/app'],
    ['ghcr.io:443/acme/app', 'ghcr.io', 'acme/app', 'ghcr.io:443', 'acme/app'],
    ['ghcr.io:00443/acme/app', 'ghcr.io', 'acme/app', 'ghcr.io:00443', 'acme/app'],
    ['127.0.0.1:05000/x', '127.0.0.1:5000', 'x', '127.0.0.1:05000', 'x'],
    ['127.1:5000/x', '127.0.0.1:5000', 'x', '127.1:5000', 'x'],
    ['LOCALHOST:5000/x', 'localhost:5000', 'x', 'LOCALHOST:5000', 'x'],
    ['[0:0::1]:5000/x', '[::1]:5000', 'x', '[0:0::1]:5000', 'x'],
    ['[FE80::1]/x', '[fe80::1]', 'x', '[FE80::1]', 'x'],
    ['registry.example:80/x', 'registry.example:80', 'x', 'registry.example:80', 'x'],
    ['index.docker.io/acme/app', 'docker.io', 'acme/app', 'index.docker.io', 'acme/app'],
    ['registry-1.docker.io/acme/app', 'docker.io', 'acme/app', 'registry-1.docker.io', 'acme/app'],
    ['Docker.IO:443/library/nginx', 'docker.io', 'nginx', 'Docker.IO:443', 'library/nginx'],
    ['index.docker.io/library/nginx', 'docker.io', 'nginx', 'index.docker.io', 'library/nginx'],
    ['docker.io/library/nginx', 'docker.io', 'nginx', 'docker.io', 'library/nginx'],
    ['library/nginx', 'docker.io', 'nginx', 'docker.io', 'library/nginx'],
    ['nginx', 'docker.io', 'nginx', 'docker.io', 'nginx'],
    ['ghcr.io/library/nginx', 'ghcr.io', 'library/nginx', 'ghcr.io', 'library/nginx'],
  ])(
    '%s: canonical %s/%s, written %s/%s',
    (text, registry, repository, writtenRegistry, writtenRepository) => {
      const ref = parseImageReference(text);

      expect(ref).toMatchObject({ registry, repository });
      expect(ref.written).toEqual({ registry: writtenRegistry, repository: writtenRepository });
    },
  );

  test.each([
    ['GHCR.IO/acme/app:v1', 'ghcr.io/acme/app:v1'],
    ['ghcr.io:443/acme/app', 'ghcr.io/acme/app:latest'],
    ['127.0.0.1:05000/x:1', '127.0.0.1:5000/x:1'],
    ['index.docker.io/library/nginx:1.27', 'docker.io/nginx:1.27'],
    ['registry-1.docker.io/acme/app', 'docker.io/acme/app:latest'],
    [`quay.io/acme/app:v1@${DIGEST}`, `quay.io/acme/app@${DIGEST}`],
  ])('canonicalReference(%s) = %s', (text, canonical) => {
    expect(canonicalReference(parseImageReference(text))).toBe(canonical);
  });

  test.each([
    // The WHATWG URL parser has no host for these, so nothing could be fetched: refused.
    ['a.b.c.4/x', 'registry "a.b.c.4" cannot be canonicalised'],
    ['[fe80::1%eth0]:5000/x', 'registry "[fe80::1%eth0]:5000" cannot be canonicalised'],
    ['999.1.1.1:5000/x', 'registry "999.1.1.1:5000" cannot be canonicalised'],
  ])('refuses %j whose registry has no canonical form', (text, reason) => {
    expect(() => parseImageReference(text)).toThrow(
      `invalid image reference ${JSON.stringify(text)}: ${reason}`,
    );
  });

  test('the default registry can be changed', () => {
    expect(parseImageReference('nginx', 'mirror.example.com').registry).toBe('mirror.example.com');
    expect(parseImageReference('ghcr.io/x/y', 'mirror.example.com').registry).toBe('ghcr.io');
  });

  test.each([
    ['', 'empty'],
    ['NGINX', 'invalid repository component "NGINX"'],
    ['ghcr.io/Kyverno/test', 'invalid repository component "Kyverno"'],
    ['ghcr.io/a//b', 'invalid repository component ""'],
    ['ghcr.io/', 'missing repository'],
    ['nginx:', 'malformed tag ""'],
    ['nginx:-bad', 'malformed tag "-bad"'],
    ['nginx@sha256:abc', 'malformed digest'],
    ['nginx@sha256', 'malformed digest'],
    [`nginx@sha256:${'A'.repeat(64)}`, 'sha256 digest must be 64 lowercase hex'],
    [`nginx@sha256:${'a'.repeat(40)}`, 'sha256 digest must be 64 lowercase hex'],
    ['localhost:99999/x', 'invalid port in registry "localhost:99999"'],
    ['localhost:0/x', 'invalid port in registry "localhost:0"'],
    ['localhost:abc/x', 'invalid registry host "localhost:abc"'],
    ['bad_host.example.com/x', 'invalid registry host "bad_host.example.com"'],
    ['::1:5000/x', 'invalid registry host "::1:5000"'],
  ])('rejects %j: %s', (text, reason) => {
    const attempt = () => parseImageReference(text);

    expect(attempt).toThrow(ImageReferenceError);
    expect(attempt).toThrow(`invalid image reference ${JSON.stringify(text)}: ${reason}`);
  });

  test('the error carries the INVALID_REFERENCE code', () => {
    let caught: unknown;
    try {
      parseImageReference('UPPER');
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(ImageReferenceError);
    expect((caught as ImageReferenceError).code).toBe('INVALID_REFERENCE');
  });

  test(`rejects a reference longer than ${MAX_REFERENCE_LENGTH} characters, quoting only its start`, () => {
    const text = `ghcr.io/${'a'.repeat(600_000)}`;
    let caught: unknown;
    try {
      parseImageReference(text);
    } catch (error) {
      caught = error;
    }

    expect(caught).toBeInstanceOf(ImageReferenceError);
    const message = (caught as ImageReferenceError).message;
    expect(message).toBe(
      `invalid image reference ${JSON.stringify(text.slice(0, 200))}… (${text.length} characters): ` +
        `too long (${text.length} characters; at most ${MAX_REFERENCE_LENGTH} are read)`,
    );
    expect(() => parseImageReference(`ghcr.io/${'a'.repeat(MAX_REFERENCE_LENGTH)}`)).toThrow(': too long');
    expect(MAX_REFERENCE_LENGTH).toBe(4096);
  });

  test('rejects a repository name longer than 255 characters, as distribution does', () => {
    expect(MAX_NAME_LENGTH).toBe(255);
    expect(parseImageReference(`ghcr.io/${'a'.repeat(255 - 'ghcr.io/'.length)}`).repository).toHaveLength(
      247,
    );
    expect(() => parseImageReference(`ghcr.io/${'a'.repeat(250)}`)).toThrow(
      'repository name too long (more than 255 characters)',
    );
  });
});

describe('formatReference', () => {
  test.each([
    // Kyverno's spelling, as written: the canonical form is only for matching and fetching.
    ['GHCR.IO/acme/app:v1', 'GHCR.IO/acme/app:v1'],
    ['127.0.0.1:05000/x', '127.0.0.1:05000/x:latest'],
    ['library/nginx', 'docker.io/library/nginx:latest'],
    ['index.docker.io/nginx', 'index.docker.io/nginx:latest'],
    ['nginx', 'docker.io/nginx:latest'],
    ['localhost:5000/a/b:1', 'localhost:5000/a/b:1'],
    ['127.0.0.1:5000/x', '127.0.0.1:5000/x:latest'],
    ['[::1]:5000/x', '[::1]:5000/x:latest'],
    [`ghcr.io/a/b@${DIGEST}`, `ghcr.io/a/b@${DIGEST}`],
    // Kyverno's ImageInfo.String(): a pinned reference drops its tag.
    [`ghcr.io/a/b:v1@${DIGEST}`, `ghcr.io/a/b@${DIGEST}`],
  ])('%s -> %s', (text, formatted) => {
    expect(formatReference(parseImageReference(text))).toBe(formatted);
  });
});

describe('pinnedReference', () => {
  test('keeps the tag and appends the digest, as Kyverno writes patched images', () => {
    const ref = parseImageReference('ghcr.io/kyverno/test-verify-image:signed');

    expect(pinnedReference(ref, DIGEST)).toBe(`ghcr.io/kyverno/test-verify-image:signed@${DIGEST}`);
  });

  test('normalises a bare name: nginx -> docker.io/nginx:latest@digest', () => {
    expect(pinnedReference(parseImageReference('nginx'), DIGEST)).toBe(`docker.io/nginx:latest@${DIGEST}`);
  });

  test.each([
    ['GHCR.IO/acme/app:v1', `GHCR.IO/acme/app:v1@${DIGEST}`],
    ['127.0.0.1:05000/x', `127.0.0.1:05000/x:latest@${DIGEST}`],
    ['docker.io/library/nginx:1', `docker.io/library/nginx:1@${DIGEST}`],
  ])('keeps the spelling of %s', (text, pinned) => {
    expect(pinnedReference(parseImageReference(text), DIGEST)).toBe(pinned);
  });
});

describe('distributionRepository', () => {
  test.each([
    ['docker.io', 'nginx', 'library/nginx'],
    ['docker.io', 'acme/app', 'acme/app'],
    ['docker.io', 'library/a/b', 'library/a/b'],
    ['ghcr.io', 'nginx', 'nginx'],
    ['mirror.example.com', 'nginx', 'nginx'],
  ])('%s + %s is served at /v2/%s/', (registry, repository, name) => {
    expect(distributionRepository(registry, repository)).toBe(name);
  });
});

describe('canonicalRegistry', () => {
  test.each([
    ['GHCR.IO', 'ghcr.io'],
    ['ghcr.io:443', 'ghcr.io'],
    ['127.0.0.1:05000', '127.0.0.1:5000'],
    ['index.docker.io', 'docker.io'],
    ['registry-1.docker.io:443', 'docker.io'],
    ['bad_host', undefined],
    ['user@ghcr.io', undefined],
    ['ghcr.io:0', undefined],
  ])('%s -> %s', (host, canonical) => {
    expect(canonicalRegistry(host)).toBe(canonical);
  });
});

describe('isSha256Digest', () => {
  test.each([
    [DIGEST, true],
    [`sha256:${'A'.repeat(64)}`, false],
    [`sha256:${'a'.repeat(63)}`, false],
    [`sha512:${'a'.repeat(128)}`, false],
    ['sha256-abc', false],
  ])('%s -> %s', (value, expected) => {
    expect(isSha256Digest(value)).toBe(expected);
  });
});

describe('cosignTag', () => {
  test('names the .sig and .att attachments of a digest', () => {
    expect(cosignTag(DIGEST, 'sig')).toBe(`sha256-${'0123456789abcdef'.repeat(4)}.sig`);
    expect(cosignTag(DIGEST, 'att')).toBe(`sha256-${'0123456789abcdef'.repeat(4)}.att`);
  });
});
