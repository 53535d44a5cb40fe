/**
 * Local stand-ins for the AWS services imagegate calls, reached by the real AWS SDK through its
 * standard endpoint variables: s3rver for S3, and a small awsJson1.1 server for Secrets Manager
 * (`GetSecretValue`) and ECR (`GetAuthorizationToken`), which have no emulator.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { listenOnLoopback } from './ports';

export interface FakeAwsJsonEndpoint {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** Secret values by id; tests change them to rotate. */
  readonly secrets: Map<string, string>;
  /** Number of calls per `X-Amz-Target` operation, e.g. `secretsmanager.GetSecretValue`. */
  calls(operation: string): number;
  /** Makes every call fail with HTTP 500 while true. */
  failing: boolean;
  stop(): Promise<void>;
}

const ECR_PASSWORD_PREFIX = 'ecr-token-';

/** The password the fake ECR hands out for `account` (the user is always `AWS`). */
export function ecrPassword(account: string): string {
  return `${ECR_PASSWORD_PREFIX}${account}`;
}

export async function startFakeAwsJsonEndpoint(): Promise<FakeAwsJsonEndpoint> {
  const counts = new Map<string, number>();
  const secrets = new Map<string, string>();
  const state = { failing: false };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const target = String(request.headers['x-amz-target'] ?? '');
      const operation = target.replace(/^AmazonEC2ContainerRegistry_V20150921\./, 'ecr.');
      counts.set(operation, (counts.get(operation) ?? 0) + 1);
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      const reply = (status: number, payload: unknown) => {
        response.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        response.end(JSON.stringify(payload));
      };
      if (state.failing) return reply(500, { __type: 'InternalServiceError', message: 'injected failure' });
      if (operation === 'secretsmanager.GetSecretValue') {
        const id = String(body.SecretId);
        const value = secrets.get(id);
        if (value === undefined) {
          return reply(400, {
            __type: 'ResourceNotFoundException',
            message: `Secrets Manager can't find ${id}`,
          });
        }
        return reply(200, {
          ARN: `arn:aws:secretsmanager:us-east-1:000000000000:secret:${id}-AbCdEf`,
          Name: id,
          VersionId: 'v1',
          SecretString: value,
          VersionStages: ['AWSCURRENT'],
          CreatedDate: 1_700_000_000,
        });
      }
      if (operation === 'ecr.GetAuthorizationToken') {
        const [account = '000000000000'] = (body.registryIds as string[] | undefined) ?? [];
        return reply(200, {
          authorizationData: [
            {
              authorizationToken: Buffer.from(`AWS:${ecrPassword(account)}`).toString('base64'),
              expiresAt: Date.now() / 1000 + 12 * 3600,
              proxyEndpoint: `https://${account}.dkr.ecr.us-east-1.amazonaws.com`,
            },
          ],
        });
      }
      return reply(400, { __type: 'UnknownOperationException', message: target });
    });
  });
  const host = await listenOnLoopback(server);
  return {
    url: `http://${host}`,
    secrets,
    calls: (operation) => counts.get(operation) ?? 0,
    get failing() {
      return state.failing;
    },
    set failing(value: boolean) {
      state.failing = value;
    },
    stop: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface FakeS3 {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly bucket: string;
  stop(): Promise<void>;
}

/** s3rver on 127.0.0.1 with one bucket. The SDK must use access key `S3RVER`. */
export async function startFakeS3(bucket = 'policies'): Promise<FakeS3> {
  const directory = await mkdtemp(join(tmpdir(), 'imagegate-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port } = await server.run();
  return {
    url: `http://127.0.0.1:${port}`,
    bucket,
    stop: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** Environment for the AWS SDK inside imagegate to reach the fakes (dummy credentials, no network). */
export function awsEnvironment(
  s3: FakeS3 | { url: string },
  awsJson: FakeAwsJsonEndpoint,
): Record<string, string> {
  return {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_ENDPOINT_URL_S3: s3.url,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: awsJson.url,
    AWS_ENDPOINT_URL_ECR: awsJson.url,
    AWS_MAX_ATTEMPTS: '1',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}
