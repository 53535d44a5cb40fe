/**
 * `rekor` and `ctlog`: the transparency-log, certificate-transparency and timestamp requirements
 * of an attestor, checked against the trust roots of the {@link CompileContext}.
 */
import type { X509Certificate } from '@sigstore/core';
import { sameLogUrl } from '../../verify/trust-roots';
import type { CompileContext, FieldReader } from '../fields';
import type { CtlogOptions, RekorOptions } from '../types';
import { readCertificateField, readPublicKeyField } from './values';

/** A key needs no transparency-log entry unless its `rekor` asks for one (ADR 1). */
export const NO_LOG: RekorOptions = { required: false, url: undefined, publicKey: undefined };

/** No `rekor` block: a log entry is `required` or not, no URL or key of its own. */
export function readRekorDefaults(required: boolean): RekorOptions {
  return { required, url: undefined, publicKey: undefined };
}

/**
 * `rekor`: `ignoreTlog`, `url` and `pubkey`. The log is only ever checked offline from the
 * signature's own proof; `url` must name a log of the trust roots unless `pubkey` gives its key.
 */
export function readRekor(parent: FieldReader, requiredByDefault: boolean): RekorOptions {
  const rekor = parent.object('rekor');
  if (!rekor) return readRekorDefaults(requiredByDefault);
  const required = !rekor.boolean('ignoreTlog', false);
  const url = rekor.string('url');
  const publicKey = readPublicKeyField(rekor, 'pubkey');
  rekor.rejectUnknown();
  if (url !== undefined && !/^https?:\/\/[^/\s]+/.test(url)) {
    rekor.problem('url', `must be an http(s) URL, got ${JSON.stringify(url)}`);
  } else if (url !== undefined && required && !publicKey) {
    checkLogIsTrusted(rekor, url, rekor.context);
  }
  return { required, url, publicKey };
}

function checkLogIsTrusted(rekor: FieldReader, url: string, { trust }: CompileContext): void {
  if (trust.tlogs.some((log) => sameLogUrl(log.baseURL, url))) return;
  rekor.problem(
    'url',
    `names transparency log ${url}, which no trust root has (known: ${[...new Set(trust.tlogs.map((log) => log.baseURL))].join(', ')}); add its trusted_root.json to IMAGEGATE_TRUST_ROOTS or give its key in rekor.pubkey`,
  );
}

/** `ctlog`: `ignoreSCT`, `pubkey` and `tsaCertChain`. SCTs belong to certificates: a key never needs one. */
export function readCtlog(parent: FieldReader, signer: 'key' | 'certificate'): CtlogOptions {
  const ctlog = parent.object('ctlog');
  if (!ctlog) return { requireSct: signer === 'certificate', publicKey: undefined, tsaCertChain: undefined };
  const ignoreSCT = ctlog.boolean('ignoreSCT', false);
  const publicKey = readPublicKeyField(ctlog, 'pubkey');
  const chain = readCertificateField(ctlog, 'tsaCertChain', 12);
  ctlog.rejectUnknown();
  let tsaCertChain: X509Certificate[] | undefined;
  if (chain) {
    const leaves = chain.filter((certificate) => !certificate.isCA);
    const selfSigned = (certificate: X509Certificate) => certificate.subject.equals(certificate.issuer);
    if (leaves.length > 1) {
      ctlog.problem(
        'tsaCertChain',
        `must hold at most one timestamping (non-CA) certificate, found ${leaves.length}`,
      );
    } else {
      const intermediates = chain.filter((certificate) => certificate.isCA && !selfSigned(certificate));
      const roots = chain.filter((certificate) => certificate.isCA && selfSigned(certificate));
      tsaCertChain = [...leaves, ...intermediates, ...roots];
    }
  }
  return { requireSct: signer === 'certificate' && !ignoreSCT, publicKey, tsaCertChain };
}
