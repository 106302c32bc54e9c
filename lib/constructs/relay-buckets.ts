import { Duration } from 'aws-cdk-lib';
import { type IKey, Key } from 'aws-cdk-lib/aws-kms';
import { Bucket, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ACCESS_LOG_EXPIRATION, bucketDefaults, NONCURRENT_VERSION_EXPIRATION } from '../defaults.ts';

export interface RelayBucketsProps {
  /** Physical name of the ingest bucket to create (default: generated). */
  readonly ingestBucketName?: string;
  /**
   * ARN of an existing bucket to use as the ingest bucket instead of creating one. Its encryption, public
   * access block, TLS policy, versioning and access logs are then the operator's to keep.
   */
  readonly existingIngestBucketArn?: string;
  /**
   * ARN of the KMS key the existing ingest bucket encrypts its objects with (SSE-KMS): every function that
   * reads factory objects gets kms:Decrypt on it, through S3 only. Only with `existingIngestBucketArn` (the
   * bucket the relay creates uses S3-managed keys).
   */
  readonly ingestBucketKmsKeyArn?: string;
}

const ABORT_INCOMPLETE_UPLOADS = Duration.days(7);

/**
 * The relay's buckets: where factories drop files (ingest), where vendor results are written (results), and
 * the server access logs of both (logs). All three use the defaults in defaults.ts.
 */
export class RelayBuckets extends Construct {
  public readonly logsBucket: Bucket;
  /** The ingest bucket: created here, or the existing one when `existingIngestBucketArn` is given. */
  public readonly ingestBucket: IBucket;
  /** The ingest bucket when this construct created it; undefined for an existing bucket. */
  public readonly createdIngestBucket: Bucket | undefined;
  /** The existing ingest bucket's KMS key (`ingestBucketKmsKeyArn`), if given. */
  public readonly ingestBucketKey: IKey | undefined;
  public readonly resultsBucket: Bucket;

  constructor(scope: Construct, id: string, props: RelayBucketsProps = {}) {
    super(scope, id);
    if (props.ingestBucketName !== undefined && props.existingIngestBucketArn !== undefined)
      throw new Error('give either ingestBucketName (create) or existingIngestBucketArn (attach), not both');
    if (props.ingestBucketKmsKeyArn !== undefined && props.existingIngestBucketArn === undefined)
      throw new Error(
        'ingestBucketKmsKeyArn is the key of an existing ingest bucket: give existingIngestBucketArn too (the bucket the relay creates uses S3-managed keys)',
      );
    this.ingestBucketKey =
      props.ingestBucketKmsKeyArn === undefined
        ? undefined
        : Key.fromKeyArn(this, 'IngestBucketKey', props.ingestBucketKmsKeyArn);

    // The target of server access logs: S3-managed keys (log delivery does not support SSE-KMS targets).
    this.logsBucket = new Bucket(this, 'LogsBucket', {
      ...bucketDefaults(),
      lifecycleRules: [{ expiration: ACCESS_LOG_EXPIRATION, noncurrentVersionExpiration: Duration.days(30) }],
    });

    if (props.existingIngestBucketArn !== undefined) {
      this.createdIngestBucket = undefined;
      this.ingestBucket = Bucket.fromBucketArn(this, 'IngestBucket', props.existingIngestBucketArn);
    } else {
      // No expiry of factory files or their old versions: retention of factory data is the operator's call.
      this.createdIngestBucket = new Bucket(this, 'IngestBucket', {
        ...bucketDefaults(),
        bucketName: props.ingestBucketName,
        serverAccessLogsBucket: this.logsBucket,
        serverAccessLogsPrefix: 'ingest/',
        lifecycleRules: [{ abortIncompleteMultipartUploadAfter: ABORT_INCOMPLETE_UPLOADS }],
      });
      this.ingestBucket = this.createdIngestBucket;
    }

    this.resultsBucket = new Bucket(this, 'ResultsBucket', {
      ...bucketDefaults(),
      serverAccessLogsBucket: this.logsBucket,
      serverAccessLogsPrefix: 'results/',
      lifecycleRules: [
        {
          abortIncompleteMultipartUploadAfter: ABORT_INCOMPLETE_UPLOADS,
          noncurrentVersionExpiration: NONCURRENT_VERSION_EXPIRATION,
        },
      ],
    });
  }
}
