/** A throw-away self-signed TLS certificate made by the openssl CLI, for registries over HTTPS. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, removeDir, runChecked } from './processes';

export interface SelfSignedCertificate {
  readonly key: string;
  readonly cert: string;
  /** Removes the files the certificate was made in. */
  remove(): Promise<void>;
}

/** An EC P-256 certificate valid for one day, for `commonName` and `subjectAltName` (e.g. `IP:127.0.0.1`). */
export async function selfSignedCertificate(
  prefix: string,
  commonName: string,
  subjectAltName: string,
): Promise<SelfSignedCertificate> {
  const dir = await makeTempDir(prefix);
  // prettier-ignore
  await runChecked('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${commonName}`, '-addext', `subjectAltName=${subjectAltName}`,
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ]);
  return {
    key: await readFile(join(dir, 'key.pem'), 'utf8'),
    cert: await readFile(join(dir, 'cert.pem'), 'utf8'),
    remove: () => removeDir(dir),
  };
}
