/**
 * `imagegate webhook-config`: prints the MutatingWebhookConfiguration that connects one EKS cluster
 * to the deployed webhook. The URL carries the cluster's secret token as a path segment
 * (`<api>/admit/<cluster>/<token>`): Kubernetes allows no query string or userinfo in a webhook URL
 * and EKS cannot present a client certificate.
 *
 * The token is read from `IMAGEGATE_TOKEN`, from stdin (`--token -`), or from `--token TOKEN`
 * (which leaves it in the shell history and the process list). It appears only in the YAML on
 * stdout, never in an error message.
 */
import { parseArgs } from 'node:util';
import { Document } from 'yaml';
import { ImagegateError } from '../errors';
import { workloadResourcesByGroup } from '../model/kinds';
import { CLUSTER_NAME } from '../model/names.cjs';
import type { FailurePolicy } from '../policy/types';
import type { CliIo } from './io';

export interface WebhookConfigOptions {
  /** Base URL of the HTTP API (the `HttpApiUrl` stack output, or a custom domain), https only. */
  readonly url: string;
  /** The cluster's name in imagegate: its token entry and its `clusters/<name>/` policy folder. */
  readonly cluster: string;
  /** The cluster's current token (Secrets Manager). */
  readonly token: string;
  /** The API server's wait for an answer, 1–30 s; default 15. */
  readonly timeoutSeconds?: number;
  /** What the API server does when the webhook cannot answer; default Fail. */
  readonly failurePolicy?: FailurePolicy;
  /** metadata.name of the MutatingWebhookConfiguration; default `imagegate`. */
  readonly name?: string;
}

/** The subset of `admissionregistration.k8s.io/v1` MutatingWebhookConfiguration imagegate writes. */
export interface MutatingWebhookConfiguration {
  apiVersion: 'admissionregistration.k8s.io/v1';
  kind: 'MutatingWebhookConfiguration';
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  webhooks: MutatingWebhook[];
}

export interface MutatingWebhook {
  name: string;
  clientConfig: { url: string };
  admissionReviewVersions: string[];
  sideEffects: 'None';
  reinvocationPolicy: 'IfNeeded';
  matchPolicy: 'Equivalent';
  timeoutSeconds: number;
  failurePolicy: FailurePolicy;
  namespaceSelector: {
    matchExpressions: { key: string; operator: 'NotIn'; values: string[] }[];
  };
  rules: {
    apiGroups: string[];
    apiVersions: string[];
    operations: string[];
    resources: string[];
    scope: 'Namespaced';
  }[];
}

export class WebhookConfigError extends ImagegateError<'INVALID_WEBHOOK_CONFIG'> {}

/** The webhook's name: Kubernetes requires a fully qualified name (three or more segments). */
export const WEBHOOK_NAME = 'verify-images.imagegate.io';
export const DEFAULT_TIMEOUT_SECONDS = 15;
export const DEFAULT_NAME = 'imagegate';
/** Namespaces the webhook never sees, so that the cluster's own components start even when imagegate cannot answer. */
export const EXCLUDED_NAMESPACES = ['kube-system'];

const OBJECT_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;
/** URL-unreserved characters only, so the token is the same path segment before and after encoding. */
const TOKEN = /^[A-Za-z0-9._~-]{32,512}$/;
const TOKEN_RULE =
  'the token must be 32 to 512 characters of A-Z a-z 0-9 . _ ~ - (e.g. openssl rand -hex 32)';

/**
 * Pods, their ephemeral containers (`kubectl debug`), and every pod controller: the same kinds
 * Kyverno's autogen covers, so a controller is refused at creation rather than its Pods later.
 */
function rules(): MutatingWebhook['rules'] {
  return workloadResourcesByGroup().map(({ apiGroup, resources }) => ({
    apiGroups: [apiGroup],
    apiVersions: ['v1'],
    operations: ['CREATE', 'UPDATE'],
    resources,
    scope: 'Namespaced' as const,
  }));
}

/** Builds the MutatingWebhookConfiguration; throws {@link WebhookConfigError} (one line, no token) on a bad option. */
export function buildWebhookConfiguration(options: WebhookConfigOptions): MutatingWebhookConfiguration {
  const base = checkUrl(options.url);
  if (!CLUSTER_NAME.test(options.cluster)) {
    fail(
      `--cluster ${JSON.stringify(options.cluster)} must be a DNS label: up to 63 characters of a-z 0-9 -, starting and ending with a letter or digit`,
    );
  }
  if (!TOKEN.test(options.token)) fail(TOKEN_RULE);
  const timeoutSeconds = options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1 || timeoutSeconds > 30) {
    fail(`--timeout must be a whole number of seconds from 1 to 30 (the API server's limit)`);
  }
  const failurePolicy = options.failurePolicy ?? 'Fail';
  if (failurePolicy !== 'Fail' && failurePolicy !== 'Ignore') fail('--failure-policy must be Fail or Ignore');
  const name = options.name ?? DEFAULT_NAME;
  if (name.length > 253 || !OBJECT_NAME.test(name)) {
    fail(`--name ${JSON.stringify(name)} must be a Kubernetes object name (lower-case DNS subdomain)`);
  }

  return {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    metadata: {
      name,
      labels: { 'app.kubernetes.io/name': 'imagegate' },
      annotations: { 'imagegate.io/cluster': options.cluster },
    },
    webhooks: [
      {
        name: WEBHOOK_NAME,
        clientConfig: { url: `${base}/admit/${options.cluster}/${options.token}` },
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        // A later mutating webhook may change an image; imagegate then checks (and pins) it again.
        reinvocationPolicy: 'IfNeeded',
        // Requests for other versions of these kinds are converted and sent too, never skipped.
        matchPolicy: 'Equivalent',
        timeoutSeconds,
        failurePolicy,
        namespaceSelector: {
          matchExpressions: [
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...EXCLUDED_NAMESPACES] },
          ],
        },
        rules: rules(),
      },
    ],
  };
}

/**
 * The configuration as YAML for `kubectl apply -f -`. Printed as YAML 1.1 so that values such as a
 * cluster named `no` or `y` are quoted: kubectl reads YAML 1.1, where those are booleans.
 */
export function renderWebhookConfiguration(options: WebhookConfigOptions): string {
  const document = new Document(buildWebhookConfiguration(options), { version: '1.1' });
  document.commentBefore =
    ` imagegate webhook for cluster ${options.cluster} (imagegate webhook-config).\n` +
    ' clientConfig.url holds the cluster token: apply it, do not commit it.';
  return document.toString({ lineWidth: 0 });
}

const FLAGS = {
  url: { type: 'string' },
  cluster: { type: 'string' },
  token: { type: 'string' },
  timeout: { type: 'string' },
  'failure-policy': { type: 'string' },
  name: { type: 'string' },
} as const;

/** `imagegate webhook-config --url URL --cluster NAME [--token TOKEN|-] [--timeout N] [--failure-policy P] [--name N]`. */
export async function webhookConfigCommand(args: readonly string[], io: CliIo): Promise<number> {
  const values = parseFlags(args);
  if (values.url === undefined) fail('--url is required: the API URL printed by `osls deploy` (HttpApiUrl)');
  if (values.cluster === undefined) fail('--cluster is required');
  const timeout = values.timeout;
  if (timeout !== undefined && !/^\d{1,2}$/.test(timeout)) {
    fail("--timeout must be a whole number of seconds from 1 to 30 (the API server's limit)");
  }
  const failurePolicy = values['failure-policy'];
  if (failurePolicy !== undefined && failurePolicy !== 'Fail' && failurePolicy !== 'Ignore') {
    fail('--failure-policy must be Fail or Ignore');
  }
  const yaml = renderWebhookConfiguration({
    url: values.url,
    cluster: values.cluster,
    token: await readToken(values.token, io),
    timeoutSeconds: timeout === undefined ? undefined : Number(timeout),
    failurePolicy,
    name: values.name,
  });
  io.stdout(yaml);
  return 0;
}

/** `--token -` reads stdin, `--token VALUE` is the value, otherwise `IMAGEGATE_TOKEN`. */
async function readToken(flag: string | undefined, io: CliIo): Promise<string> {
  if (flag === '-') {
    const text = (await io.stdin()).replace(/\r?\n$/, '');
    if (text.length === 0) fail('--token -: stdin is empty');
    return text;
  }
  if (flag !== undefined) return flag;
  const fromEnv = io.env.IMAGEGATE_TOKEN;
  if (fromEnv) return fromEnv;
  return fail('no token: set IMAGEGATE_TOKEN, or pass --token - and write the token to stdin');
}

function parseFlags(args: readonly string[]): { [K in keyof typeof FLAGS]?: string } {
  try {
    return parseArgs({ args: [...args], options: FLAGS, strict: true, allowPositionals: false }).values;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    // Node's messages quote a stray argument, which may well be a token: say what is wrong, not what it was.
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      fail(
        'webhook-config takes only flags (--url, --cluster, --token, --timeout, --failure-policy, --name)',
      );
    }
    const message = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
    return fail(message);
  }
}

function checkUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail(`--url ${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== 'https:') fail('--url must be an https:// URL (Kubernetes calls webhooks over TLS)');
  if (url.username || url.password) fail('--url must not contain a user or password');
  if (url.search || url.hash || value.includes('?') || value.includes('#')) {
    fail('--url must not have a query or fragment (Kubernetes forbids them in a webhook URL)');
  }
  const path = url.pathname.replace(/\/+$/, '');
  if (/(^|\/)admit(\/|$)/.test(path)) {
    fail('--url is the API base URL, without /admit (webhook-config adds /admit/<cluster>/<token>)');
  }
  return `${url.origin}${path}`;
}

function fail(message: string): never {
  throw new WebhookConfigError('INVALID_WEBHOOK_CONFIG', message);
}
