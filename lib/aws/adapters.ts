import { ECRClient } from '@aws-sdk/client-ecr';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { AwsAdapters } from '../ports';
import { EcrCredentials } from './ecr';
import { S3PolicyStore } from './s3-policy-store';
import { readS3TrustRootDocuments } from './s3-trust-roots';
import { SecretsManagerReader } from './secrets-manager';

/**
 * The AWS SDK clients, configured by the SDK's standard environment (region, credentials from
 * the function's role, `AWS_ENDPOINT_URL_*` overrides). The only module that creates them.
 */
export function createAwsAdapters(): AwsAdapters {
  let s3: S3Client | undefined;
  const s3Client = () =>
    (s3 ??= new S3Client({
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }));
  return {
    trustRootDocuments: (bucket, prefix) => readS3TrustRootDocuments(s3Client(), bucket, prefix),
    policyStore: (bucket, prefix) => new S3PolicyStore(s3Client(), bucket, prefix),
    secrets: () => new SecretsManagerReader(new SecretsManagerClient({})),
    ecrCredentials: (now) => new EcrCredentials((region) => new ECRClient({ region }), now),
  };
}
