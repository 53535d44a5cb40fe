/**
 * Trust roots from S3 go through the folder's reader: the same 1 MiB cap and the same
 * TrustRootError. A scripted client stands in for S3.
 */
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { readS3TrustRootDocuments } from '../../../lib/aws/s3-trust-roots';
import { MAX_TRUST_ROOT_BYTES, parseTrustRootDocument } from '../../../lib/fs/trust-root-folder';
import { TrustRootError } from '../../../lib/verify/trust-roots';

/** An S3 bucket of `objects` (key → text; a number is a ContentLength announced with an empty body). */
function bucket(objects: Record<string, string | number>) {
  const gets: string[] = [];
  let destroyed = 0;
  const client = {
    send: (command: unknown) => {
      if (command instanceof ListObjectsV2Command) {
        const prefix = command.input.Prefix ?? '';
        return Promise.resolve({
          Contents: Object.keys(objects)
            .filter((key) => key.startsWith(prefix) && !key.slice(prefix.length).includes('/'))
            .map((Key) => ({ Key })),
        });
      }
      if (command instanceof GetObjectCommand) {
        const key = command.input.Key ?? '';
        gets.push(key);
        const object = objects[key] ?? '';
        const text = typeof object === 'string' ? object : '';
        return Promise.resolve({
          ContentLength: typeof object === 'number' ? object : Buffer.byteLength(text),
          Body: {
            transformToString: () => Promise.resolve(text),
            destroy: () => destroyed++,
          },
        });
      }
      throw new Error('unexpected command');
    },
  };
  return { client: client as unknown as S3Client, gets, destroyed: () => destroyed };
}

describe('readS3TrustRootDocuments', () => {
  test('every .json object directly under the prefix, in key order, named by its s3:// URL', async () => {
    const { client } = bucket({
      'roots/b.json': '{"b":1}',
      'roots/a.json': '{"a":1}',
      'roots/readme.txt': 'not a root',
      'roots/nested/c.json': '{}',
    });
    await expect(readS3TrustRootDocuments(client, 'acme', 'roots')).resolves.toEqual([
      { name: 's3://acme/roots/a.json', json: { a: 1 } },
      { name: 's3://acme/roots/b.json', json: { b: 1 } },
    ]);
  });

  test('an object that is not JSON is the TrustRootError the folder reader throws', async () => {
    const { client } = bucket({ 'roots/broken.json': '{' });
    const reading = readS3TrustRootDocuments(client, 'acme', 'roots');
    await expect(reading).rejects.toBeInstanceOf(TrustRootError);
    const expected = (() => {
      try {
        parseTrustRootDocument('s3://acme/roots/broken.json', '{');
      } catch (error) {
        return error as TrustRootError;
      }
    })();
    await expect(reading).rejects.toMatchObject({ code: 'INVALID_TRUST_ROOT', message: expected?.message });
  });

  test(`an object over ${MAX_TRUST_ROOT_BYTES} bytes is refused by its size, before its body is read`, async () => {
    const capped = bucket({ 'huge.json': MAX_TRUST_ROOT_BYTES + 1 });
    const reading = readS3TrustRootDocuments(capped.client, 'acme', '');
    await expect(reading).rejects.toThrow(TrustRootError);
    await expect(reading).rejects.toMatchObject({ code: 'INVALID_TRUST_ROOT' });
    expect(capped.destroyed()).toBe(1);
  });
});
