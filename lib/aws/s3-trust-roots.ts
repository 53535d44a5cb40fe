import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { checkTrustRootSize, parseTrustRootDocument } from '../fs/trust-root-folder';
import type { TrustRootDocument } from '../verify/trust-roots';

/**
 * Every `*.json` object directly under `s3://bucket/prefix/` (trusted_root.json documents for
 * IMAGEGATE_TRUST_ROOTS), named by their `s3://` URL and read by the same reader, with the same
 * size cap and `TrustRootError`, as a trust-root folder (lib/fs/trust-root-folder.ts).
 */
export async function readS3TrustRootDocuments(
  client: S3Client,
  bucket: string,
  prefix: string,
): Promise<TrustRootDocument[]> {
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
      const name = `s3://${bucket}/${key}`;
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      try {
        checkTrustRootSize(name, response.ContentLength);
      } catch (error) {
        // Not read: the connection is given back rather than kept until the body is collected.
        (response.Body as { destroy?: () => void } | undefined)?.destroy?.();
        throw error;
      }
      return parseTrustRootDocument(name, (await response.Body?.transformToString('utf8')) ?? '');
    }),
  );
}
