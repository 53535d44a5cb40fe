/**
 * Kyverno's verify-images scenario on a local registry: one image signed with the policy's key,
 * one unsigned, one signed with another key, and the sample policy in both of Kyverno's syntaxes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { generateKeyPair, signImage, type TestKeyPair } from './cosign-signer';
import { pushImage } from './images';
import { startRegistry, type TestRegistry } from './registry';

export const REPOSITORY = 'kyverno/test-verify-image';

export type PolicySyntax = 'current' | 'original';

export interface KyvernoScenario {
  readonly registry: TestRegistry;
  readonly policyKey: TestKeyPair;
  readonly digests: { readonly signed: string; readonly unsigned: string; readonly wrongKey: string };
  /** `127.0.0.1:PORT/kyverno/test-verify-image:<tag>` */
  image(tag: string): string;
  /** A folder holding only the sample policy in the given syntax. */
  policyFolder(syntax: PolicySyntax, options?: { failureAction?: 'Audit' | 'Enforce' }): Promise<string>;
  /** A folder holding the given files. */
  folderWith(files: Record<string, string>): Promise<string>;
  stop(): Promise<void>;
}

/** An AdmissionReview for a Pod named `name` in `default` running `images`, one container each. */
export function podReview(
  name: string,
  images: readonly string[],
  options: { apiVersion?: string; uid?: string } = {},
): Record<string, unknown> {
  return {
    apiVersion: options.apiVersion ?? 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: options.uid ?? `uid-${name}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      name,
      namespace: 'default',
      operation: 'CREATE',
      userInfo: { username: 'kubernetes-admin', groups: ['system:masters'] },
      object: podObject(name, images),
      oldObject: null,
      dryRun: false,
    },
  };
}

/** An AdmissionReview for a Deployment named `name` in `default`, one container per image. */
export function deploymentReview(name: string, images: readonly string[]): Record<string, unknown> {
  const review = podReview(name, []);
  const request = review.request as Record<string, unknown>;
  request.kind = { group: 'apps', version: 'v1', kind: 'Deployment' };
  request.object = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      template: { spec: { containers: images.map((image, index) => ({ name: `c${index}`, image })) } },
    },
  };
  return review;
}

export function podObject(name: string, images: readonly string[]): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: { containers: images.map((image, index) => ({ name: `c${index}`, image })) },
  };
}

export function samplePolicy(
  syntax: PolicySyntax,
  imagePattern: string,
  publicKeyPem: string,
  failureAction: 'Audit' | 'Enforce' = 'Enforce',
): string {
  const key = (indent: number) =>
    publicKeyPem
      .trim()
      .split('\n')
      .map((line) => `${' '.repeat(indent)}${line}`)
      .join('\n');
  // Kyverno refuses Audit with the default mutateDigest: true.
  const auditNoMutate = (indent: number) =>
    failureAction === 'Audit' ? `\n${' '.repeat(indent)}mutateDigest: false` : '';
  if (syntax === 'original') {
    return `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: check-image
spec:
  validationFailureAction: ${failureAction === 'Enforce' ? 'enforce' : 'audit'}
  background: false
  rules:
    - name: check-image
      match:
        resources:
          kinds:
            - Pod
      verifyImages:
        - image: "${imagePattern}"${auditNoMutate(10)}
          key: |-
${key(12)}
`;
  }
  return `apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: check-image
spec:
  webhookConfiguration:
    failurePolicy: Fail
  background: false
  rules:
    - name: check-image
      match:
        any:
          - resources:
              kinds:
                - Pod
      verifyImages:
        - imageReferences:
            - "${imagePattern}"
          failureAction: ${failureAction}${auditNoMutate(10)}
          attestors:
            - count: 1
              entries:
                - keys:
                    publicKeys: |-
${key(22)}
`;
}

export async function startKyvernoScenario(): Promise<KyvernoScenario> {
  const registry = await startRegistry();
  const folders: string[] = [];
  try {
    const policyKey = generateKeyPair('ecdsa-p256');
    const otherKey = generateKeyPair('ecdsa-p256');
    const [signed, unsigned, wrongKey] = await Promise.all([
      pushImage(registry.host, REPOSITORY, 'signed'),
      pushImage(registry.host, REPOSITORY, 'unsigned'),
      pushImage(registry.host, REPOSITORY, 'wrongkey'),
    ]);
    await signImage(registry.host, REPOSITORY, signed, policyKey.privateKey);
    await signImage(registry.host, REPOSITORY, wrongKey, otherKey.privateKey);

    const folderWith = async (files: Record<string, string>) => {
      const dir = await mkdtemp(join(tmpdir(), 'imagegate-policies-'));
      folders.push(dir);
      await Promise.all(Object.entries(files).map(([name, text]) => writeFile(join(dir, name), text)));
      return dir;
    };
    return {
      registry,
      policyKey,
      digests: { signed, unsigned, wrongKey },
      image: (tag) => `${registry.host}/${REPOSITORY}:${tag}`,
      policyFolder: (syntax, options = {}) =>
        folderWith({
          'check-image.yaml': samplePolicy(
            syntax,
            `${registry.host}/${REPOSITORY}*`,
            policyKey.publicKeyPem,
            options.failureAction,
          ),
        }),
      folderWith,
      stop: async () => {
        await Promise.all(folders.map((dir) => rm(dir, { recursive: true, force: true })));
        await registry.stop();
      },
    };
  } catch (error) {
    await registry.stop();
    throw error;
  }
}

/** A denial as people and tools read it: the resource named in the header and the policy -> rule -> message map. */
export interface BlockedMessage {
  readonly resource: string;
  readonly tree: unknown;
}

const BLOCKED_HEADER = /^\n\nresource (\S+) was blocked due to the following policies \n\n/;

/** Reads Kyverno's denial layout; the exact bytes (line folding) are pinned by the unit tests. */
export function parseBlocked(message: string | undefined): BlockedMessage {
  const header = BLOCKED_HEADER.exec(message ?? '');
  if (!header) throw new Error(`not a Kyverno denial: ${JSON.stringify(message)}`);
  return { resource: header[1] ?? '', tree: parse((message ?? '').slice(header[0].length)) as unknown };
}

/** The denial of Pod `podName` in `default` by the sample policy's one rule. */
export function blockedText(podName: string, ruleMessage: string): BlockedMessage {
  return { resource: `Pod/default/${podName}`, tree: { 'check-image': { 'check-image': ruleMessage } } };
}

/** The JSONPatch of an AdmissionReview response, decoded. */
export function decodePatch(response: { patch?: string }): unknown[] {
  return response.patch
    ? (JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8')) as unknown[])
    : [];
}

/** The ops of a patch that change images (everything outside /metadata). */
export function imageOps(patch: readonly unknown[]): unknown[] {
  return patch.filter((op) => !(op as { path: string }).path.startsWith('/metadata'));
}
