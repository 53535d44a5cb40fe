import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { AdmissionDecodeError } from '../admission/errors';
import { parseRegistryList, readConfig } from '../config';
import { describeError } from '../errors';
import { readPolicyFiles } from '../fs/policy-folder';
import { parsePolicyFiles } from '../policy/policy-set';
import { trustRootsFromFolder } from '../fs/trust-root-folder';
import { formatProblem, PolicyLoadError } from '../policy/problems';
import { createRuntime } from '../runtime';
import { answerAdmissionReview } from '../review/webhook';
import type { CliIo } from './io';
import { webhookConfigCommand } from './webhook-config';
import type { Log } from '../ports';

const USAGE = `usage:
  imagegate review [--policies PATH] [--insecure-registry HOST:PORT]... [FILE|-]
  imagegate policy lint PATH...
  imagegate webhook-config --url URL --cluster NAME [--token TOKEN|-] [--timeout 15] [--failure-policy Fail|Ignore] [--name imagegate]`;

/** A failure the CLI reports as one line on stderr with exit code 2. */
class UsageError extends Error {}

/**
 * Runs `imagegate <command>` and returns the exit code: 0 when a review was answered (allowed or
 * denied) or lint found nothing, 1 when lint found problems, 2 for a bad flag, file or policy.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const [command, ...rest] = argv;
    if (command === 'review') return await review(rest, io);
    if (command === 'policy' && rest[0] === 'lint') return await lint(rest.slice(1), io);
    if (command === 'webhook-config') return await webhookConfigCommand(rest, io);
    throw new UsageError(
      command === undefined
        ? 'missing command'
        : `unknown command ${JSON.stringify(argv.slice(0, 2).join(' '))}`,
    );
  } catch (error) {
    const message = error instanceof UsageError ? `${error.message}\n${USAGE}` : describeError(error);
    io.stderr(`imagegate: ${message.split('\n')[0] ?? ''}\n`);
    return 2;
  }
}

async function review(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(args, {
    policies: { type: 'string' },
    'insecure-registry': { type: 'string', multiple: true },
  });
  if (positionals.length > 1) throw new UsageError('review takes one FILE (or - for stdin)');
  const policies = typeof values.policies === 'string' ? values.policies : undefined;
  const config = readConfig({ ...io.env, ...(policies ? { IMAGEGATE_POLICIES: policies } : {}) });
  const insecureFlags = (values['insecure-registry'] ?? []) as string[];
  const insecure = [
    ...config.insecureRegistries,
    ...parseRegistryList(insecureFlags.join(','), '--insecure-registry'),
  ];

  const file = positionals[0] ?? '-';
  const text = await (file === '-' ? io.stdin() : readFile(file, 'utf8')).catch((error: unknown) => {
    throw new Error(`cannot read ${file}: ${describeError(error)}`);
  });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} is not JSON: ${describeError(error)}`, { cause: error });
  }

  const deps = createRuntime({ ...config, insecureRegistries: insecure }, stderrLog(io));
  try {
    // Load first so that a bad policy is a CLI error (exit 2), not a denial.
    await deps.policies.current().catch((error: unknown) => {
      if (error instanceof PolicyLoadError) throw new Error(`invalid policy: ${error.message}`);
      throw error;
    });
    const response = await answerAdmissionReview(body, deps);
    io.stdout(`${JSON.stringify(response, null, 2)}\n`);
    return 0;
  } catch (error) {
    if (error instanceof AdmissionDecodeError) throw new Error(`${file}: ${error.message}`, { cause: error });
    throw error;
  } finally {
    await deps.close();
  }
}

async function lint(paths: readonly string[], io: CliIo): Promise<number> {
  if (paths.length === 0) throw new UsageError('policy lint needs at least one PATH');
  const files = (await Promise.all(paths.map((path) => readPolicyFiles(path)))).flat();
  // The same trust roots as the webhook: a rekor.url must name one of their logs.
  const { trustRoots } = readConfig(io.env);
  if (trustRoots?.kind === 's3')
    throw new UsageError('policy lint reads IMAGEGATE_TRUST_ROOTS from a folder, not S3');
  const trust = await trustRootsFromFolder(trustRoots?.path);
  const { policies, problems } = parsePolicyFiles(files, { trust });
  for (const problem of problems) io.stdout(`${formatProblem(problem)}\n`);
  io.stderr(
    `${files.length} file(s), ${policies.length} valid polic${policies.length === 1 ? 'y' : 'ies'}, ${problems.length} problem(s)\n`,
  );
  return problems.length === 0 ? 0 : 1;
}

function parseFlags(
  args: readonly string[],
  options: NonNullable<Parameters<typeof parseArgs>[0]>['options'],
): { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] } {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(describeError(error));
  }
}

function stderrLog(io: CliIo): Log {
  const write =
    (level: string) =>
    (message: string, ...attributes: Record<string, unknown>[]) =>
      io.stderr(`${level}: ${message}${attributes.map((item) => ` ${JSON.stringify(item)}`).join('')}\n`);
  // Errors reach the user through the answer or the exit message; logging them too would repeat them.
  return { info: () => undefined, warn: write('warning'), error: () => undefined };
}
