/**
 * `osls package` as a deployer runs it, offline with dummy credentials: serverless.yml and
 * infra/stage.cjs rendered into CloudFormation for a stage and its parameters. Checks the Lambda,
 * both HTTP API routes, the log group, provisioned concurrency (only when > 0) and the IAM
 * statements: exactly the configured resources, no `*` for S3 or Secrets Manager, and
 * ecr:GetAuthorizationToken as the only `*`.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { makeTempDir, removeDir, run, type RunResult } from '../support/processes';

const repoRoot = resolve(__dirname, '..', '..');
const osls = join(repoRoot, 'node_modules', 'osls', 'bin', 'serverless.js');
/** The project pins Node 22 as a devDependency; the system node may be older. */
const node22 = join(repoRoot, 'node_modules', 'node', 'bin', 'node');

interface Resource {
  Type: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- CloudFormation properties are free-form JSON
  Properties: Record<string, any>;
  DependsOn?: string | string[];
}
interface Template {
  Resources: Record<string, Resource>;
}
interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

const ACCOUNT = '123456789012';
const TOKEN_SECRET = `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:imagegate/cluster-tokens-AbCdEf`;
const GHCR_SECRET = `arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:imagegate/ghcr-Zy12Xw`;
const ACCOUNT_ECR = {
  'Fn::Sub': 'arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/*',
};
const COMMON_ENV = { NODE_OPTIONS: '--enable-source-maps', IMAGEGATE_POLICY_REFRESH_SECONDS: '30' };

let packageRuns = 0;

/** Runs `osls package` into a temporary folder; resolves with the process result and, on success, the template. */
async function oslsPackage(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ result: RunResult; template: Template | undefined }> {
  const out = await makeTempDir('package');
  // serverless-esbuild's work folder is relative to the service; one per run so parallel runs
  // (and serverless offline in other suites) never share a bundle.
  const buildDir = join('.esbuild', `package-${process.pid}-${++packageRuns}`);
  const childEnv: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('IMAGEGATE_') && !key.startsWith('AWS_')) childEnv[key] = value;
  }
  Object.assign(childEnv, {
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    SLS_TELEMETRY_DISABLED: '1',
    SLS_NOTIFICATIONS_MODE: 'off',
    IMAGEGATE_BUILD_DIR: buildDir,
    ...env,
  });
  try {
    const result = await run(
      existsSync(node22) ? node22 : process.execPath,
      [osls, 'package', '--package', out, ...args],
      { cwd: repoRoot, env: childEnv, timeoutMs: 60_000 },
    );
    const file = join(out, 'cloudformation-template-update-stack.json');
    const template = result.code === 0 ? (JSON.parse(await readFile(file, 'utf8')) as Template) : undefined;
    return { result, template };
  } finally {
    await removeDir(out);
    await rm(join(repoRoot, buildDir), { recursive: true, force: true });
    await rmdir(join(repoRoot, '.esbuild')).catch(() => undefined); // only once nothing else uses it
  }
}

function packaged(run: { result: RunResult; template: Template | undefined }): Template {
  if (!run.template) throw new Error(`osls package failed (${run.result.code}):\n${run.result.stderr}`);
  return run.template;
}

function resourcesOfType(template: Template, type: string): [string, Resource][] {
  return Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
}

function only(template: Template, type: string): Resource {
  const found = resourcesOfType(template, type);
  expect(found).toHaveLength(1);
  return found[0]![1];
}

const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** The role's statements, Action and Resource always as lists (osls writes a lone item as a scalar). */
function statements(template: Template): Statement[] {
  const role = only(template, 'AWS::IAM::Role');
  expect(role.Properties.ManagedPolicyArns).toBeUndefined();
  const policies = role.Properties.Policies as { PolicyDocument: { Statement: Statement[] } }[];
  expect(policies).toHaveLength(1);
  return policies[0]!.PolicyDocument.Statement.map((statement) => ({
    ...statement,
    Action: asList(statement.Action),
    Resource: asList(statement.Resource),
  }));
}

/** The statements osls adds for the function's own log group, unchanged by our configuration. */
function withoutLogStatements(list: Statement[]): Statement[] {
  const logs = list.filter((statement) =>
    asList(statement.Action).every((action) => action.startsWith('logs:')),
  );
  for (const statement of logs) {
    for (const resource of statement.Resource as unknown[]) {
      expect(JSON.stringify(resource)).toContain(':log-group:/aws/lambda/imagegate-');
    }
  }
  return list.filter((statement) => !logs.includes(statement));
}

function expectLeastPrivilege(list: Statement[]): void {
  for (const statement of list) {
    expect(statement.Effect).toBe('Allow');
    const actions = statement.Action as string[];
    for (const action of actions) expect(action).not.toMatch(/\*/);
    const resources = statement.Resource as unknown[];
    if (actions.some((action) => action.startsWith('s3:') || action.startsWith('secretsmanager:'))) {
      expect(resources).not.toContain('*');
      for (const resource of resources) expect(JSON.stringify(resource)).not.toMatch(/:::\*|:secret:\*/);
    }
    if (resources.includes('*')) expect(actions).toEqual(['ecr:GetAuthorizationToken']);
  }
  const wildcard = list.filter((statement) => (statement.Resource as unknown[]).includes('*'));
  expect(wildcard.map((statement) => statement.Action)).toEqual([['ecr:GetAuthorizationToken']]);
}

function routeKeys(template: Template): string[] {
  return resourcesOfType(template, 'AWS::ApiGatewayV2::Route')
    .map(([, route]) => route.Properties.RouteKey as string)
    .sort();
}

describe('osls package --stage prod (provisioned concurrency, one token map secret)', () => {
  let template: Template;
  let stderr: string;

  beforeAll(async () => {
    const run = await oslsPackage(
      [
        '--stage',
        'prod',
        '--param=policyBucket=acme-imagegate',
        '--param=policyPrefix=/fleet/policies/',
        `--param=clusterTokenSecretArn=${TOKEN_SECRET}`,
        `--param=registryCredentialSecretArns=${GHCR_SECRET},imagegate/dockerhub`,
        '--param=trustRootsPrefix=fleet/trust-roots',
      ],
      // Left in a deployer's shell: must not reach the deployed function.
      { IMAGEGATE_POLICIES: './my-local-policies', IMAGEGATE_LOG_LEVEL: 'DEBUG' },
    );
    template = packaged(run);
    stderr = run.result.stderr;
  });

  test('the Lambda: nodejs22.x on arm64, 1024 MB, 28 s, environment from the stage parameters only', () => {
    const fn = only(template, 'AWS::Lambda::Function').Properties;
    expect(fn).toMatchObject({
      Handler: 'functions/admit.handler',
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      MemorySize: 1024,
      Timeout: 28,
      FunctionName: 'imagegate-prod-admit',
    });
    expect(fn.Environment.Variables).toEqual({
      ...COMMON_ENV,
      IMAGEGATE_POLICIES: 's3://acme-imagegate/fleet/policies',
      IMAGEGATE_CLUSTER_TOKENS: `secretsmanager://${TOKEN_SECRET}`,
      IMAGEGATE_REGISTRY_CREDENTIALS: `secretsmanager://${GHCR_SECRET},secretsmanager://imagegate/dockerhub`,
      IMAGEGATE_INSECURE_REGISTRIES: '',
      IMAGEGATE_LOG_LEVEL: 'INFO',
      IMAGEGATE_TRUST_ROOTS: 's3://acme-imagegate/fleet/trust-roots',
    });
    expect(stderr).toContain(
      'imagegate: stage prod ignores IMAGEGATE_LOG_LEVEL, IMAGEGATE_POLICIES from this shell',
    );
  });

  test('both HTTP API routes reach the provisioned alias', () => {
    expect(routeKeys(template)).toEqual(['POST /admit', 'POST /admit/{cluster}/{token}']);
    const [integrationId, integration] = resourcesOfType(template, 'AWS::ApiGatewayV2::Integration')[0]!;
    expect(resourcesOfType(template, 'AWS::ApiGatewayV2::Integration')).toHaveLength(1);
    for (const [, route] of resourcesOfType(template, 'AWS::ApiGatewayV2::Route')) {
      expect(route.Properties.Target).toEqual({
        'Fn::Join': ['/', ['integrations', { Ref: integrationId }]],
      });
    }
    expect(integration.Properties.IntegrationUri).toEqual({
      'Fn::Join': [':', [{ 'Fn::GetAtt': ['AdmitLambdaFunction', 'Arn'] }, 'provisioned']],
    });
  });

  test('log retention and provisioned concurrency from params.prod', () => {
    expect(only(template, 'AWS::Logs::LogGroup').Properties).toEqual({
      LogGroupName: '/aws/lambda/imagegate-prod-admit',
      RetentionInDays: 90,
    });
    const alias = only(template, 'AWS::Lambda::Alias').Properties;
    expect(alias.Name).toBe('provisioned');
    expect(alias.ProvisionedConcurrencyConfig).toEqual({ ProvisionedConcurrentExecutions: 2 });
  });

  test('IAM: exactly the policy prefix, the named secrets and the account ECR repositories', () => {
    const list = withoutLogStatements(statements(template));
    expect(list).toEqual([
      {
        Sid: 'ListPolicies',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: ['arn:aws:s3:::acme-imagegate'],
        Condition: { StringLike: { 's3:prefix': ['fleet/policies/*', 'fleet/trust-roots/*'] } },
      },
      {
        Sid: 'ReadPolicies',
        Effect: 'Allow',
        Action: ['s3:GetObject'],
        Resource: [
          'arn:aws:s3:::acme-imagegate/fleet/policies/*',
          'arn:aws:s3:::acme-imagegate/fleet/trust-roots/*',
        ],
      },
      {
        Sid: 'ReadClusterTokens',
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue'],
        Resource: [TOKEN_SECRET],
      },
      {
        Sid: 'ReadRegistryCredentials',
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue'],
        Resource: [
          GHCR_SECRET,
          {
            'Fn::Sub':
              'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:imagegate/dockerhub-??????',
          },
        ],
      },
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
        Resource: [ACCOUNT_ECR],
      },
    ]);
    expectLeastPrivilege(statements(template));
    expect(resourcesOfType(template, 'AWS::IAM::Policy')).toEqual([]);
  });
});

describe('osls package --stage dev (no provisioned concurrency, one token secret per cluster)', () => {
  let template: Template;

  beforeAll(async () => {
    template = packaged(
      await oslsPackage([
        '--stage',
        'dev',
        '--region',
        'cn-north-1',
        '--param=policyBucket=acme-imagegate-dev',
        '--param=clusterTokenSecretArn=imagegate/clusters/{cluster}',
        // From the command line a parameter is a string: "0" must still create nothing.
        '--param=provisionedConcurrency=0',
        `--param=ecrRepositoryArns=arn:aws-cn:ecr:cn-north-1:${ACCOUNT}:repository/team-a/*,arn:aws-cn:ecr:cn-north-1:${ACCOUNT}:repository/base`,
        '--param=logLevel=debug',
        // Cache and TTL settings reach a deployed stage only as parameters.
        '--param=verifyCacheSeconds=60',
        '--param=verifyCacheFailSeconds=0',
        '--param=verifyCacheEntries=500',
        '--param=tagCacheSeconds=2.5',
        '--param=secretCacheSeconds=120',
      ]),
    );
  });

  test('no alias and no provisioned concurrency; API Gateway invokes the function itself', () => {
    expect(resourcesOfType(template, 'AWS::Lambda::Alias')).toEqual([]);
    expect(JSON.stringify(template)).not.toContain('ProvisionedConcurren');
    const integration = only(template, 'AWS::ApiGatewayV2::Integration');
    expect(integration.Properties.IntegrationUri).toEqual({ 'Fn::GetAtt': ['AdmitLambdaFunction', 'Arn'] });
    expect(routeKeys(template)).toEqual(['POST /admit', 'POST /admit/{cluster}/{token}']);
  });

  test('log retention from params.dev; environment for a per-cluster token secret', () => {
    expect(only(template, 'AWS::Logs::LogGroup').Properties.RetentionInDays).toBe(14);
    const fn = only(template, 'AWS::Lambda::Function').Properties;
    expect(fn).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      MemorySize: 1024,
      Timeout: 28,
    });
    expect(fn.Environment.Variables).toEqual({
      ...COMMON_ENV,
      IMAGEGATE_POLICIES: 's3://acme-imagegate-dev/imagegate/policies',
      IMAGEGATE_CLUSTER_TOKENS: 'secretsmanager://imagegate/clusters/{cluster}',
      IMAGEGATE_REGISTRY_CREDENTIALS: '',
      IMAGEGATE_INSECURE_REGISTRIES: '',
      IMAGEGATE_LOG_LEVEL: 'DEBUG',
      IMAGEGATE_VERIFY_CACHE_SECONDS: '60',
      IMAGEGATE_VERIFY_CACHE_FAIL_SECONDS: '0',
      IMAGEGATE_VERIFY_CACHE_ENTRIES: '500',
      IMAGEGATE_TAG_CACHE_SECONDS: '2.5',
      IMAGEGATE_SECRET_CACHE_SECONDS: '120',
    });
  });

  test('IAM: the per-cluster secrets under their fixed prefix, the listed repositories, the region partition', () => {
    const list = withoutLogStatements(statements(template));
    expect(list).toEqual([
      {
        Sid: 'ListPolicies',
        Effect: 'Allow',
        Action: ['s3:ListBucket'],
        Resource: ['arn:aws-cn:s3:::acme-imagegate-dev'],
        Condition: { StringLike: { 's3:prefix': ['imagegate/policies/*'] } },
      },
      {
        Sid: 'ReadPolicies',
        Effect: 'Allow',
        Action: ['s3:GetObject'],
        Resource: ['arn:aws-cn:s3:::acme-imagegate-dev/imagegate/policies/*'],
      },
      {
        Sid: 'ReadClusterTokens',
        Effect: 'Allow',
        Action: ['secretsmanager:GetSecretValue'],
        Resource: [
          {
            'Fn::Sub':
              'arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:imagegate/clusters/*-??????',
          },
        ],
      },
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
        Resource: [
          `arn:aws-cn:ecr:cn-north-1:${ACCOUNT}:repository/team-a/*`,
          `arn:aws-cn:ecr:cn-north-1:${ACCOUNT}:repository/base`,
        ],
      },
    ]);
    expectLeastPrivilege(statements(template));
  });
});

describe('osls package refuses a stage it cannot scope', () => {
  const required = ['--param=policyBucket=acme-imagegate', `--param=clusterTokenSecretArn=${TOKEN_SECRET}`];

  test.each([
    {
      name: 'no policy bucket and no token secret',
      args: [],
      error: 'stage parameter policyBucket, clusterTokenSecretArn: required to package or deploy stage prod',
    },
    {
      name: 'a wildcard token secret',
      args: [
        '--param=policyBucket=acme-imagegate',
        `--param=clusterTokenSecretArn=arn:aws:secretsmanager:us-east-1:${ACCOUNT}:secret:*`,
      ],
      error:
        'stage parameter clusterTokenSecretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:*" is not a secret ARN or name',
    },
    {
      name: 'a wildcard bucket',
      args: ['--param=policyBucket=*', `--param=clusterTokenSecretArn=${TOKEN_SECRET}`],
      error: 'stage parameter policyBucket: "*" is not an S3 bucket name',
    },
    {
      name: 'a wildcard policy prefix',
      args: [...required, '--param=policyPrefix=*'],
      error: 'stage parameter policyPrefix: "*" must be a non-empty key prefix',
    },
    {
      name: 'a {cluster} placeholder in a registry credential',
      args: [...required, '--param=registryCredentialSecretArns=creds/{cluster}'],
      error:
        'stage parameter registryCredentialSecretArns: "creds/{cluster}": {cluster} is only for clusterTokenSecretArn',
    },
    {
      name: 'a cache time that is not a number of seconds',
      args: [...required, '--param=tagCacheSeconds=-1'],
      error: 'stage parameter tagCacheSeconds: must be a number of seconds >= 0',
    },
    {
      name: 'a cluster name that is not a DNS label',
      args: [...required, '--param=clusters=prod.eu'],
      error: 'stage parameter clusters: "prod.eu" is not a cluster name',
    },
    {
      name: 'a mode that does not exist',
      args: [...required, '--param=mode=offline'],
      error: 'stage parameter mode: must be one of aws, local',
    },
    {
      name: 'ECR access to every repository of every account',
      args: [...required, '--param=ecrRepositoryArns=*'],
      error: 'stage parameter ecrRepositoryArns: "*" is not an ECR repository ARN',
    },
  ])('$name', async ({ args, error }) => {
    const { result } = await oslsPackage(['--stage', 'prod', ...args]);
    expect(result.code).not.toBe(0);
    // osls prints its errors on stdout.
    expect(result.stdout + result.stderr).toContain(error);
  });
});
