// Writes the Sigstore public-good trusted_root.json that ships with imagegate, taken from the
// @sigstore/tuf package (its seeds.json embeds the TUF target `trusted_root.json` of
// https://tuf-repo-cdn.sigstore.dev, base64), with the package version and the sha256 of the
// bytes written. Run after upgrading @sigstore/tuf: `node scripts/extract-trusted-root.mjs`.
// The Lambda never talks to TUF: refreshing the root is this script plus a deploy (ADR 5).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = '@sigstore/tuf';
const MIRROR = 'https://tuf-repo-cdn.sigstore.dev';
const TARGET = 'trusted_root.json';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const { version } = JSON.parse(readFileSync(require.resolve(`${PACKAGE}/package.json`), 'utf8'));
const seeds = JSON.parse(readFileSync(require.resolve(`${PACKAGE}/seeds.json`), 'utf8'));
const encoded = seeds[MIRROR]?.targets?.[TARGET];
if (typeof encoded !== 'string') {
  throw new Error(`${PACKAGE}@${version} seeds.json has no ${TARGET} target for ${MIRROR}`);
}
const bytes = Buffer.from(encoded, 'base64');
const document = JSON.parse(bytes.toString('utf8'));
if (!String(document.mediaType).startsWith('application/vnd.dev.sigstore.trustedroot')) {
  throw new Error(`${TARGET} from ${PACKAGE}@${version} has media type ${document.mediaType}`);
}

const out = join(root, 'lib/verify/trust');
writeFileSync(join(out, 'public-good.trusted_root.json'), bytes);
const sha256 = createHash('sha256').update(bytes).digest('hex');
writeFileSync(
  join(out, 'public-good.version.json'),
  JSON.stringify({ package: PACKAGE, version, mirror: MIRROR, target: TARGET, sha256 }, null, 2) + '\n',
);
console.log(
  `wrote lib/verify/trust/public-good.trusted_root.json from ${PACKAGE}@${version} (sha256 ${sha256})`,
);
