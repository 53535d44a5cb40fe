/**
 * Issue 11, parts 1 and 5: an image matches `imageReferences` / `skipImageReferences` when any
 * spelling the kubelet pulls as the same image matches, and glob matching costs linear time.
 */
import { parseImageReference } from '../../../lib/model/image';
import {
  compileImagePattern,
  imageSpellings,
  spellingsMatchAny,
  patternForms,
} from '../../../lib/policy/image-patterns';
import { anyMatches, compileWildcard, wildcardMatch } from '../../../lib/model/wildcard';

const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;

const matches = (pattern: string, image: string) =>
  spellingsMatchAny([compileImagePattern(pattern)], imageSpellings(parseImageReference(image)));

/** Each family: spellings of one image, and patterns naming it; every image matches every pattern. */
const FAMILIES: Record<string, { images: string[]; patterns: string[] }> = {
  'host case and the default port': {
    images: [
      'ghcr.io/acme/app:v1',
      'GHCR.IO/acme/app:v1',
      'Ghcr.Io/acme/app:v1',
      'ghcr.io:443/acme/app:v1',
      'GHCR.IO:0443/acme/app:v1',
    ],
    patterns: ['ghcr.io/acme/app:*', 'GHCR.IO/acme/*', 'ghcr.io:443/acme/app:v1', 'Ghcr.Io/acme/app*'],
  },
  'zero-padded ports': {
    images: ['127.0.0.1:5000/team/app:v1', '127.0.0.1:05000/team/app:v1', '127.0.0.1:005000/team/app:v1'],
    patterns: ['127.0.0.1:5000/team/*', '127.0.0.1:05000/team/app:v1', '127.0.0.1:5000/team/app:?1'],
  },
  'Docker Hub aliases': {
    images: [
      'acme/app',
      'docker.io/acme/app',
      'index.docker.io/acme/app',
      'registry-1.docker.io/acme/app',
      'DOCKER.IO:443/acme/app:latest',
    ],
    patterns: ['docker.io/acme/app*', 'index.docker.io/acme/*', 'registry-1.docker.io/acme/app:latest'],
  },
  'Docker Hub official images, with and without library/': {
    images: [
      'nginx',
      'library/nginx',
      'docker.io/nginx',
      'docker.io/library/nginx',
      'index.docker.io/library/nginx',
      'registry-1.docker.io/nginx:latest',
    ],
    patterns: [
      'docker.io/nginx*',
      'docker.io/library/nginx*',
      'index.docker.io/nginx:latest',
      'registry-1.docker.io/library/nginx:*',
      'docker.io/library/*',
    ],
  },
  'a tag and a digest': {
    images: [`quay.io/acme/app:v1@${DIGEST}`, `QUAY.IO:443/acme/app:v1@${DIGEST}`],
    patterns: [
      'quay.io/acme/app:*',
      'quay.io/acme/app:v1',
      `quay.io/acme/app@${DIGEST}`,
      'quay.io/acme/app@sha256:*',
      'quay.io/acme/app:v1@*',
      'QUAY.IO/acme/app:v1*',
    ],
  },
};

describe.each(Object.entries(FAMILIES))(
  '%s: every spelling matches every pattern',
  (_family, { images, patterns }) => {
    const pairs = images.flatMap((image) => patterns.map((pattern) => [image, pattern] as const));
    test.each(pairs)('%s matches %s', (image, pattern) => {
      expect(matches(pattern, image)).toBe(true);
    });
  },
);

describe('other images stay unmatched', () => {
  test.each([
    ['ghcr.io/acme/app:v1', 'ghcr.io/other/*'],
    ['ghcr.io:8443/acme/app:v1', 'ghcr.io/acme/*'],
    ['ghcr.io/acme/app:v1', 'ghcr.io:8443/acme/*'],
    // Port 80 is not the default: registries speak HTTPS unless configured insecure.
    ['registry.example:80/x', 'registry.example/*'],
    ['evil.example/ghcr.io/acme/app:v1', 'ghcr.io/acme/*'],
    ['docker.io/acme/app', 'docker.io/library/*'],
    ['ghcr.io/library/nginx', 'docker.io/nginx*'],
    ['ghcr.io/nginx', 'docker.io/library/nginx*'],
    // library/a/b is a repository of its own, not an official image.
    ['docker.io/library/a/b', 'docker.io/a/b*'],
    ['index.docker.io/acme/app', 'index.docker.io.evil.example/*'],
    // A digest alone carries no tag, so a tag-shaped pattern cannot match it (as in Kyverno).
    [`quay.io/acme/app@${DIGEST}`, 'quay.io/acme/app:*'],
    ['quay.io/acme/app:v1', 'quay.io/acme/app@*'],
  ])('%s does not match %s', (image, pattern) => {
    expect(matches(pattern, image)).toBe(false);
  });

  test('no pattern, no match', () => {
    expect(spellingsMatchAny([], imageSpellings(parseImageReference('ghcr.io/acme/app')))).toBe(false);
  });
});

describe('imageSpellings', () => {
  test('as written, canonical, and library/ for an official image', () => {
    expect(imageSpellings(parseImageReference('INDEX.DOCKER.IO/nginx:1'))).toEqual([
      'INDEX.DOCKER.IO/nginx:1',
      'docker.io/nginx:1',
      'docker.io/library/nginx:1',
    ]);
  });

  test('a tag and a digest: repo@digest, repo:tag@digest and repo:tag', () => {
    expect(imageSpellings(parseImageReference(`quay.io/acme/app:v1@${DIGEST}`))).toEqual([
      `quay.io/acme/app@${DIGEST}`,
      `quay.io/acme/app:v1@${DIGEST}`,
      'quay.io/acme/app:v1',
    ]);
  });
});

describe('patternForms', () => {
  test.each([
    ['GHCR.IO:443/acme/*', ['GHCR.IO:443/acme/*', 'ghcr.io/acme/*']],
    ['127.0.0.1:05000/*', ['127.0.0.1:05000/*', '127.0.0.1:5000/*']],
    ['index.docker.io/library/*', ['index.docker.io/library/*', 'docker.io/library/*']],
    ['*.DKR.ECR.*.amazonaws.com/*', ['*.DKR.ECR.*.amazonaws.com/*', '*.dkr.ecr.*.amazonaws.com/*']],
    ['ghcr.io/acme/*', ['ghcr.io/acme/*']],
    ['*', ['*']],
    // Not a registry by distribution's rule (no dot, colon or upper case): left alone.
    ['library/nginx*', ['library/nginx*']],
  ])('%s -> %j', (pattern, forms) => {
    expect(patternForms(pattern)).toEqual(forms);
  });
});

describe('the shipped policies/check-image.yaml pattern', () => {
  test.each(['GHCR.IO/kyverno/test-verify-image:signed', 'Ghcr.Io:443/kyverno/test-verify-image:signed'])(
    '%s is matched by ghcr.io/kyverno/test-verify-image*',
    (image) => {
      expect(matches('ghcr.io/kyverno/test-verify-image*', image)).toBe(true);
    },
  );
});

describe('wildcardMatch', () => {
  test.each([
    ['*', '', true],
    ['*', 'anything/at/all', true],
    ['', '', true],
    ['', 'a', false],
    ['a', 'a', true],
    ['a', 'ab', false],
    ['?', '', false],
    ['?', 'x', true],
    ['a?c', 'abc', true],
    ['a?c', 'ac', false],
    ['ghcr.io/*', 'ghcr.io/acme/app:v1', true],
    ['ghcr.io/*', 'ghcr.io', false],
    ['*.dkr.ecr.*.amazonaws.com/*', '1.dkr.ecr.eu-west-1.amazonaws.com/app:1', true],
    ['*.dkr.ecr.*.amazonaws.com/*', '1.dkr.ecr.eu-west-1.amazonaws.com', false],
    ['*ab*ab*', 'abab', true],
    ['*ab*ab*', 'aba', false],
    ['a*a', 'a', false],
    ['a*a', 'aa', true],
    ['*?*?', 'x', false],
    ['*?*?', 'xy', true],
    ['**', '', true],
    // Literal characters that a regular expression would read as operators.
    ['a.b', 'axb', false],
    ['(a|b)+', '(a|b)+', true],
    ['[ab]', 'a', false],
    ['a\\*', 'a\\bc', true],
    ['line*', 'line\nbreak', true],
  ])('%j against %j: %s', (pattern, value, expected) => {
    expect(wildcardMatch(pattern, value)).toBe(expected);
  });

  // A backtracking regexp (^.*a.*a.*a.*a.*a.*a.*b$) runs for minutes on these.
  test('a pathological pattern against 20 000 characters answers (no backtracking)', () => {
    expect(wildcardMatch('*a*a*a*a*a*a*b', 'a'.repeat(20_000))).toBe(false);
    expect(wildcardMatch('*a*a*a*a*a*a*b', `${'a'.repeat(20_000)}b`)).toBe(true);
    expect(wildcardMatch('*?a*?a*?a*?a*?a*?b', 'a'.repeat(20_000))).toBe(false);
  });

  test('an ECR pattern against a 600 kB image string answers', () => {
    const huge = `${'1.dkr.ecr.'.repeat(60_000)}x`;
    expect(anyMatches([compileWildcard('*.dkr.ecr.*.amazonaws.com/*')], huge)).toBe(false);
  });
});
