// Makes a GitHub artifact attestation the way actions/attest does, with the same libraries:
// a DSSE Sigstore bundle of an in-toto statement by @sigstore/sign (Fulcio certificate + Rekor
// entry), attached to an image by @sigstore/oci as an OCI 1.1 referrer (the bundle is the
// manifest's one layer; the `sha256-<hex>` tag when the registry has no referrers API).
//
// Run as a plain Node program (test/integration/real-tools.test.ts spawns it): these libraries
// load ESM-only dependencies (http-proxy-agent, through make-fetch-happen) that Jest's CommonJS
// runtime cannot require.
//
// stdin: JSON {fulcioURL, rekorURL, identityToken, statement, imageName, imageDigest, credentials}
// stdout: JSON of the referrer manifest's descriptor.
import { bundleToJSON } from '@sigstore/bundle';
import { attachArtifactToImage } from '@sigstore/oci';
import { DSSEBundleBuilder, FulcioSigner, RekorWitness } from '@sigstore/sign';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const bundler = new DSSEBundleBuilder({
  signer: new FulcioSigner({
    fulcioBaseURL: input.fulcioURL,
    identityProvider: { getToken: () => Promise.resolve(input.identityToken) },
  }),
  witnesses: [new RekorWitness({ rekorBaseURL: input.rekorURL })],
});
const bundle = await bundler.create({
  data: Buffer.from(JSON.stringify(input.statement)),
  type: 'application/vnd.in-toto+json',
});
const descriptor = await attachArtifactToImage({
  imageName: input.imageName,
  imageDigest: input.imageDigest,
  artifact: Buffer.from(JSON.stringify(bundleToJSON(bundle))),
  mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
  annotations: {
    'dev.sigstore.bundle.content': 'dsse-envelope',
    'dev.sigstore.bundle.predicateType': input.statement.predicateType,
  },
  credentials: input.credentials,
});
process.stdout.write(JSON.stringify(descriptor));
