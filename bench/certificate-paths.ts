/**
 * What RFC 5280 path checks (lib/verify/rfc5280.ts, pkijs) cost: per verification of a
 * leaf → name-constrained sub-CA → root chain made by openssl, and what pkijs adds to the module
 * load. Run with `node scripts/measure-certificate-paths.mjs`; figures go to ADR 12.
 */
import { performance } from 'node:perf_hooks';
import { X509Certificate } from '@sigstore/core';
import { EKU_CODE_SIGNING, verifyCertificatePath } from '../lib/verify/certificates';
import { rfc5280PathProblem } from '../lib/verify/rfc5280';
import { CA_EXTENSIONS, LEAF_EXTENSIONS, OpenSslPki } from '../test/support/openssl-certificate-paths';

const ROUNDS = 300;
const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Microseconds per call of `run`, median of 5 batches of ROUNDS, each with fresh inputs from `make`. */
function perCall<T>(make: () => T, run: (input: T) => void): number {
  const batches: number[] = [];
  for (let batch = 0; batch < 5; batch++) {
    const inputs = Array.from({ length: ROUNDS }, make);
    const start = performance.now();
    for (const input of inputs) run(input);
    batches.push(((performance.now() - start) * 1000) / ROUNDS);
  }
  return median(batches);
}

const pki = new OpenSslPki();
try {
  const root = pki.root('bench root');
  const sub = pki.issue('bench sub-CA', root, [
    ...CA_EXTENSIONS,
    'nameConstraints = critical, permitted;email:partner.example, permitted;URI:github.com',
  ]);
  const leaf = pki.issue('bench leaf', sub, [
    ...LEAF_EXTENSIONS,
    'subjectAltName = email:dev@partner.example',
  ]);
  const anchor = X509Certificate.parse(root.pem);
  const intermediate = X509Certificate.parse(sub.pem);
  const authority = [{ anchors: [anchor], intermediates: [intermediate], name: 'bench' }];
  if (!verifyCertificatePath(X509Certificate.parse(leaf.pem), [], authority, EKU_CODE_SIGNING).ok) {
    throw new Error('bench chain fails');
  }
  // Every review parses the signature's certificate anew; the trust anchors live as long as the process.
  const newLeaf = () => X509Certificate.parse(leaf.pem);
  const whole = perCall(newLeaf, (certificate) =>
    verifyCertificatePath(certificate, [], authority, EKU_CODE_SIGNING),
  );
  const rfc5280Warm = perCall(newLeaf, (certificate) =>
    rfc5280PathProblem([certificate, intermediate, anchor]),
  );
  const rfc5280Cold = perCall(
    () => [X509Certificate.parse(leaf.pem), X509Certificate.parse(sub.pem), X509Certificate.parse(root.pem)],
    (chain) => rfc5280PathProblem(chain),
  );
  // Fulcio's shape: no name constraints anywhere, so names are never decoded.
  const plainCa = pki.issue('bench plain CA', root, CA_EXTENSIONS);
  const plainLeaf = pki.issue('bench plain leaf', plainCa, [
    ...LEAF_EXTENSIONS,
    `subjectAltName = URI:${WORKFLOW}`,
  ]);
  const plainIntermediate = X509Certificate.parse(plainCa.pem);
  const rfc5280Unconstrained = perCall(
    () => X509Certificate.parse(plainLeaf.pem),
    (certificate) => rfc5280PathProblem([certificate, plainIntermediate, anchor]),
  );
  const equality = perCall(newLeaf, (certificate) => certificate.equals(anchor));
  const signatures = perCall(
    newLeaf,
    (certificate) => certificate.verify(intermediate) && intermediate.verify(anchor),
  );
  console.log(
    JSON.stringify(
      {
        rounds: ROUNDS,
        verifyCertificatePathMicroseconds: Number(whole.toFixed(1)),
        rfc5280NewLeafMicroseconds: Number(rfc5280Warm.toFixed(1)),
        rfc5280AllNewMicroseconds: Number(rfc5280Cold.toFixed(1)),
        rfc5280UnconstrainedNewLeafMicroseconds: Number(rfc5280Unconstrained.toFixed(1)),
        certificateEqualsMicroseconds: Number(equality.toFixed(1)),
        twoSignatureChecksMicroseconds: Number(signatures.toFixed(1)),
      },
      null,
      2,
    ),
  );
} finally {
  pki.remove();
}
