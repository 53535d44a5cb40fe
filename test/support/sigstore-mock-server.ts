/**
 * A local Sigstore (Fulcio, Rekor v1, timestamp authority) for real signing tools: the request
 * handlers of `@sigstore/mock` served with node:http on 127.0.0.1, plus the trusted_root.json and
 * signing config that describe it and OIDC identity tokens it accepts.
 *
 * `@sigstore/mock` is written for sigstore-js through `nock`; two small adaptations make the same
 * handlers answer Go clients (cosign 3 uses sigstore-go) the way the real services do:
 * - Fulcio: sigstore-go sends the identity token as `Authorization: Bearer`, not in the body's
 *   `credentials`, and expects `200`, not the mock's `201`;
 * - Rekor: the Go client takes the new entry's UUID from the `ETag` header, which the mock leaves
 *   out (real Rekor sends it, and `Location`);
 * - Rekor: the mock logs the proposed entry as it came, while Rekor logs its canonical form. For
 *   `hashedrekord` they are the same; a `dsse` 0.0.1 proposal (`proposedContent`: the envelope
 *   and verifiers) is logged by Rekor as `envelopeHash`, `payloadHash` and `signatures`, which
 *   verifiers read (@sigstore/verify requires them; sigstore-go re-derives them from either form);
 * - TSA: Go clients send an RFC 3161 `TimeStampReq` (DER, `application/timestamp-query`), the
 *   mock's handler reads only sigstore-js's JSON request; DER requests go to the mock's TSA directly.
 *   Its `genTime` is pinned to whole seconds: the mock writes milliseconds with trailing zeros
 *   dropped (`…48.12Z`, valid DER), which @sigstore/core cannot parse (issue 11, part 9); that
 *   case belongs to part 9's tests, not to every run of this suite by chance.
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import http from 'node:http';
import {
  fulcioHandler,
  initializeCA,
  initializeCTLog,
  initializeTLog,
  initializeTSA,
  rekorHandler,
  tsaHandler,
  type HandlerFn,
} from '@sigstore/mock';
import { TimeStampReq } from 'pkijs';
import { listenOnLoopback } from './ports';

const FULCIO_PATH = '/api/v2/signingCert';
const REKOR_PATH = '/api/v1/log/entries';
const TSA_PATH = '/api/v1/timestamp';
/** The policy the mock TSA writes when the request names none (its own default). */
const TSA_POLICY = '1.3.6.1.4.1.57264.2';

/** Claims of an identity token: `sub` becomes the certificate's URI SAN, `iss` its issuer extension. */
export interface TokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly [claim: string]: string | number;
}

export interface SigstoreMockServer {
  /** http://127.0.0.1:PORT: Fulcio, Rekor and the TSA under their usual API paths. */
  readonly url: string;
  /** The timestamp authority's endpoint (`<url>/api/v1/timestamp`). */
  readonly tsaUrl: string;
  /** The TSA's certificate chain (signing certificate, then root) in PEM, for `ctlog.tsaCertChain`. */
  readonly tsaChainPem: string;
  /** A Sigstore trusted_root.json trusting this instance's CA, log, CT log and TSA. */
  trustedRoot(): Record<string, unknown>;
  /**
   * A Sigstore signing config (v0.2) naming this instance's Fulcio (unless `fulcio: false`),
   * Rekor (unless `rekor: false`) and TSA (with `tsa: true`).
   */
  signingConfig(options?: { fulcio?: boolean; rekor?: boolean; tsa?: boolean }): Record<string, unknown>;
  /** A signed (ES256) JWT with these claims, valid for an hour, audience `sigstore`. */
  identityToken(claims: TokenClaims): string;
  /** Requests served, by path. */
  requests(path: string): number;
  stop(): Promise<void>;
}

const ecKeyPair = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const spki = (key: KeyObject) => key.export({ format: 'der', type: 'spki' });
const base64 = (bytes: ArrayBufferView) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');

interface RekorEntry {
  readonly kind?: string;
  readonly apiVersion?: string;
  readonly spec?: { readonly proposedContent?: { readonly envelope: string; readonly verifiers: string[] } };
}

const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** The entry as Rekor v1 stores it (its `Canonicalize`): only `dsse` 0.0.1 proposals change. */
function canonicalRekorEntry(entry: RekorEntry): unknown {
  const proposed = entry.spec?.proposedContent;
  if (entry.kind !== 'dsse' || entry.apiVersion !== '0.0.1' || !proposed) return entry;
  const envelope = JSON.parse(proposed.envelope) as { payload: string; signatures: { sig: string }[] };
  return {
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: sha256Hex(proposed.envelope) },
      payloadHash: { algorithm: 'sha256', value: sha256Hex(Buffer.from(envelope.payload, 'base64')) },
      // One verifier per signer here (cosign and @sigstore/sign send one key or certificate).
      signatures: envelope.signatures.map(({ sig }) => ({ signature: sig, verifier: proposed.verifiers[0] })),
    },
  };
}

function pem(der: ArrayBufferView): string {
  const body = base64(der).replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`;
}

/** Starts the instance on 127.0.0.1 (an ephemeral port). */
export async function startSigstoreMock(label = 'imagegate-real-tools'): Promise<SigstoreMockServer> {
  const server = http.createServer();
  const host = await listenOnLoopback(server);
  const url = `http://${host}`;
  const keys = {
    ca: ecKeyPair(),
    ctlog: ecKeyPair(),
    rekor: ecKeyPair(),
    tsa: ecKeyPair(),
    oidc: ecKeyPair(),
  };
  const ctlog = await initializeCTLog(keys.ctlog);
  const ca = await initializeCA(keys.ca, ctlog);
  const tlog = await initializeTLog(url, keys.rekor);
  // A Date the mock reads as its clock; set to the current whole second before each timestamp.
  const tsaClock = new Date();
  const tsa = await initializeTSA(keys.tsa, tsaClock);
  const handlers = new Map<string, HandlerFn>(
    [fulcioHandler(ca), rekorHandler(tlog), tsaHandler(tsa)].map((handler) => [handler.path, handler.fn]),
  );
  const counts = new Map<string, number>();
  // Every key's validity starts before the first certificate it can be asked to check.
  const validFrom = new Date(Date.now() - 60_000).toISOString();

  server.on('request', (request: http.IncomingMessage, response: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = (request.url ?? '').split('?')[0] ?? '';
      counts.set(path, (counts.get(path) ?? 0) + 1);
      const handler = request.method === 'POST' ? handlers.get(path) : undefined;
      if (!handler) {
        response.writeHead(404, { 'content-type': 'text/plain' }).end(`no ${request.method} ${path} here`);
        return;
      }
      if (path === TSA_PATH && request.headers['content-type'] === 'application/timestamp-query') {
        tsaClock.setTime(Math.floor(Date.now() / 1000) * 1000);
        timestampDer(Buffer.concat(chunks)).then(
          (reply) => response.writeHead(201, { 'content-type': 'application/timestamp-reply' }).end(reply),
          (error: unknown) => response.writeHead(400, { 'content-type': 'text/plain' }).end(String(error)),
        );
        return;
      }
      let body = Buffer.concat(chunks).toString('utf8');
      const authorization = request.headers.authorization ?? '';
      if (path === REKOR_PATH) body = JSON.stringify(canonicalRekorEntry(JSON.parse(body) as RekorEntry));
      if (path === FULCIO_PATH && authorization.startsWith('Bearer ')) {
        const json = JSON.parse(body) as Record<string, unknown>;
        json.credentials ??= { oidcIdentityToken: authorization.slice('Bearer '.length) };
        body = JSON.stringify(json);
      }
      handler(body).then(
        (result) => {
          const headers: Record<string, string> = { 'content-type': result.contentType ?? 'text/plain' };
          let status = result.statusCode;
          if (path === FULCIO_PATH && status === 201) status = 200;
          if (path === REKOR_PATH && status === 201 && typeof result.response === 'string') {
            const uuid = Object.keys(JSON.parse(result.response) as object)[0] ?? '';
            headers.etag = uuid;
            headers.location = `${REKOR_PATH}/${uuid}`;
          }
          response.writeHead(status, headers).end(result.response);
        },
        (error: unknown) => {
          response.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
        },
      );
    });
  });

  /** An RFC 3161 TimeStampResp for a DER TimeStampReq. */
  async function timestampDer(der: Buffer): Promise<ArrayBufferView> {
    const query = TimeStampReq.fromBER(der);
    const nonce = query.nonce?.valueBlock.valueDec;
    if (query.nonce && (nonce === undefined || !Number.isSafeInteger(nonce) || nonce < 0)) {
      throw new Error('this stand-in handles nonces up to 2^53 only');
    }
    return tsa.timestamp({
      artifactHash: Buffer.from(query.messageImprint.hashedMessage.valueBlock.valueHexView),
      hashAlgorithmOID: query.messageImprint.hashAlgorithm.algorithmId,
      nonce: nonce ?? Math.floor(Math.random() * 2 ** 31),
      policyOID: query.reqPolicy ?? TSA_POLICY,
      certReq: query.certReq ?? false,
    });
  }

  const publicKey = (key: KeyObject) => ({
    rawBytes: spki(key).toString('base64'),
    keyDetails: 'PKIX_ECDSA_P256_SHA_256',
    validFor: { start: validFrom },
  });
  const logId = (key: KeyObject) => ({ keyId: createHash('sha256').update(spki(key)).digest('base64') });
  const service = (serviceUrl: string) => ({
    url: serviceUrl,
    majorApiVersion: 1,
    validFor: { start: validFrom },
    operator: label,
  });

  return {
    url,
    tsaUrl: `${url}${TSA_PATH}`,
    tsaChainPem: [tsa.intCertificate, tsa.rootCertificate].map(pem).join(''),
    trustedRoot: () => ({
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      tlogs: [
        {
          baseUrl: url,
          hashAlgorithm: 'SHA2_256',
          publicKey: publicKey(keys.rekor.publicKey),
          logId: logId(keys.rekor.publicKey),
        },
      ],
      certificateAuthorities: [
        {
          subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
          uri: url,
          certChain: { certificates: [{ rawBytes: base64(ca.rootCertificate) }] },
          validFor: { start: validFrom },
        },
      ],
      ctlogs: [
        {
          baseUrl: url,
          hashAlgorithm: 'SHA2_256',
          publicKey: publicKey(keys.ctlog.publicKey),
          logId: logId(keys.ctlog.publicKey),
        },
      ],
      timestampAuthorities: [
        {
          subject: { organization: 'sigstore.mock', commonName: 'tsa' },
          uri: `${url}${TSA_PATH}`,
          certChain: {
            certificates: [
              { rawBytes: base64(tsa.intCertificate) },
              { rawBytes: base64(tsa.rootCertificate) },
            ],
          },
          validFor: { start: validFrom },
        },
      ],
    }),
    signingConfig: (options = {}) => ({
      mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
      caUrls: options.fulcio === false ? [] : [service(url)],
      oidcUrls: [],
      rekorTlogUrls: options.rekor === false ? [] : [service(url)],
      rekorTlogConfig: { selector: 'ANY' },
      tsaUrls: options.tsa ? [service(`${url}${TSA_PATH}`)] : [],
      tsaConfig: { selector: 'ANY' },
    }),
    identityToken: (claims) => {
      const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
      const now = Math.floor(Date.now() / 1000);
      const unsigned = `${encode({ alg: 'ES256', typ: 'JWT', kid: label })}.${encode({
        aud: 'sigstore',
        iat: now,
        nbf: now,
        exp: now + 3600,
        ...claims,
      })}`;
      const signature = sign('sha256', Buffer.from(unsigned), {
        key: keys.oidc.privateKey,
        dsaEncoding: 'ieee-p1363',
      });
      return `${unsigned}.${signature.toString('base64url')}`;
    },
    requests: (path) => counts.get(path) ?? 0,
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
