import { ImageReferenceError } from '../../../lib/oci/errors';
import {
  cosignTag,
  formatReference,
  isSha256Digest,
  parseImageReference,
  pinnedReference,
} from '../../../lib/oci/reference';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

describe('parseImageReference', () => {
  test.each([
    // text, registry, repository, tag, digest
    ['nginx', 'docker.io', 'nginx', 'latest', undefined],
    ['nginx:1.27', 'docker.io', 'nginx', '1.27', undefined],
    ['kyverno/kyverno', 'docker.io', 'kyverno/kyverno', 'latest', undefined],
    ['docker.io/library/nginx', 'docker.io', 'library/nginx', 'latest', undefined],
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
    expect(parseImageReference(text)).toEqual({ registry, repository, tag, digest });
  });

  test('a bare name gets the default registry without library/ (Kyverno, not Docker)', () => {
    const ref = parseImageReference('nginx');

    expect(ref.registry).toBe('docker.io');
    expect(ref.repository).toBe('nginx');
    expect(formatReference(ref)).toBe('docker.io/nginx:latest');
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

  test('rejects a reference longer than 4096 characters', () => {
    expect(() => parseImageReference(`ghcr.io/${'a'.repeat(4100)}`)).toThrow(': too long');
  });

  test('rejects a repository name longer than 255 characters', () => {
    expect(() => parseImageReference(`ghcr.io/${'a'.repeat(250)}`)).toThrow('repository name too long');
  });
});

describe('formatReference', () => {
  test.each([
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
