/**
 * Bench section 4's comparison entry: the forwarder as it would be with AWS SDK v3 clients instead of the
 * relay's own (lambdas/adapters/aws): the forwarder's handler plus the SDK clients its adapters used to build at
 * module load (a DocumentClient over DynamoDB, S3, SQS, Secrets Manager), as a user would write them.
 * Bundled with the relay's settings, once with the SDK inside and once left to the Lambda runtime.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export { handler } from '../lambdas/handlers/forwarder.ts';

export const sdkClients = {
  ddb: DynamoDBDocumentClient.from(new DynamoDBClient({}), {
    marshallOptions: { removeUndefinedValues: true },
  }),
  s3: new S3Client({}),
  sqs: new SQSClient({}),
  secrets: new SecretsManagerClient({}),
};
