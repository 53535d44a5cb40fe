// ADR 12's evaluation: pkijs's CertificateChainValidationEngine against `openssl verify` on chains
// the openssl CLI makes in a temporary folder. Prints one line per case. Not a test.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Certificate, CertificateChainValidationEngine } from 'pkijs';

const dir = mkdtempSync(join(tmpdir(), 'imagegate-pkijs-eval-'));
const file = (name, extension) => join(dir, `${name}.${extension}`);
const openssl = (args) => spawnSync('openssl', args, { encoding: 'utf8' });
const CA = [
  'basicConstraints = critical, CA:TRUE',
  'keyUsage = critical, keyCertSign, cRLSign',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid:always',
];
const LEAF = [
  'basicConstraints = critical, CA:FALSE',
  'keyUsage = critical, digitalSignature',
  'extendedKeyUsage = codeSigning',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid:always',
];
const UNKNOWN = '1.3.6.1.4.1.55555.1.1 = critical, ASN1:UTF8String:x';

function make(name, issuer, extensions) {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file(name, 'key')]);
  writeFileSync(
    file(name, 'cnf'),
    ['[ req ]', 'distinguished_name = dn', '[ dn ]', '[ v3 ]', ...extensions, ''].join('\n'),
  );
  const common = ['-days', '2', '-out', file(name, 'pem')];
  if (!issuer) {
    openssl([
      'req',
      '-x509',
      '-new',
      '-key',
      file(name, 'key'),
      '-subj',
      `/CN=${name}`,
      '-config',
      file(name, 'cnf'),
      '-extensions',
      'v3',
      ...common,
    ]);
    return name;
  }
  openssl(['req', '-new', '-key', file(name, 'key'), '-subj', `/CN=${name}`, '-out', file(name, 'csr')]);
  openssl([
    'x509',
    '-req',
    '-in',
    file(name, 'csr'),
    '-CA',
    file(issuer, 'pem'),
    '-CAkey',
    file(issuer, 'key'),
    '-set_serial',
    `${Date.now()}`,
    '-extfile',
    file(name, 'cnf'),
    '-extensions',
    'v3',
    ...common,
  ]);
  return name;
}

const parse = (name) =>
  Certificate.fromBER(
    Buffer.from(readFileSync(file(name, 'pem'), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64'),
  );

try {
  const root = make('root', undefined, CA);
  const plain = make('plain', root, CA);
  const partner = make('partner', root, [
    ...CA,
    'nameConstraints = critical, permitted;email:partner.example',
  ]);
  const odd = make('odd', root, [...CA, UNKNOWN]);
  const acme = make('acme', root, [...CA, 'nameConstraints = critical, permitted;email:acme.example']);
  const nested = make('nested', acme, [...CA, 'nameConstraints = critical, permitted;email:partner.example']);
  const constrainedRoot = make('croot', undefined, [
    ...CA,
    'nameConstraints = critical, permitted;email:partner.example',
  ]);
  const underRoot = make('under', constrainedRoot, CA);
  const email = 'subjectAltName = email:admin@acme.example';
  const cases = [
    ['good chain', make('good', plain, [...LEAF, email]), [plain], root],
    ['email outside a sub-CA constraint', make('outside', partner, [...LEAF, email]), [partner], root],
    ['leaf with unknown critical ext.', make('leafcrit', plain, [...LEAF, email, UNKNOWN]), [plain], root],
    ['CA with unknown critical ext.', make('underodd', odd, [...LEAF, email]), [odd], root],
    ['nested constraints', make('nestedleaf', nested, [...LEAF, email]), [nested, acme], root],
    [
      "trust anchor's own constraints",
      make('rootleaf', underRoot, [...LEAF, email]),
      [underRoot],
      constrainedRoot,
    ],
  ];
  for (const [label, leaf, intermediates, anchor] of cases) {
    writeFileSync(
      file('untrusted', 'pem'),
      intermediates.map((name) => readFileSync(file(name, 'pem'))).join(''),
    );
    const byOpenssl =
      openssl([
        'verify',
        '-purpose',
        'any',
        '-CAfile',
        file(anchor, 'pem'),
        '-untrusted',
        file('untrusted', 'pem'),
        file(leaf, 'pem'),
      ]).status === 0;
    const engine = new CertificateChainValidationEngine({
      trustedCerts: [parse(anchor)],
      certs: [...intermediates.map(parse), parse(leaf)],
    });
    const byPkijs = await engine.verify();
    console.log(
      `${label.padEnd(36)} openssl verify: ${byOpenssl ? 'accepts' : 'refuses'}  pkijs: ${byPkijs.result ? 'accepts' : `refuses (${byPkijs.resultMessage})`}`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
