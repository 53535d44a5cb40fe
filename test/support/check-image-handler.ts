/**
 * What the handler-level signature tests share (keyless, certificate paths): the `check-image`
 * ClusterPolicy with one attestor, policy folders made on the fly, and one Pod review through the
 * handler with its answer or its denial reason.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Context } from 'aws-lambda';
import type { Handler } from './handler';
import { httpEvent } from './handler';
import { parseBlocked, podReview } from './scenario';

/** The GitHub Actions workflow identity the tests sign as, and its issuer. */

/**
 * A ClusterPolicy `check-image` (failurePolicy Fail, Enforce) for images matching `images`, whose
 * one attestor set holds the entry `attestor` (lines as under `- entries:`, e.g. `- keyless:`
 * then its fields indented by four; a line may hold several).
 */
export function checkImagePolicy(
  images: string,
  attestor: readonly string[],
  options: { type?: string } = {},
): string {
  return [
    'apiVersion: kyverno.io/v1',
    'kind: ClusterPolicy',
    'metadata:',
    '  name: check-image',
    'spec:',
    '  webhookConfiguration:',
    '    failurePolicy: Fail',
    '  rules:',
    '    - name: check-image',
    '      match:',
    '        any:',
    '          - resources:',
    '              kinds: [Pod]',
    '      verifyImages:',
    '        - imageReferences:',
    `            - "${images}"`,
    '          failureAction: Enforce',
    ...(options.type ? [`          type: ${options.type}`] : []),
    '          attestors:',
    '            - entries:',
    ...attestor.flatMap((line) => line.split('\n')).map((line) => `                ${line}`),
    '',
  ].join('\n');
}

/** Temporary folders of policy (or trust-root) files, removed together by {@link removeAll}. */
export class TempFolders {
  private readonly made: string[] = [];

  constructor(private readonly prefix: string) {}

  /** A new folder holding `files` (name → text). */
  async with(files: Record<string, string>): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), this.prefix));
    this.made.push(dir);
    await Promise.all(Object.entries(files).map(([name, text]) => writeFile(join(dir, name), text)));
    return dir;
  }

  async removeAll(): Promise<void> {
    await Promise.all(this.made.map((dir) => rm(dir, { recursive: true, force: true })));
  }
}

export interface Answer {
  readonly allowed: boolean;
  readonly status?: { readonly message: string };
  readonly patch?: string;
}

/** The handler's answer to a Pod `name` running `image` (asserting HTTP 200). */
export async function admitPod(handler: Handler, name: string, image: string): Promise<Answer> {
  const result = await handler(httpEvent(JSON.stringify(podReview(name, [image]))), {} as Context);
  expect(result.statusCode).toBe(200);
  return (JSON.parse(result.body ?? '') as { response: Answer }).response;
}

/** The rule message of a denial of Pod `name` by check-image/check-image (asserting the denial). */
export async function checkImageDenial(handler: Handler, name: string, image: string): Promise<string> {
  const response = await admitPod(handler, name, image);
  expect(response.allowed).toBe(false);
  const { tree } = parseBlocked(response.status?.message);
  return (tree as Record<string, Record<string, string>>)['check-image']?.['check-image'] ?? '';
}
