// @ts-check
'use strict';
/**
 * Turns the stage parameters of serverless.yml (`params:` and `--param="name=value"`) into the
 * function's environment and its IAM statements. osls loads this file while it resolves
 * `${file(infra/stage.cjs):environment}` and `${file(infra/stage.cjs):iamStatements}`; it is never
 * deployed (package.patterns excludes infra/**).
 *
 * It is JavaScript rather than a YAML fragment because the statements depend on the parameters in
 * ways `${param:…}` cannot express: a statement is left out when its list is empty (IAM refuses an
 * empty Resource), a list may come from the command line as one comma-separated string, secret
 * names become ARN patterns, and a wildcard where it does not belong stops the build.
 *
 * Two modes, chosen by the `mode` stage parameter (never by reading the command line):
 * - local (`--param="mode=local"`, which `npm start` and the offline tests pass to
 *   `osls offline`): no AWS. The IMAGEGATE_* variables of the starting shell are forwarded
 *   (serverless-offline passes nothing else to the handler), IMAGEGATE_POLICIES defaults to the
 *   bundled ./policies folder, and the token and registry-credential settings default to empty
 *   (the keyless `POST /admit` is then accepted). No other parameter is required.
 * - aws (the default: package, deploy): the environment comes from the stage parameters only, so
 *   a variable left exported in a developer's shell never reaches a deployed function (it is
 *   reported once on stderr). policyBucket and clusterTokenSecretArn are required: a deployed
 *   stage always reads its policies from S3 and always checks the per-cluster token.
 */

const MODES = ['aws', 'local'];

/**
 * Cache and TTL settings a stage may set: parameter → variable and the rule readConfig applies.
 * Empty (the default) leaves the variable out, so the function's own default applies (lib/config.ts).
 */
const CACHE_PARAMETERS = /** @type {const} */ ([
  ['verifyCacheSeconds', 'IMAGEGATE_VERIFY_CACHE_SECONDS', 'seconds'],
  ['verifyCacheFailSeconds', 'IMAGEGATE_VERIFY_CACHE_FAIL_SECONDS', 'seconds'],
  ['verifyCacheEntries', 'IMAGEGATE_VERIFY_CACHE_ENTRIES', 'count'],
  ['tagCacheSeconds', 'IMAGEGATE_TAG_CACHE_SECONDS', 'seconds'],
  ['secretCacheSeconds', 'IMAGEGATE_SECRET_CACHE_SECONDS', 'seconds'],
]);

/** Read by serverless.yml (esbuild's work folder) and by `imagegate webhook-config`. */
const NOT_FOR_THE_FUNCTION = ['IMAGEGATE_BUILD_DIR', 'IMAGEGATE_TOKEN'];

const { CLUSTER_NAME, HOST_PORT, LOG_LEVELS, isLogLevel, isS3BucketName } = require('../lib/model/names.cjs');

const CLUSTER_PLACEHOLDER = '{cluster}';
const PREFIX = /^[A-Za-z0-9!_.'()-]+(?:\/[A-Za-z0-9!_.'()-]+)*$/;
const SECRET_ARN = /^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/;
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const ECR_ARN =
  /^arn:(?:aws[a-z-]*|\$\{AWS::Partition\}):ecr:(?:[a-z0-9-]+|\$\{AWS::Region\}):(?:\d{12}|\$\{AWS::AccountId\}):repository\/[a-z0-9._\/*?-]+$/;

/**
 * @typedef {{
 *   resolveVariable: (address: string) => Promise<unknown>,
 *   resolveConfigurationProperty: (path: string[]) => Promise<unknown>,
 *   options: Record<string, unknown>,
 * }} ResolverContext
 * @typedef {string | { 'Fn::Sub': string }} Resource
 * @typedef {{ Sid: string, Effect: 'Allow', Action: string[], Resource: Resource[], Condition?: object }} Statement
 */

/** The function's environment variables for this stage (provider.environment). */
async function environment(/** @type {ResolverContext} */ context) {
  const stage = await readStage(context);
  const shell = process.env;
  const common = { NODE_OPTIONS: '--enable-source-maps' };
  if (stage.local) {
    return {
      // Any other IMAGEGATE_* setting of the function (e.g. a cache time a test shortens) passes too.
      ...forwardedShellVariables(),
      IMAGEGATE_POLICIES: shell.IMAGEGATE_POLICIES || './policies',
      IMAGEGATE_POLICY_REFRESH_SECONDS:
        shell.IMAGEGATE_POLICY_REFRESH_SECONDS || String(stage.refreshSeconds),
      IMAGEGATE_CLUSTER_TOKENS: shell.IMAGEGATE_CLUSTER_TOKENS ?? '',
      IMAGEGATE_REGISTRY_CREDENTIALS: shell.IMAGEGATE_REGISTRY_CREDENTIALS ?? '',
      IMAGEGATE_INSECURE_REGISTRIES: shell.IMAGEGATE_INSECURE_REGISTRIES ?? stage.insecureRegistries,
      IMAGEGATE_LOG_LEVEL: shell.IMAGEGATE_LOG_LEVEL || stage.logLevel,
      ...whenSet(
        'IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES',
        shell.IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES ?? stage.allowedPrivateRegistries,
      ),
      ...Object.fromEntries(
        Object.entries(stage.caches).map(([variable, value]) => [variable, shell[variable] || value]),
      ),
      ...common,
    };
  }
  warnAboutShellVariables(stage.name);
  return {
    IMAGEGATE_POLICIES: `s3://${stage.policyBucket}/${stage.policyPrefix}`,
    IMAGEGATE_POLICY_REFRESH_SECONDS: String(stage.refreshSeconds),
    IMAGEGATE_CLUSTER_TOKENS: `secretsmanager://${stage.clusterTokenSecret?.id ?? ''}`,
    IMAGEGATE_REGISTRY_CREDENTIALS: stage.registryCredentialSecrets
      .map((secret) => `secretsmanager://${secret.id}`)
      .join(','),
    IMAGEGATE_INSECURE_REGISTRIES: stage.insecureRegistries,
    IMAGEGATE_LOG_LEVEL: stage.logLevel,
    ...whenSet('IMAGEGATE_ALLOWED_PRIVATE_REGISTRIES', stage.allowedPrivateRegistries),
    ...whenSet(
      'IMAGEGATE_TRUST_ROOTS',
      stage.trustRootsPrefix ? `s3://${stage.policyBucket}/${stage.trustRootsPrefix}` : '',
    ),
    ...stage.caches,
    ...common,
  };
}

/** `{ [name]: value }`, or nothing for an empty value (an unset variable means the same). */
function whenSet(/** @type {string} */ name, /** @type {string} */ value) {
  return value ? { [name]: value } : {};
}

/**
 * The function role's statements (provider.iam.role.statements), least privilege: S3 list and
 * read under the policy prefix only, GetSecretValue on the named secrets only, ECR pulls on the
 * configured repositories. `ecr:GetAuthorizationToken` is the only `*`: AWS has no resource for it.
 * A statement whose parameter is empty is left out.
 */
async function iamStatements(/** @type {ResolverContext} */ context) {
  const stage = await readStage(context);
  /** @type {Statement[]} */
  const statements = [];
  if (stage.policyBucket) {
    const bucketArn = `arn:${stage.partition}:s3:::${stage.policyBucket}`;
    const prefixes = [stage.policyPrefix, ...(stage.trustRootsPrefix ? [stage.trustRootsPrefix] : [])];
    statements.push(
      {
        Sid: 'ListPolicies',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: [bucketArn],
        Condition: { StringLike: { 's3:prefix': prefixes.map((prefix) => `${prefix}/*`) } },
      },
      {
        Sid: 'ReadPolicies',
        Effect: 'Allow',
        Action: ['s3:GetObject'],
        Resource: prefixes.map((prefix) => `${bucketArn}/${prefix}/*`),
      },
    );
  }
  if (stage.clusterTokenSecret) {
    statements.push({
      Sid: 'ReadClusterTokens',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: [stage.clusterTokenSecret.resource],
    });
  }
  if (stage.registryCredentialSecrets.length > 0) {
    statements.push({
      Sid: 'ReadRegistryCredentials',
      Effect: 'Allow',
      Action: ['secretsmanager:GetSecretValue'],
      Resource: stage.registryCredentialSecrets.map((secret) => secret.resource),
    });
  }
  if (stage.ecrRepositories.length > 0) {
    statements.push(
      {
        Sid: 'EcrAuthorizationToken',
        Effect: 'Allow',
        Action: ['ecr:GetAuthorizationToken'],
        Resource: ['*'],
      },
      {
        Sid: 'PullEcrImages',
        Effect: 'Allow',
        Action: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
        Resource: stage.ecrRepositories,
      },
    );
  }
  return statements;
}

/** Reads and checks every stage parameter; throws one line naming the parameter on a bad value. */
async function readStage(
  /** @type {ResolverContext} */ { resolveVariable, resolveConfigurationProperty, options },
) {
  const param = (/** @type {string} */ name) => resolveVariable(`param:${name}`);
  const mode = text('mode', await param('mode')) || 'aws';
  if (!MODES.includes(mode)) fail('mode', `must be one of ${MODES.join(', ')}`);
  const local = mode === 'local';
  const name = String(await resolveVariable('sls:stage'));
  const region = String(options.region ?? (await resolveConfigurationProperty(['provider', 'region'])));

  const policyBucket = text('policyBucket', await param('policyBucket'));
  if (policyBucket && !isS3BucketName(policyBucket)) {
    fail('policyBucket', `${JSON.stringify(policyBucket)} is not an S3 bucket name`);
  }
  const policyPrefix = text('policyPrefix', await param('policyPrefix')).replace(/^\/+|\/+$/g, '');
  if (!PREFIX.test(policyPrefix) || policyPrefix.split('/').some((part) => part === '.' || part === '..')) {
    fail(
      'policyPrefix',
      `${JSON.stringify(policyPrefix)} must be a non-empty key prefix such as imagegate/policies (no wildcards)`,
    );
  }

  const tokenSecretRef = text('clusterTokenSecretArn', await param('clusterTokenSecretArn'));
  const clusterTokenSecret = tokenSecretRef
    ? secretReference('clusterTokenSecretArn', tokenSecretRef, { placeholder: true })
    : undefined;
  const registryCredentialSecrets = list(
    'registryCredentialSecretArns',
    await param('registryCredentialSecretArns'),
  ).map((item) => secretReference('registryCredentialSecretArns', item, { placeholder: false }));

  const ecrRepositories = list('ecrRepositoryArns', await param('ecrRepositoryArns')).map((arn) => {
    if (!ECR_ARN.test(arn)) {
      fail(
        'ecrRepositoryArns',
        `${JSON.stringify(arn)} is not an ECR repository ARN (arn:aws:ecr:REGION:ACCOUNT:repository/NAME)`,
      );
    }
    return arn.includes('${AWS::') ? { 'Fn::Sub': arn } : arn;
  });

  const refreshSeconds = integer('policyRefreshSeconds', await param('policyRefreshSeconds'), 1, 3600);
  const logLevel = text('logLevel', await param('logLevel')).toUpperCase() || 'INFO';
  if (!isLogLevel(logLevel)) fail('logLevel', `must be one of ${LOG_LEVELS.join(', ')}`);
  const insecureRegistries = list('insecureRegistries', await param('insecureRegistries'));
  for (const host of insecureRegistries) {
    if (!HOST_PORT.test(host)) fail('insecureRegistries', `${JSON.stringify(host)} is not host[:port]`);
  }
  const trustRootsPrefix = text('trustRootsPrefix', await param('trustRootsPrefix')).replace(
    /^\/+|\/+$/g,
    '',
  );
  if (
    trustRootsPrefix &&
    (!PREFIX.test(trustRootsPrefix) ||
      trustRootsPrefix.split('/').some((part) => part === '.' || part === '..'))
  ) {
    fail(
      'trustRootsPrefix',
      `${JSON.stringify(trustRootsPrefix)} must be a key prefix such as imagegate/trust-roots (no wildcards)`,
    );
  }
  const allowedPrivateRegistries = list('allowedPrivateRegistries', await param('allowedPrivateRegistries'));
  for (const host of allowedPrivateRegistries) {
    if (!HOST_PORT.test(host)) {
      fail('allowedPrivateRegistries', `${JSON.stringify(host)} is not host[:port]`);
    }
  }

  // The clusters the dashboard and the per-cluster alarms show (infra/dashboard.cjs, infra/alarms.cjs).
  const clusters = list('clusters', await param('clusters'));
  for (const cluster of clusters) {
    if (!CLUSTER_NAME.test(cluster)) {
      fail(
        'clusters',
        `${JSON.stringify(cluster)} is not a cluster name (a DNS label, as in the webhook URL)`,
      );
    }
  }
  if (new Set(clusters).size !== clusters.length) fail('clusters', 'lists a cluster twice');

  /** @type {Record<string, string>} */
  const caches = {};
  for (const [name, variable, kind] of CACHE_PARAMETERS) {
    const value = text(name, await param(name));
    if (!value) continue;
    caches[variable] = String(kind === 'count' ? integer(name, value, 1, 10_000_000) : seconds(name, value));
  }

  if (!local) {
    const missing = [
      ...(policyBucket ? [] : ['policyBucket']),
      ...(clusterTokenSecret ? [] : ['clusterTokenSecretArn']),
    ];
    if (missing.length > 0) {
      fail(
        missing.join(', '),
        `required to package or deploy stage ${name}: set ${missing.length > 1 ? 'them' : 'it'} under params.${name} in serverless.yml or pass ${missing.map((item) => `--param="${item}=…"`).join(' ')}`,
      );
    }
  }

  return {
    name,
    local,
    partition: partitionOf(region),
    policyBucket,
    policyPrefix,
    clusterTokenSecret,
    registryCredentialSecrets,
    ecrRepositories,
    refreshSeconds,
    logLevel,
    insecureRegistries: insecureRegistries.join(','),
    clusters,
    allowedPrivateRegistries: allowedPrivateRegistries.join(','),
    trustRootsPrefix,
    caches,
  };
}

/**
 * A Secrets Manager secret given by ARN or by name (then in the function's own account and region).
 * `id` is what the function passes to GetSecretValue; `resource` is the IAM resource:
 * - a complete ARN (…:secret:NAME-AbCdEf) is used as is;
 * - a name gets AWS's `-??????` suffix pattern (the six random characters of the secret's ARN);
 * - with the `{cluster}` placeholder (token secrets only; one secret per cluster) the placeholder
 *   becomes `*`, so the statement covers every secret under the fixed prefix and nothing else.
 * @returns {{ id: string, resource: Resource }}
 */
function secretReference(
  /** @type {string} */ name,
  /** @type {string} */ value,
  /** @type {{ placeholder: boolean }} */ { placeholder },
) {
  const arn = SECRET_ARN.exec(value);
  const secretName = arn ? (arn[4] ?? '') : value;
  const placeholders = secretName.split(CLUSTER_PLACEHOLDER).length - 1;
  const example = placeholder ? ' or imagegate/clusters/{cluster}' : '';
  if (value.startsWith('arn:') && !arn) {
    fail(name, `${JSON.stringify(value)} is not a Secrets Manager secret ARN`);
  }
  if (placeholders > (placeholder ? 1 : 0) || value.replace(CLUSTER_PLACEHOLDER, '').includes('{')) {
    fail(
      name,
      placeholder
        ? `${JSON.stringify(value)} may contain {cluster} once, in the secret name`
        : `${JSON.stringify(value)}: {cluster} is only for clusterTokenSecretArn`,
    );
  }
  if (!SECRET_NAME.test(secretName.replace(CLUSTER_PLACEHOLDER, 'x'))) {
    fail(
      name,
      `${JSON.stringify(value)} is not a secret ARN or name (no wildcards; e.g. arn:aws:secretsmanager:us-east-1:123456789012:secret:imagegate/tokens-AbCdEf${example})`,
    );
  }
  const pattern = secretName.replace(CLUSTER_PLACEHOLDER, '*');
  if (arn && placeholders === 0) return { id: value, resource: value };
  if (arn)
    return { id: value, resource: `${value.slice(0, value.length - secretName.length)}${pattern}-??????` };
  return {
    id: value,
    resource: {
      'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${pattern}-??????`,
    },
  };
}

function partitionOf(/** @type {string} */ region) {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  return 'aws';
}

/** IMAGEGATE_* variables of the shell, except those meant for the build and the CLI, not the function. */
function forwardedShellVariables() {
  /** @type {Record<string, string>} */
  const forwarded = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith('IMAGEGATE_') && !NOT_FOR_THE_FUNCTION.includes(name) && value !== undefined) {
      forwarded[name] = value;
    }
  }
  return forwarded;
}

let warned = false;
function warnAboutShellVariables(/** @type {string} */ stage) {
  const set = Object.keys(forwardedShellVariables())
    .filter((variable) => process.env[variable])
    .sort();
  if (warned || set.length === 0) return;
  warned = true;
  process.stderr.write(
    `imagegate: stage ${stage} ignores ${set.join(', ')} from this shell; deployed settings come from stage parameters (serverless.yml params)\n`,
  );
}

function text(/** @type {string} */ name, /** @type {unknown} */ value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'number') return String(value);
  return fail(name, 'must be a string');
}

/** A YAML list, or one comma-separated string (what `--param="name=a,b"` gives). */
function list(/** @type {string} */ name, /** @type {unknown} */ value) {
  const items = Array.isArray(value) ? value.map((item) => text(name, item)) : text(name, value).split(',');
  return items.map((item) => item.trim()).filter(Boolean);
}

function integer(
  /** @type {string} */ name,
  /** @type {unknown} */ value,
  /** @type {number} */ min,
  /** @type {number} */ max,
) {
  const number = Number(text(name, value));
  if (!Number.isInteger(number) || number < min || number > max) {
    fail(name, `must be a whole number from ${min} to ${max}`);
  }
  return number;
}

/** A number of seconds >= 0, as readConfig takes it. */
function seconds(/** @type {string} */ name, /** @type {string} */ value) {
  const number = Number(value);
  if (!Number.isFinite(number) || number < 0) fail(name, 'must be a number of seconds >= 0');
  return number;
}

/** @returns {never} */
function fail(/** @type {string} */ name, /** @type {string} */ reason) {
  const error = new Error(`stage parameter ${name}: ${reason}`);
  // osls prints the stack of an error thrown here; the message alone is the useful part.
  error.stack = error.message;
  throw error;
}

module.exports = { environment, iamStatements, readStage };
