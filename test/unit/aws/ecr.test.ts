/** EcrCredentials over a fake ECR client and a fake clock: caching until 15 min before expiry. */
import type { GetAuthorizationTokenCommand } from '@aws-sdk/client-ecr';
import { ECR_CACHE_LIMITS, EcrCredentials, EcrTokenError, type EcrTokenClient } from '../../../lib/aws/ecr';

const ACCOUNT = '123456789012';
const REGISTRY = `${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`;
const HOUR = 60 * 60_000;

/** An ECR that hands out `AWS:password-<n>` valid for `lifetimeMs` from the clock's now. */
function fakeEcr(now: () => number, lifetimeMs = 12 * HOUR) {
  const calls: { region: string; registryIds: string[] | undefined }[] = [];
  let issued = 0;
  const makeClient = (region: string): EcrTokenClient => ({
    send: (command: GetAuthorizationTokenCommand) => {
      calls.push({ region, registryIds: command.input.registryIds });
      issued++;
      return Promise.resolve({
        $metadata: {},
        authorizationData: [
          {
            authorizationToken: Buffer.from(`AWS:password-${issued}`).toString('base64'),
            expiresAt: new Date(now() + lifetimeMs),
          },
        ],
      });
    },
  });
  return { makeClient, calls };
}

describe('EcrCredentials', () => {
  test('one GetAuthorizationToken per account and region, reused until 15 minutes before it expires', async () => {
    let now = 1_000_000;
    const ecr = fakeEcr(() => now);
    const credentials = new EcrCredentials(ecr.makeClient, () => now);
    expect(await credentials.lookup(REGISTRY)).toEqual({ username: 'AWS', password: 'password-1' });
    now += 12 * HOUR - 15 * 60_000 - 1;
    expect(await credentials.lookup(REGISTRY)).toEqual({ username: 'AWS', password: 'password-1' });
    now += 1;
    expect(await credentials.lookup(REGISTRY)).toEqual({ username: 'AWS', password: 'password-2' });
    expect(ecr.calls).toEqual([
      { region: 'eu-west-1', registryIds: [ACCOUNT] },
      { region: 'eu-west-1', registryIds: [ACCOUNT] },
    ]);
  });

  test('concurrent lookups share one call', async () => {
    const ecr = fakeEcr(() => 0);
    const credentials = new EcrCredentials(ecr.makeClient, () => 0);
    await Promise.all([credentials.lookup(REGISTRY), credentials.lookup(REGISTRY)]);
    expect(ecr.calls).toHaveLength(1);
  });

  test('invalidate drops the token of an ECR registry only', async () => {
    const ecr = fakeEcr(() => 0);
    const credentials = new EcrCredentials(ecr.makeClient, () => 0);
    await credentials.lookup(REGISTRY);
    expect(credentials.invalidate('ghcr.io')).toBe(false);
    expect(credentials.invalidate(REGISTRY)).toBe(true);
    await credentials.lookup(REGISTRY);
    expect(ecr.calls).toHaveLength(2);
  });

  test('a registry that is not ECR has no ECR credential and costs no call', async () => {
    const ecr = fakeEcr(() => 0);
    await expect(new EcrCredentials(ecr.makeClient, () => 0).lookup('ghcr.io')).resolves.toBeUndefined();
    expect(ecr.calls).toEqual([]);
  });

  test('an answer without a token is an EcrTokenError, and is not kept', async () => {
    let answers = 0;
    const credentials = new EcrCredentials(
      () => ({
        send: () => {
          answers++;
          return Promise.resolve({ $metadata: {}, authorizationData: [] });
        },
      }),
      () => 0,
    );
    await expect(credentials.lookup(REGISTRY)).rejects.toBeInstanceOf(EcrTokenError);
    await expect(credentials.lookup(REGISTRY)).rejects.toMatchObject({ code: 'ECR_NO_TOKEN' });
    expect(answers).toBe(2);
  });

  test(`clients are kept per region, at most ${ECR_CACHE_LIMITS.regions}`, async () => {
    const regions: string[] = [];
    const ecr = fakeEcr(() => 0);
    const credentials = new EcrCredentials(
      (region) => {
        regions.push(region);
        return ecr.makeClient(region);
      },
      () => 0,
    );
    await credentials.lookup(`${ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com`);
    await credentials.lookup(`210987654321.dkr.ecr.eu-west-1.amazonaws.com`);
    await credentials.lookup(`${ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com`);
    expect(regions).toEqual(['eu-west-1', 'us-east-1']);
  });
});
