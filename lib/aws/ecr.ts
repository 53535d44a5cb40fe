import {
  ECRClient,
  GetAuthorizationTokenCommand,
  type GetAuthorizationTokenCommandOutput,
} from '@aws-sdk/client-ecr';
import { LRUCache } from 'lru-cache';
import { ImagegateError } from '../errors';
import { ECR_HOST } from '../oci/credentials';
import type { RegistryCredential } from '../ports';

/** Renew this long before the token's own expiry (tokens last 12 hours). */
const RENEW_BEFORE_MS = 15 * 60_000;
/**
 * Image references name the account and region, so both maps are bounded: ECR has about 35
 * regions, and a token is only kept for an account the function's role may read.
 */
export const ECR_CACHE_LIMITS = { regions: 64, accountRegions: 1_000 } as const;

type EcrToken = { credential: RegistryCredential; expiresAt: number };

/** ECR answered GetAuthorizationToken without a usable token. */
export class EcrTokenError extends ImagegateError<'ECR_NO_TOKEN'> {}

/** The one call made to ECR (an `ECRClient`; tests pass a fake). */
export interface EcrTokenClient {
  send(command: GetAuthorizationTokenCommand): Promise<GetAuthorizationTokenCommandOutput>;
}

/**
 * ECR credentials from the function's own IAM role (`ecr:GetAuthorizationToken`), one token
 * per account and region, cached until shortly before it expires and shared by concurrent
 * requests: never one call per admission.
 */
export class EcrCredentials {
  private readonly tokens = new LRUCache<string, Promise<EcrToken>>({ max: ECR_CACHE_LIMITS.accountRegions });
  private readonly clients = new LRUCache<string, EcrTokenClient>({ max: ECR_CACHE_LIMITS.regions });

  constructor(
    private readonly makeClient: (region: string) => EcrTokenClient = (region) => new ECRClient({ region }),
    private readonly now: () => number = Date.now,
  ) {}

  async lookup(registry: string): Promise<RegistryCredential | undefined> {
    const match = ECR_HOST.exec(registry);
    if (!match) return undefined;
    const [, account = '', region = ''] = match;
    const key = `${account}/${region}`;
    let pending = this.tokens.get(key);
    if (pending) {
      const token = await pending.catch(() => undefined);
      if (token && token.expiresAt - RENEW_BEFORE_MS > this.now()) return token.credential;
    }
    pending = this.fetch(account, region);
    this.tokens.set(key, pending);
    pending.catch(() => this.tokens.delete(key));
    return (await pending).credential;
  }

  /** Drops the cached token of an ECR registry that refused it; false for other registries. */
  invalidate(registry: string): boolean {
    const match = ECR_HOST.exec(registry);
    if (!match) return false;
    this.tokens.delete(`${match[1] ?? ''}/${match[2] ?? ''}`);
    return true;
  }

  private async fetch(account: string, region: string): Promise<EcrToken> {
    let client = this.clients.get(region);
    if (!client) {
      client = this.makeClient(region);
      this.clients.set(region, client);
    }
    const response = await client.send(new GetAuthorizationTokenCommand({ registryIds: [account] }));
    const data = response.authorizationData?.[0];
    const decoded = Buffer.from(data?.authorizationToken ?? '', 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) {
      throw new EcrTokenError(
        'ECR_NO_TOKEN',
        `ECR returned no authorization token for ${account} in ${region}`,
      );
    }
    return {
      credential: { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) },
      expiresAt: data?.expiresAt?.getTime() ?? this.now() + 60 * 60_000,
    };
  }
}
