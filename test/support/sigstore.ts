/**
 * A private Sigstore for tests, with node:crypto only (and `openssl ts` for RFC 3161 tokens): a
 * Fulcio-like CA (root + intermediate) issuing code-signing certificates with Fulcio's identity
 * extensions and an embedded SCT from a test CT log, a Rekor-like log signing SETs and
 * checkpoints, an optional timestamp authority, and the trusted_root.json describing them.
 * Signatures come out in cosign's two formats: legacy `.sig` layer annotations
 * (shared/reference/cosign-formats.md §1.3) and Sigstore bundle v0.3 (§3), pushed to a registry
 * as `.sig` layers or as OCI referrers through the `sha256-<hex>` fallback tag.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signImage, signPayload, simpleSigningPayload, type SignResult } from './cosign-signer';
import { getManifest, MediaTypes, pushBlob, putManifest, sha256Digest } from './images';

/** The GitHub Actions identity test certificates are usually issued to: a release workflow and its issuer. */
export const WORKFLOW = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
export const GITHUB = 'https://token.actions.githubusercontent.com';

// ---------------------------------------------------------------------------------------------
// DER

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, content: Buffer) =>
  Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const octet = (bytes: Buffer) => tlv(0x04, bytes);
const utf8 = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
const bool = (value: boolean) => tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
const explicit = (tag: number, content: Buffer) => tlv(0xa0 + tag, content);
const primitive = (tag: number, bytes: Buffer) => tlv(0x80 + tag, bytes);

function integer(value: bigint): Buffer {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if ((bytes[0] ?? 0) >= 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const part of parts.slice(2)) {
    const chunk = [part & 0x7f];
    for (let rest = Math.floor(part / 128); rest > 0; rest = Math.floor(rest / 128))
      chunk.unshift((rest & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}

function time(date: Date): Buffer {
  const iso = date.toISOString();
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '');
  return date.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`))
    : tlv(0x18, Buffer.from(`${digits}Z`));
}

function bitString(bytes: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), bytes]));
}

function name(commonName: string, organization = 'imagegate test'): Buffer {
  return seq(set(seq(oid('2.5.4.10'), utf8(organization))), set(seq(oid('2.5.4.3'), utf8(commonName))));
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

function spki(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' });
}

/** A key identifier (sha1 of the DER public key; any unique value works for chaining). */
function keyIdentifier(key: KeyObject): Buffer {
  return createHash('sha1').update(spki(key)).digest();
}

function extension(id: string, value: Buffer, critical = false): Buffer {
  return seq(oid(id), ...(critical ? [bool(true)] : []), octet(value));
}

export const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extendedKeyUsage: '2.5.29.37',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  subjectAltName: '2.5.29.17',
  sct: '1.3.6.1.4.1.11129.2.4.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  fulcioIssuerV1: '1.3.6.1.4.1.57264.1.1',
  githubWorkflowTrigger: '1.3.6.1.4.1.57264.1.2',
  githubWorkflowSha: '1.3.6.1.4.1.57264.1.3',
  githubWorkflowName: '1.3.6.1.4.1.57264.1.4',
  githubWorkflowRepository: '1.3.6.1.4.1.57264.1.5',
  githubWorkflowRef: '1.3.6.1.4.1.57264.1.6',
  fulcioIssuerV2: '1.3.6.1.4.1.57264.1.8',
  sourceRepositoryURI: '1.3.6.1.4.1.57264.1.12',
} as const;

interface CertificateSpec {
  readonly subject: Buffer;
  readonly issuer: Buffer;
  readonly publicKey: KeyObject;
  readonly issuerKey: KeyObject;
  readonly issuerPublicKey: KeyObject;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: readonly Buffer[];
  /** Called with the TBS without it; returns the SCT extension to append. */
  readonly sct?: (tbs: Buffer) => Buffer;
}

function tbsCertificate(spec: CertificateSpec, serial: bigint, extensions: readonly Buffer[]): Buffer {
  return seq(
    explicit(0, integer(2n)),
    integer(serial),
    ECDSA_SHA256,
    spec.issuer,
    seq(time(spec.notBefore), time(spec.notAfter)),
    spec.subject,
    spki(spec.publicKey),
    explicit(3, seq(...extensions)),
  );
}

/** A DER certificate signed by `issuerKey` (ECDSA P-256, SHA-256). */
function buildCertificate(spec: CertificateSpec): Buffer {
  const serial = BigInt(`0x${randomBytes(16).toString('hex')}`) >> 1n;
  const extensions = [...spec.extensions];
  if (spec.sct) extensions.push(spec.sct(tbsCertificate(spec, serial, extensions)));
  const tbs = tbsCertificate(spec, serial, extensions);
  return seq(tbs, ECDSA_SHA256, bitString(sign('sha256', tbs, spec.issuerKey)));
}

export function toPem(der: Buffer, label = 'CERTIFICATE'): string {
  const body = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

function ecKeyPair(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
}

// ---------------------------------------------------------------------------------------------
// Authorities

/** A certificate authority: a self-signed root and one intermediate (Fulcio's shape). */
export interface TestCa {
  readonly root: {
    readonly der: Buffer;
    readonly pem: string;
    readonly key: KeyObject;
    readonly publicKey: KeyObject;
  };
  readonly intermediate: {
    readonly der: Buffer;
    readonly pem: string;
    readonly key: KeyObject;
    readonly publicKey: KeyObject;
  };
  readonly subject: Buffer;
  /** intermediate + root PEM, the `dev.sigstore.cosign/chain` annotation. */
  readonly chainPem: string;
}

function createCa(label: string, intermediateUsage: string, validFrom: Date): TestCa {
  const root = ecKeyPair();
  const rootName = name(`${label} root`);
  const notAfter = new Date(validFrom.getTime() + 10 * 365 * 24 * 3600_000);
  const caExtensions = (key: KeyObject, issuerKey: KeyObject, pathLength?: bigint) => [
    extension(
      OID.basicConstraints,
      seq(bool(true), ...(pathLength === undefined ? [] : [integer(pathLength)])),
      true,
    ),
    extension(OID.keyUsage, bitString(Buffer.from([0x06]), 1), true),
    extension(OID.subjectKeyId, octet(keyIdentifier(key))),
    extension(OID.authorityKeyId, seq(primitive(0, keyIdentifier(issuerKey)))),
  ];
  const rootDer = buildCertificate({
    subject: rootName,
    issuer: rootName,
    publicKey: root.publicKey,
    issuerKey: root.privateKey,
    issuerPublicKey: root.publicKey,
    notBefore: validFrom,
    notAfter,
    extensions: caExtensions(root.publicKey, root.publicKey),
  });
  const intermediate = ecKeyPair();
  const intermediateName = name(`${label} intermediate`);
  const intermediateDer = buildCertificate({
    subject: intermediateName,
    issuer: rootName,
    publicKey: intermediate.publicKey,
    issuerKey: root.privateKey,
    issuerPublicKey: root.publicKey,
    notBefore: validFrom,
    notAfter,
    extensions: [
      ...caExtensions(intermediate.publicKey, root.publicKey, 0n),
      extension(OID.extendedKeyUsage, seq(oid(intermediateUsage))),
    ],
  });
  return {
    root: { der: rootDer, pem: toPem(rootDer), key: root.privateKey, publicKey: root.publicKey },
    intermediate: {
      der: intermediateDer,
      pem: toPem(intermediateDer),
      key: intermediate.privateKey,
      publicKey: intermediate.publicKey,
    },
    subject: intermediateName,
    chainPem: toPem(intermediateDer) + toPem(rootDer),
  };
}

/** A log key (Rekor or CT): P-256, its log ID = sha256 of the DER public key. */
export interface TestLog {
  readonly baseUrl: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicKeyPem: string;
  readonly logId: Buffer;
}

function createLog(baseUrl: string): TestLog {
  const { privateKey, publicKey } = ecKeyPair();
  return {
    baseUrl,
    privateKey,
    publicKey,
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    logId: createHash('sha256').update(spki(publicKey)).digest(),
  };
}

/** A signing certificate and its key. */
export interface SigningIdentity {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly der: Buffer;
  readonly pem: string;
  /** The chain annotation: intermediate then root. */
  readonly chainPem: string;
}

export interface IssueOptions {
  readonly email?: string;
  readonly uri?: string;
  /** OIDC issuer, written to extensions 1.1 (raw) and 1.8 (UTF8String). */
  readonly issuer?: string;
  /** Further Fulcio extensions by OID: 1.2–1.6 raw, others as UTF8String. */
  readonly extensions?: Readonly<Record<string, string>>;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Embed an SCT from the test CT log (default true). */
  readonly sct?: boolean;
  /** Extended key usage; default code signing. */
  readonly usage?: string;
}

const RAW_FULCIO_OIDS = new Set<string>([
  OID.fulcioIssuerV1,
  OID.githubWorkflowTrigger,
  OID.githubWorkflowSha,
  OID.githubWorkflowName,
  OID.githubWorkflowRepository,
  OID.githubWorkflowRef,
]);

export interface TestSigstore {
  readonly name: string;
  readonly fulcio: TestCa;
  readonly rekor: TestLog;
  readonly ctlog: TestLog;
  readonly tsa: {
    readonly ca: TestCa;
    readonly leafPem: string;
    readonly leafKey: KeyObject;
    readonly leafDer: Buffer;
  };
  /** A Fulcio-style certificate (10 minutes from now unless told otherwise). */
  issue(options: IssueOptions): SigningIdentity;
  /** The trusted_root.json of this instance. */
  trustedRoot(): Record<string, unknown>;
  /** An RFC 3161 TimeStampResp (DER) over `data`, by this instance's TSA, at the current time. */
  timestamp(data: Buffer, options?: TimestampOptions): Buffer;
}

/** How the test TSA (`openssl ts -reply`) writes genTime. */
export interface TimestampOptions {
  /**
   * Exactly this many fractional-second digits in genTime (1–6): openssl is asked for that
   * precision (`clock_precision_digits`), again until the time has no trailing zero to drop.
   */
  readonly fractionDigits?: number;
  /** Rewrites the genTime text in the response bytes (same length; the signature then fails). */
  readonly rewriteGenTime?: (genTime: string) => string;
}

/** The genTime text of a TimeStampResp: its only GeneralizedTime (the test certificates use UTCTime). */
export function timestampGenTime(response: Buffer): string {
  for (let at = response.indexOf(0x18); at >= 0; at = response.indexOf(0x18, at + 1)) {
    const length = response[at + 1] ?? 0;
    const text = response.subarray(at + 2, at + 2 + length).toString('latin1');
    if (length >= 15 && length <= 32 && /^[\x20-\x7e]+Z$/.test(text)) return text;
  }
  throw new Error('no genTime in the timestamp response');
}

const EPOCH = new Date('2020-01-01T00:00:00Z');

/** A fresh private Sigstore instance; every call makes new keys. */
export function createTestSigstore(label = 'imagegate-test'): TestSigstore {
  const fulcio = createCa(`${label} fulcio`, OID.codeSigning, EPOCH);
  const rekor = createLog(`https://rekor.${label}.example`);
  const ctlog = createLog(`https://ctfe.${label}.example`);
  const tsaCa = createCa(`${label} tsa`, OID.timeStamping, EPOCH);
  const tsaKey = ecKeyPair();
  const tsaLeafDer = buildCertificate({
    subject: name(`${label} timestamping`),
    issuer: tsaCa.subject,
    publicKey: tsaKey.publicKey,
    issuerKey: tsaCa.intermediate.key,
    issuerPublicKey: tsaCa.intermediate.publicKey,
    notBefore: EPOCH,
    notAfter: new Date('2040-01-01T00:00:00Z'),
    extensions: [
      extension(OID.keyUsage, bitString(Buffer.from([0x80]), 7), true),
      extension(OID.extendedKeyUsage, seq(oid(OID.timeStamping)), true),
      extension(OID.subjectKeyId, octet(keyIdentifier(tsaKey.publicKey))),
      extension(OID.authorityKeyId, seq(primitive(0, keyIdentifier(tsaCa.intermediate.publicKey)))),
    ],
  });

  const issue = (options: IssueOptions): SigningIdentity => {
    const { privateKey, publicKey } = ecKeyPair();
    const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
    const notAfter = options.notAfter ?? new Date(notBefore.getTime() + 10 * 60_000);
    const names = [
      ...(options.email ? [primitive(1, Buffer.from(options.email))] : []),
      ...(options.uri ? [primitive(6, Buffer.from(options.uri))] : []),
    ];
    const fulcioExtensions: [string, string][] = [
      ...(options.issuer ? ([[OID.fulcioIssuerV1, options.issuer]] as [string, string][]) : []),
      ...Object.entries(options.extensions ?? {}),
      ...(options.issuer ? ([[OID.fulcioIssuerV2, options.issuer]] as [string, string][]) : []),
    ];
    const der = buildCertificate({
      subject: seq(),
      issuer: fulcio.subject,
      publicKey,
      issuerKey: fulcio.intermediate.key,
      issuerPublicKey: fulcio.intermediate.publicKey,
      notBefore,
      notAfter,
      extensions: [
        extension(OID.keyUsage, bitString(Buffer.from([0x80]), 7), true),
        extension(OID.extendedKeyUsage, seq(oid(options.usage ?? OID.codeSigning))),
        extension(OID.subjectKeyId, octet(keyIdentifier(publicKey))),
        extension(OID.authorityKeyId, seq(primitive(0, keyIdentifier(fulcio.intermediate.publicKey)))),
        extension(OID.subjectAltName, seq(...names), true),
        ...fulcioExtensions.map(([id, value]) =>
          extension(id, RAW_FULCIO_OIDS.has(id) ? Buffer.from(value) : utf8(value)),
        ),
      ],
      sct:
        options.sct === false
          ? undefined
          : (tbs) =>
              extension(
                OID.sct,
                octet(signedCertificateTimestamps(ctlog, fulcio.intermediate.publicKey, tbs, notBefore)),
              ),
    });
    return { privateKey, publicKey, der, pem: toPem(der), chainPem: fulcio.chainPem };
  };

  const trustedRoot = () => {
    const start = EPOCH.toISOString();
    const log = (instance: TestLog) => ({
      baseUrl: instance.baseUrl,
      hashAlgorithm: 'SHA2_256',
      publicKey: {
        rawBytes: spki(instance.publicKey).toString('base64'),
        keyDetails: 'PKIX_ECDSA_P256_SHA_256',
        validFor: { start },
      },
      logId: { keyId: instance.logId.toString('base64') },
    });
    return {
      mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
      tlogs: [log(rekor)],
      certificateAuthorities: [
        {
          subject: { organization: 'imagegate test', commonName: `${label} fulcio` },
          uri: `https://fulcio.${label}.example`,
          certChain: {
            certificates: [
              { rawBytes: fulcio.intermediate.der.toString('base64') },
              { rawBytes: fulcio.root.der.toString('base64') },
            ],
          },
          validFor: { start },
        },
      ],
      ctlogs: [log(ctlog)],
      timestampAuthorities: [
        {
          subject: { organization: 'imagegate test', commonName: `${label} tsa` },
          uri: `https://tsa.${label}.example`,
          certChain: {
            certificates: [
              { rawBytes: tsaLeafDer.toString('base64') },
              { rawBytes: tsaCa.intermediate.der.toString('base64') },
              { rawBytes: tsaCa.root.der.toString('base64') },
            ],
          },
          validFor: { start },
        },
      ],
    };
  };

  return {
    name: label,
    fulcio,
    rekor,
    ctlog,
    tsa: { ca: tsaCa, leafPem: toPem(tsaLeafDer), leafKey: tsaKey.privateKey, leafDer: tsaLeafDer },
    issue,
    trustedRoot,
    timestamp: (data, options = {}) => {
      const make = () =>
        openSslTimestamp(data, toPem(tsaLeafDer), tsaKey.privateKey, tsaCa.chainPem, options);
      let response = make();
      // A time whose last digit is 0 is written shorter; about one in ten. Ask again.
      for (let attempt = 0; options.fractionDigits && attempt < 50; attempt++) {
        const fraction = /\.([0-9]+)Z$/.exec(timestampGenTime(response))?.[1] ?? '';
        if (fraction.length === options.fractionDigits) break;
        response = make();
      }
      const { rewriteGenTime } = options;
      if (!rewriteGenTime) return response;
      const genTime = timestampGenTime(response);
      const rewritten = rewriteGenTime(genTime);
      if (rewritten.length !== genTime.length) throw new Error('rewriteGenTime must keep the length');
      const at = response.indexOf(Buffer.from(genTime, 'latin1'));
      return Buffer.concat([
        response.subarray(0, at),
        Buffer.from(rewritten, 'latin1'),
        response.subarray(at + genTime.length),
      ]);
    },
  };
}

/** RFC 6962 §3.2: a precertificate SCT list (one SCT) over the TBS without the SCT extension. */
function signedCertificateTimestamps(log: TestLog, issuerKey: KeyObject, tbs: Buffer, at: Date): Buffer {
  const timestamp = Buffer.alloc(8);
  timestamp.writeBigUInt64BE(BigInt(at.getTime()));
  const tbsLength = Buffer.alloc(3);
  tbsLength.writeUIntBE(tbs.length, 0, 3);
  const signed = Buffer.concat([
    Buffer.from([0, 0]), // v1, certificate_timestamp
    timestamp,
    Buffer.from([0, 1]), // precert_entry
    createHash('sha256').update(spki(issuerKey)).digest(),
    tbsLength,
    tbs,
    Buffer.from([0, 0]), // no extensions
  ]);
  const signature = sign('sha256', signed, log.privateKey);
  const signatureLength = Buffer.alloc(2);
  signatureLength.writeUInt16BE(signature.length);
  const sct = Buffer.concat([
    Buffer.from([0]),
    log.logId,
    timestamp,
    Buffer.from([0, 0]),
    Buffer.from([4, 3]), // sha256, ecdsa
    signatureLength,
    signature,
  ]);
  const item = Buffer.alloc(2);
  item.writeUInt16BE(sct.length);
  const total = Buffer.alloc(2);
  total.writeUInt16BE(sct.length + 2);
  return Buffer.concat([total, item, sct]);
}

/** `openssl ts -query` + `-reply`: a TimeStampResp over sha256(data) that embeds the TSA certificate. */
function openSslTimestamp(
  data: Buffer,
  leafPem: string,
  key: KeyObject,
  chainPem: string,
  options: TimestampOptions = {},
): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'imagegate-tsa-'));
  try {
    const file = (name: string, content: string | Buffer) => {
      writeFileSync(join(dir, name), content);
      return join(dir, name);
    };
    const run = (args: string[]) => {
      const result = spawnSync('openssl', args, { encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${result.stderr}`);
    };
    file('serial', '01\n');
    const config = file(
      'ts.cnf',
      [
        '[ tsa ]',
        'default_tsa = tsa_config',
        '[ tsa_config ]',
        `serial = ${join(dir, 'serial')}`,
        'default_policy = 1.3.6.1.4.1.57264.2',
        'digests = sha256',
        'signer_digest = sha256',
        'accuracy = secs:1',
        'ess_cert_id_alg = sha256',
        'ess_cert_id_chain = no',
        'crypto_device = builtin',
        ...(options.fractionDigits ? [`clock_precision_digits = ${options.fractionDigits}`] : []),
        '',
      ].join('\n'),
    );
    run([
      'ts',
      '-query',
      '-data',
      file('data', data),
      '-sha256',
      '-cert',
      '-no_nonce',
      '-out',
      join(dir, 'q.tsq'),
    ]);
    run([
      'ts',
      '-reply',
      '-config',
      config,
      '-queryfile',
      join(dir, 'q.tsq'),
      '-signer',
      file('tsa.pem', leafPem),
      '-inkey',
      file('tsa.key', key.export({ format: 'pem', type: 'pkcs8' }).toString()),
      '-chain',
      file('chain.pem', chainPem),
      '-out',
      join(dir, 'r.tsr'),
    ]);
    return readFileSync(join(dir, 'r.tsr'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Rekor

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const record = value as Record<string, unknown>;
  return `{${Object.keys(record)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`)
    .join(',')}}`;
}

/** The SET: the log's signature over the canonical `{body, integratedTime, logID, logIndex}`. */
export function signedEntryTimestamp(
  log: TestLog,
  body: string,
  integratedTime: number,
  logIndex: number,
): Buffer {
  const payload = canonicalJson({ body, integratedTime, logID: log.logId.toString('hex'), logIndex });
  return sign('sha256', Buffer.from(payload), log.privateKey);
}

export interface LogEntryOptions {
  /** Seconds since the epoch; default now. */
  readonly integratedTime?: number;
  readonly logIndex?: number;
}

/** A Rekor `hashedrekord` 0.0.1 body (base64 of canonical JSON) for a signature over `payload`. */
export function hashedRekordBody(payload: Buffer, signature: string, signerPem: string): string {
  return Buffer.from(
    canonicalJson({
      apiVersion: '0.0.1',
      kind: 'hashedrekord',
      spec: {
        data: { hash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') } },
        signature: { content: signature, publicKey: { content: Buffer.from(signerPem).toString('base64') } },
      },
    }),
  ).toString('base64');
}

/** The `dev.sigstore.cosign/bundle` annotation for a body. */
export function rekorBundleAnnotation(log: TestLog, body: string, options: LogEntryOptions = {}): string {
  const integratedTime = options.integratedTime ?? Math.floor(Date.now() / 1000);
  const logIndex = options.logIndex ?? 1;
  return JSON.stringify({
    SignedEntryTimestamp: signedEntryTimestamp(log, body, integratedTime, logIndex).toString('base64'),
    Payload: { body, integratedTime, logIndex, logID: log.logId.toString('hex') },
  });
}

// ---------------------------------------------------------------------------------------------
// Legacy `.sig` layers

export const ANNOTATIONS = {
  signature: 'dev.cosignproject.cosign/signature',
  certificate: 'dev.sigstore.cosign/certificate',
  chain: 'dev.sigstore.cosign/chain',
  bundle: 'dev.sigstore.cosign/bundle',
  timestamp: 'dev.sigstore.cosign/rfc3161timestamp',
} as const;

export interface LegacySignOptions extends LogEntryOptions {
  /** `valid` (default), `none`, `tampered` (SET over other values), `foreign` (another log's key). */
  readonly rekor?: 'valid' | 'none' | 'tampered' | 'foreign';
  /** Add an RFC 3161 timestamp over the signature. */
  readonly timestamp?: boolean;
  /** How the TSA writes that timestamp's genTime. */
  readonly timestampOptions?: TimestampOptions;
  /** Sign with a key instead of the certificate (no certificate annotations). */
  readonly key?: { readonly privateKey: KeyObject; readonly publicKeyPem: string };
}

/** The annotations of a cosign `.sig` layer holding `payload` signed by `signer` (keyless unless `key`). */
export function legacyAnnotations(
  sigstore: TestSigstore,
  payload: Buffer,
  signer: SigningIdentity | undefined,
  options: LegacySignOptions = {},
): Record<string, string> {
  const privateKey = options.key?.privateKey ?? signer?.privateKey;
  const signerPem = options.key?.publicKeyPem ?? signer?.pem;
  if (!privateKey || !signerPem) throw new Error('legacyAnnotations needs a signer or a key');
  const signature = signPayload(payload, privateKey);
  const annotations: Record<string, string> = { [ANNOTATIONS.signature]: signature };
  if (!options.key && signer) {
    annotations[ANNOTATIONS.certificate] = signer.pem;
    annotations[ANNOTATIONS.chain] = signer.chainPem;
  }
  const mode = options.rekor ?? 'valid';
  if (mode !== 'none') {
    const body = hashedRekordBody(payload, signature, signerPem);
    const log = mode === 'foreign' ? createLog('https://rekor.foreign.example') : sigstore.rekor;
    const bundle = JSON.parse(rekorBundleAnnotation(log, body, options)) as {
      Payload: { logIndex: number };
    };
    if (mode === 'tampered') bundle.Payload.logIndex += 1;
    annotations[ANNOTATIONS.bundle] = JSON.stringify(bundle);
  }
  if (options.timestamp) {
    annotations[ANNOTATIONS.timestamp] = JSON.stringify({
      SignedRFC3161Timestamp: sigstore
        .timestamp(Buffer.from(signature, 'base64'), options.timestampOptions)
        .toString('base64'),
    });
  }
  return annotations;
}

/** An in-memory `.sig` layer (as lib/oci/cosign returns them). */
export function legacyLayer(
  payload: Buffer,
  annotations: Record<string, string>,
): { mediaType: string; digest: string; annotations: Record<string, string>; payload: Buffer } {
  return {
    mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
    digest: sha256Digest(payload),
    annotations,
    payload,
  };
}

/** Keyless-signs `repository@digest` in the legacy `.sig` format (appending a layer). */
export async function signImageKeyless(
  registryHost: string,
  repository: string,
  digest: string,
  sigstore: TestSigstore,
  signer: SigningIdentity,
  options: LegacySignOptions & { readonly optional?: Record<string, string> } = {},
): Promise<SignResult> {
  const payload = simpleSigningPayload(`${registryHost}/${repository}`, digest, options.optional ?? null);
  const annotations = legacyAnnotations(sigstore, payload, signer, options);
  const { [ANNOTATIONS.signature]: signature, ...rest } = annotations;
  return signImage(registryHost, repository, digest, signer.privateKey, {
    payloadOverride: payload,
    signatureOverride: signature ?? null,
    annotations: rest,
    optional: options.optional,
  });
}

// ---------------------------------------------------------------------------------------------
// Sigstore bundles

export interface BundleOptions extends LogEntryOptions {
  /** `valid` (default), `none` (no tlog entry), `tampered` (SET over another index). */
  readonly rekor?: 'valid' | 'none' | 'tampered';
  /** The digest the in-toto statement names (default: the signed one). */
  readonly subjectDigest?: string;
  readonly predicateType?: string;
  /** in-toto subject annotations (cosign v3 `-a`). */
  readonly annotations?: Record<string, string>;
  /** Add an RFC 3161 timestamp over the signature. */
  readonly timestamp?: boolean;
  /** How the TSA writes that timestamp's genTime. */
  readonly timestampOptions?: TimestampOptions;
  /** Sign with a key (bundle `publicKey` material) instead of the certificate. */
  readonly key?: { readonly privateKey: KeyObject; readonly publicKeyPem: string };
}

/** A Sigstore bundle v0.3 as `cosign sign` v3 writes it: DSSE in-toto statement, Rekor v1 dsse entry. */
export function signBundle(
  sigstore: TestSigstore,
  digest: string,
  signer: SigningIdentity | undefined,
  options: BundleOptions = {},
): Record<string, unknown> {
  const hex = (options.subjectDigest ?? digest).replace(/^sha256:/, '');
  const statement = Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [
        { digest: { sha256: hex }, ...(options.annotations ? { annotations: options.annotations } : {}) },
      ],
      predicateType: options.predicateType ?? 'https://sigstore.dev/cosign/sign/v1',
      predicate: {},
    }),
  );
  const payloadType = 'application/vnd.in-toto+json';
  const pae = Buffer.concat([
    Buffer.from(`DSSEv1 ${payloadType.length} ${payloadType} ${statement.length} `),
    statement,
  ]);
  const privateKey = options.key?.privateKey ?? signer?.privateKey;
  const signerPem = options.key?.publicKeyPem ?? signer?.pem;
  if (!privateKey || !signerPem) throw new Error('signBundle needs a signer or a key');
  const signature = sign('sha256', pae, privateKey).toString('base64');
  const envelope = {
    payload: statement.toString('base64'),
    payloadType,
    signatures: [{ sig: signature, keyid: '' }],
  };

  const tlogEntries: unknown[] = [];
  if ((options.rekor ?? 'valid') !== 'none') {
    const body = Buffer.from(
      canonicalJson({
        apiVersion: '0.0.1',
        kind: 'dsse',
        spec: {
          envelopeHash: {
            algorithm: 'sha256',
            value: createHash('sha256').update(canonicalJson(envelope)).digest('hex'),
          },
          payloadHash: { algorithm: 'sha256', value: createHash('sha256').update(statement).digest('hex') },
          signatures: [{ signature, verifier: Buffer.from(signerPem).toString('base64') }],
        },
      }),
    );
    const integratedTime = options.integratedTime ?? Math.floor(Date.now() / 1000);
    const logIndex = options.logIndex ?? 0;
    const set = signedEntryTimestamp(
      sigstore.rekor,
      body.toString('base64'),
      integratedTime,
      options.rekor === 'tampered' ? logIndex + 1 : logIndex,
    );
    // A one-entry tree: the root is the leaf hash, the proof has no hashes.
    const root = createHash('sha256')
      .update(Buffer.concat([Buffer.from([0]), body]))
      .digest();
    const origin = new URL(sigstore.rekor.baseUrl).host;
    const note = `${origin} - 1\n1\n${root.toString('base64')}\n`;
    const noteSignature = Buffer.concat([
      sigstore.rekor.logId.subarray(0, 4),
      sign('sha256', Buffer.from(note), sigstore.rekor.privateKey),
    ]);
    tlogEntries.push({
      logIndex: String(logIndex),
      logId: { keyId: sigstore.rekor.logId.toString('base64') },
      kindVersion: { kind: 'dsse', version: '0.0.1' },
      integratedTime: String(integratedTime),
      inclusionPromise: { signedEntryTimestamp: set.toString('base64') },
      inclusionProof: {
        logIndex: String(logIndex),
        rootHash: root.toString('base64'),
        treeSize: '1',
        hashes: [],
        checkpoint: { envelope: `${note}\n\u2014 ${origin} ${noteSignature.toString('base64')}\n` },
      },
      canonicalizedBody: body.toString('base64'),
    });
  }
  const material: Record<string, unknown> = options.key
    ? { publicKey: { hint: createHash('sha256').update(options.key.publicKeyPem).digest('base64') } }
    : { certificate: { rawBytes: signer?.der.toString('base64') } };
  if (options.timestamp) {
    material.timestampVerificationData = {
      rfc3161Timestamps: [
        {
          signedTimestamp: sigstore
            .timestamp(Buffer.from(signature, 'base64'), options.timestampOptions)
            .toString('base64'),
        },
      ],
    };
  }
  return {
    mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    verificationMaterial: { ...material, tlogEntries },
    dsseEnvelope: envelope,
  };
}

const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const EMPTY_CONFIG = Buffer.from('{}');

/**
 * Attaches a bundle to `repository@digest` as cosign v3 does on a registry without the referrers
 * API: a referrer manifest (artifactType, `subject`, one bundle layer) pushed by digest, listed in
 * the `sha256-<hex>` fallback index. Returns the referrer manifest digest.
 */
export async function attachBundle(
  registryHost: string,
  repository: string,
  digest: string,
  bundle: Record<string, unknown>,
  options: { readonly listedArtifactType?: string } = {},
): Promise<string> {
  const subject = await getManifest(registryHost, repository, digest);
  if (!subject) throw new Error(`attachBundle: ${repository}@${digest} not found`);
  const bytes = Buffer.from(JSON.stringify(bundle));
  const layer = await pushBlob(registryHost, repository, bytes);
  const config = await pushBlob(registryHost, repository, EMPTY_CONFIG);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      artifactType: BUNDLE_MEDIA_TYPE,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', ...config },
      layers: [{ mediaType: BUNDLE_MEDIA_TYPE, ...layer }],
      subject: { mediaType: subject.mediaType, digest, size: subject.body.length },
      annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope' },
    }),
  );
  const manifestDigest = sha256Digest(manifest);
  await putManifest(registryHost, repository, manifestDigest, manifest, MediaTypes.ociManifest);

  const tag = digest.replace(':', '-');
  const existing = await getManifest(registryHost, repository, tag);
  const manifests = (existing?.json as { manifests?: unknown[] } | undefined)?.manifests ?? [];
  manifests.push({
    mediaType: MediaTypes.ociManifest,
    digest: manifestDigest,
    size: manifest.length,
    artifactType: options.listedArtifactType ?? BUNDLE_MEDIA_TYPE,
  });
  await putManifest(
    registryHost,
    repository,
    tag,
    JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests }),
    MediaTypes.ociIndex,
  );
  return manifestDigest;
}
