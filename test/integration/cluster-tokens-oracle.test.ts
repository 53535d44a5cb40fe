/**
 * One token secret per cluster (`IMAGEGATE_CLUSTER_TOKENS=secretsmanager://…/{cluster}`), through
 * the Lambda handler and the real AWS SDK against the local Secrets Manager endpoint: a made-up
 * cluster name is answered exactly as a wrong token, a repeated one is not looked up again, and
 * no request rate makes more GetSecretValue calls than the lookup budget allows (issue 11, part 7).
 */
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { CLUSTER_TOKEN_LOOKUP_LIMITS } from '../../lib/auth/cluster-tokens';
import { awsEnvironment, startFakeAwsJsonEndpoint, type FakeAwsJsonEndpoint } from '../support/aws';
import { httpEvent, lambdaContext, loadHandler, type Handler } from '../support/handler';
import { makeTempDir, removeDir } from '../support/processes';
import { podReview } from '../support/scenario';

const SECRET_TEMPLATE = 'imagegate/clusters/{cluster}';
const PROD_TOKEN = 'prod-token-8d2b6c0e4a1f9d3b7e5c2a6f';
const GET_SECRET = 'secretsmanager.GetSecretValue';

let awsJson: FakeAwsJsonEndpoint;
let policies: string;
let handler: Handler;
const savedEnv = { ...process.env };
const logLines: string[] = [];
const consoleSpies: jest.SpyInstance[] = [];

beforeAll(async () => {
  for (const method of ['debug', 'info', 'log', 'warn', 'error'] as const) {
    consoleSpies.push(
      jest.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        logLines.push(args.map(String).join(' '));
      }),
    );
  }
  awsJson = await startFakeAwsJsonEndpoint();
  awsJson.secrets.set(SECRET_TEMPLATE.replace('{cluster}', 'prod'), JSON.stringify({ current: PROD_TOKEN }));
  // No policy: a request that gets past the token check is allowed without a registry.
  policies = await makeTempDir('cluster-tokens-policies');
  handler = loadHandler(
    {
      // S3 is not used (policies come from a folder); the SDK only needs some endpoint.
      ...awsEnvironment({ url: 'http://127.0.0.1:9' }, awsJson),
      POWERTOOLS_DEV: 'true',
      IMAGEGATE_POLICIES: policies,
      IMAGEGATE_CLUSTER_TOKENS: `secretsmanager://${SECRET_TEMPLATE}`,
    },
    { restore: false },
  );
}, 30_000);

afterAll(async () => {
  for (const spy of consoleSpies) spy.mockRestore();
  process.env = savedEnv;
  await awsJson?.stop();
  if (policies) await removeDir(policies);
});

async function admit(cluster: string, token: string): Promise<APIGatewayProxyStructuredResultV2> {
  return handler(
    httpEvent(JSON.stringify(podReview('p', ['nginx:1.27'])), { cluster, token }),
    lambdaContext,
  );
}

/** What the caller sees: status, headers and body. */
const seen = (result: APIGatewayProxyStructuredResultV2) => ({
  statusCode: result.statusCode,
  headers: result.headers,
  body: result.body,
});

test('the right token is answered', async () => {
  expect((await admit('prod', PROD_TOKEN)).statusCode).toBe(200);
});

test('a made-up cluster and a wrong token get identical responses; only the log says which', async () => {
  logLines.length = 0;
  const wrongToken = seen(await admit('prod', 'not-the-prod-token'));
  const madeUp = seen(await admit('made-up-cluster', PROD_TOKEN));
  expect(madeUp).toEqual(wrongToken);
  expect(wrongToken.statusCode).toBe(401);
  const reasons = logLines
    .map((line) => JSON.parse(line) as { message?: string; reason?: string })
    .filter((record) => record.message === 'request with a wrong cluster token refused')
    .map((record) => record.reason);
  expect(reasons).toEqual(['wrong-token', 'unknown-cluster']);
});

test('while Secrets Manager fails, a made-up cluster still answers as a wrong token', async () => {
  awsJson.failing = true;
  try {
    const wrongToken = seen(await admit('prod', 'not-the-prod-token'));
    const madeUp = seen(await admit('made-up-during-outage', PROD_TOKEN));
    expect(madeUp).toEqual(wrongToken);
    expect(madeUp.statusCode).toBe(401);
    // The cluster whose secret was read before keeps working through the outage.
    expect((await admit('prod', PROD_TOKEN)).statusCode).toBe(200);
  } finally {
    awsJson.failing = false;
  }
});

test('a repeated unknown cluster is served from the negative cache', async () => {
  const before = awsJson.calls(GET_SECRET);
  for (let index = 0; index < 5; index++) expect((await admit('ghost', PROD_TOKEN)).statusCode).toBe(401);
  expect(awsJson.calls(GET_SECRET) - before).toBe(1);
});

test(`made-up clusters cost at most ${CLUSTER_TOKEN_LOOKUP_LIMITS.burst} GetSecretValue calls, plus ${CLUSTER_TOKEN_LOOKUP_LIMITS.perMinute} a minute`, async () => {
  const requests = 3 * CLUSTER_TOKEN_LOOKUP_LIMITS.burst;
  const before = awsJson.calls(GET_SECRET);
  const started = Date.now();
  for (let index = 0; index < requests; index++) {
    expect((await admit(`made-up-${index}`, PROD_TOKEN)).statusCode).toBe(401);
  }
  const refilled = Math.ceil(((Date.now() - started) * CLUSTER_TOKEN_LOOKUP_LIMITS.perMinute) / 60_000);
  expect(awsJson.calls(GET_SECRET) - before).toBeLessThanOrEqual(
    CLUSTER_TOKEN_LOOKUP_LIMITS.burst + refilled,
  );
  // The real cluster, read before the flood, is not locked out by it.
  expect((await admit('prod', PROD_TOKEN)).statusCode).toBe(200);
});
