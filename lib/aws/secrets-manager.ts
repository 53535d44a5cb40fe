import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { describeError } from '../errors';
import { SecretError } from '../secrets';
import type { SecretReader } from '../ports';

/** {@link SecretReader} over AWS Secrets Manager (`SecretString`, or UTF-8 `SecretBinary`). */
export class SecretsManagerReader implements SecretReader {
  constructor(private readonly client: SecretsManagerClient) {}

  async read(secretId: string): Promise<string> {
    try {
      const response = await this.client.send(new GetSecretValueCommand({ SecretId: secretId }));
      if (response.SecretString !== undefined) return response.SecretString;
      if (response.SecretBinary) return Buffer.from(response.SecretBinary).toString('utf8');
      throw new SecretError('SECRET_UNAVAILABLE', `secret ${secretId} has no value`);
    } catch (error) {
      if (error instanceof SecretError) throw error;
      const name = (error as { name?: string }).name;
      if (name === 'ResourceNotFoundException') {
        throw new SecretError('SECRET_NOT_FOUND', `secret ${secretId} does not exist`, { cause: error });
      }
      throw new SecretError(
        'SECRET_UNAVAILABLE',
        `secret ${secretId} could not be read: ${describeError(error)}`,
        {
          cause: error,
        },
      );
    }
  }
}
