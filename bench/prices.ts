/**
 * AWS list prices the cost section uses: us-east-1, on-demand, no free tier, as published by AWS and known to
 * this project in 2025 (no price was fetched at run time; bench/README.md names each with its date). Change
 * them here; everything printed follows.
 */
export const PRICES = {
  label: 'us-east-1 on-demand list prices, 2025',
  /** DynamoDB on-demand (Standard table class), per million request units, since the 2024-11-01 cut. */
  dynamodbWritePerMillion: 0.625,
  dynamodbReadPerMillion: 0.125,
  /** The same before 2024-11-01 (printed as a second total). */
  dynamodbWritePerMillionBefore2024_11: 1.25,
  dynamodbReadPerMillionBefore2024_11: 0.25,
  /** S3 Standard requests: GET, HEAD, SELECT…; PUT, COPY, POST, LIST. Per 1,000. */
  s3GetPerThousand: 0.0004,
  s3PutPerThousand: 0.005,
  /** SQS standard queue, per million requests (each 64 KB of payload is one request). */
  sqsPerMillion: 0.4,
  /** Lambda on arm64 (Graviton): per GB-second (first tier) and per million requests. */
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaRequestsPerMillion: 0.2,
  /** Secrets Manager API calls, per 10,000. */
  secretsManagerPer10k: 0.05,
} as const;

/** Issue 12's figures for main before this work (per file to Instrumental), printed beside the new ones. */
export const ISSUE_12_BEFORE = {
  dynamodbWriteUnits: 25.5,
  dynamodbWriteUnitsByFunction: { router: 8, forwarder: 12.5, poller: 5 } as Record<string, number>,
  indexWriteUnits: 18,
  tokenBucketFailedPerSend: '1.4–2.8',
  sqsRequests: 3.8,
  s3GetRequests: 3,
  costPerMillionFiles: 22,
  costParts: 'DynamoDB writes $16, forwarder GB-s $3.3, SQS $1.5, S3 $1.2',
} as const;
