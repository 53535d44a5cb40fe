import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { belongsToCluster, isPolicyFileName } from '../policy/store';
import type { PolicyObject, PolicyStore } from '../ports';

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
