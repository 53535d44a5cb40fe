/**
 * Certificate chains made by the `openssl` CLI (not by imagegate's own test CA), for checking
 * certificate path validation against `openssl verify`: a root, CAs under it with the extensions
 * a case needs (name constraints, unknown critical extensions), and leaves with Fulcio-style SANs.
 * Every file lives in one temporary folder; call `remove()` when done.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A certificate openssl made, with its key. */
export interface OpenSslCertificate {
  readonly name: string;
  readonly pem: string;
  readonly der: Buffer;
  readonly file: string;
  readonly keyFile: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** What `openssl verify` said about a chain. */
export interface OpenSslVerdict {
  readonly ok: boolean;
  readonly output: string;
}

/** CA extensions every CA of these chains has (before the case's own). */
export const CA_EXTENSIONS = [
  'basicConstraints = critical, CA:TRUE',
  'keyUsage = critical, keyCertSign, cRLSign',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid:always',
];

/** Leaf extensions every signing certificate has (Fulcio's shape), before its SAN. */
export const LEAF_EXTENSIONS = [
  'basicConstraints = critical, CA:FALSE',
  'keyUsage = critical, digitalSignature',
  'extendedKeyUsage = codeSigning',
  'subjectKeyIdentifier = hash',
  'authorityKeyIdentifier = keyid:always',
];

/** An unregistered private OID, marked critical: no validator knows it. */
export const UNKNOWN_CRITICAL_EXTENSION = '1.3.6.1.4.1.55555.1.1 = critical, ASN1:UTF8String:imagegate-test';

export class OpenSslPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'imagegate-openssl-pki-'));
  private counter = 0;

  /** A self-signed root CA. */
  root(name: string, extensions: readonly string[] = CA_EXTENSIONS): OpenSslCertificate {
    const file = this.path(name, 'pem');
    const keyFile = this.key(name);
    this.openssl([
      'req',
      '-x509',
      '-new',
      '-key',
      keyFile,
      '-subj',
      `/O=imagegate test/CN=${name}`,
      '-days',
      '2',
      '-sha256',
      '-config',
      this.config(name, extensions),
      '-extensions',
      'v3',
      '-out',
      file,
    ]);
    return this.read(name, file, keyFile);
  }

  /** A certificate for `name` issued by `issuer`, with exactly `extensions` (openssl config lines). */
  issue(name: string, issuer: OpenSslCertificate, extensions: readonly string[]): OpenSslCertificate {
    const file = this.path(name, 'pem');
    const keyFile = this.key(name);
    const request = this.path(name, 'csr');
    this.openssl(['req', '-new', '-key', keyFile, '-subj', `/O=imagegate test/CN=${name}`, '-out', request]);
    this.openssl([
      'x509',
      '-req',
      '-in',
      request,
      '-CA',
      issuer.file,
      '-CAkey',
      issuer.keyFile,
      '-set_serial',
      `0x${randomBytes(12).toString('hex')}`,
      '-days',
      '2',
      '-sha256',
      '-extfile',
      this.config(name, extensions),
      '-extensions',
      'v3',
      '-out',
      file,
    ]);
    return this.read(name, file, keyFile);
  }

  /** `openssl verify -purpose any` of `leaf` through `untrusted` intermediates to `root`. */
  verify(
    leaf: OpenSslCertificate,
    untrusted: readonly OpenSslCertificate[],
    root: OpenSslCertificate,
  ): OpenSslVerdict {
    const args = ['verify', '-purpose', 'any', '-CAfile', root.file];
    if (untrusted.length > 0) {
      const bundle = this.path(`untrusted-${++this.counter}`, 'pem');
      writeFileSync(bundle, untrusted.map((certificate) => certificate.pem).join(''));
      args.push('-untrusted', bundle);
    }
    args.push(leaf.file);
    const result = spawnSync('openssl', args, { encoding: 'utf8' });
    return { ok: result.status === 0, output: `${result.stdout}${result.stderr}`.trim() };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private key(name: string): string {
    const file = this.path(name, 'key');
    this.openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file]);
    return file;
  }

  private config(name: string, extensions: readonly string[]): string {
    const file = this.path(name, 'cnf');
    writeFileSync(
      file,
      ['[ req ]', 'distinguished_name = dn', '[ dn ]', '[ v3 ]', ...extensions, ''].join('\n'),
    );
    return file;
  }

  private read(name: string, file: string, keyFile: string): OpenSslCertificate {
    const pem = readFileSync(file, 'utf8');
    const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, '');
    const privateKey = createPrivateKey(readFileSync(keyFile, 'utf8'));
    return {
      name,
      pem,
      der: Buffer.from(body, 'base64'),
      file,
      keyFile,
      privateKey,
      publicKey: createPublicKey(privateKey),
    };
  }

  private path(name: string, extension: string): string {
    return join(this.dir, `${name.replace(/[^a-z0-9-]/gi, '_')}.${extension}`);
  }

  private openssl(args: string[]): void {
    const result = spawnSync('openssl', args, { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${result.stderr}`);
  }
}
