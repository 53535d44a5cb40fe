import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { belongsToCluster, isPolicyFileName, type PolicyObject, type PolicyStore } from '../policy/store';

/**
 * Policies in S3 under `s3://bucket/prefix`: `common/` for every cluster and
 * `clusters/<name>/` for one. A listing returns every object's ETag, so an unchanged bucket
 * costs one ListObjectsV2 per prefix and no GetObject.
 */
export class S3PolicyStore implements PolicyStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  get location(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  async list(cluster: string | undefined): Promise<PolicyObject[]> {
    const prefixes = [this.keyFor('common/'), ...(cluster ? [this.keyFor(`clusters/${cluster}/`)] : [])];
    const listings = await Promise.all(prefixes.map((prefix) => this.listPrefix(prefix)));
    return listings
      .flat()
      .filter((object) => belongsToCluster(object.key.slice(this.keyFor('').length), cluster));
  }

  async read(object: PolicyObject): Promise<string> {
    const response = await this.client.send(
      new GetObjectCommand({ Bucket: this.bucket, Key: object.key, IfMatch: object.etag }),
    );
    return (await response.Body?.transformToString('utf8')) ?? '';
  }

  private async listPrefix(prefix: string): Promise<PolicyObject[]> {
    const objects: PolicyObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const item of page.Contents ?? []) {
        if (item.Key && item.ETag && isPolicyFileName(item.Key))
          objects.push({ key: item.Key, etag: item.ETag });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects;
  }

  private keyFor(relative: string): string {
    return this.prefix ? `${this.prefix}/${relative}` : relative;
  }
}

/**
 * Every `*.json` object directly under `s3://bucket/prefix/` (trusted_root.json documents for
 * IMAGEGATE_TRUST_ROOTS), parsed, named by key.
 */
export async function readS3JsonDocuments(
  client: S3Client,
  bucket: string,
  prefix: string,
): Promise<{ name: string; json: unknown }[]> {
  const keyPrefix = prefix ? `${prefix}/` : '';
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: keyPrefix,
        Delimiter: '/',
        ContinuationToken: token,
      }),
    );
    for (const item of page.Contents ?? []) if (item.Key?.endsWith('.json')) keys.push(item.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return Promise.all(
    keys.sort().map(async (key) => {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const text = (await response.Body?.transformToString('utf8')) ?? '';
      try {
        return { name: `s3://${bucket}/${key}`, json: JSON.parse(text) as unknown };
      } catch (error) {
        throw new Error(`trust root s3://${bucket}/${key} is not JSON: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }),
  );
}
