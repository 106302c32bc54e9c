/**
 * The local ingest bucket as a factory sees it, for the CLI, the tests and the bench: upload the way a sync
 * does (one PutObject for small files, a multipart upload as `aws s3 cp` does above 8 MiB, since fauxqs
 * refuses single PUTs over ~11 MiB), and read an object version's delivery records by partition key.
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { Upload } from '@aws-sdk/lib-storage';
import { type DeliveryRecord, fromItem, objectPk } from '../lambdas/domain/delivery.ts';

export const MULTIPART_ABOVE = 8 * 1024 * 1024;

const TYPES: Record<string, string> = {
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  mp4: 'video/mp4',
  webm: 'video/webm',
  json: 'application/json',
  csv: 'text/csv',
  txt: 'text/plain',
  wav: 'audio/wav',
};

export function contentTypeOf(key: string): string {
  const base = key.slice(key.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return (dot > 0 && TYPES[base.slice(dot + 1).toLowerCase()]) || 'application/octet-stream';
}

export interface PutResult {
  key: string;
  versionId?: string;
  /** Without quotes. */
  etag: string;
  size: number;
}

export async function putObject(
  s3: S3Client,
  bucket: string,
  key: string,
  body: Buffer | { path: string; size: number },
  contentType = contentTypeOf(key),
  metadata?: Record<string, string>,
): Promise<PutResult> {
  const size = Buffer.isBuffer(body) ? body.length : body.size;
  let out: { ETag?: string; VersionId?: string };
  if (size > MULTIPART_ABOVE) {
    const Body = Buffer.isBuffer(body) ? body : createReadStream(body.path);
    out = await new Upload({
      client: s3,
      params: { Bucket: bucket, Key: key, Body, ContentType: contentType, Metadata: metadata },
      partSize: MULTIPART_ABOVE,
    }).done();
  } else {
    const Body = Buffer.isBuffer(body) ? body : await readFile(body.path);
    out = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body, ContentType: contentType, Metadata: metadata }),
    );
  }
  return {
    key,
    etag: (out.ETag ?? '').replace(/"/g, ''),
    size,
    ...(out.VersionId ? { versionId: out.VersionId } : {}),
  };
}

/** Every delivery record of one object version (one per destination, or its `route` record): a Query. */
export async function recordsOf(
  ddb: DynamoDBDocumentClient,
  tableName: string,
  obj: { bucket: string; key: string; versionId?: string; etag: string },
): Promise<DeliveryRecord[]> {
  const out = await ddb.send(
    new QueryCommand({
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': objectPk(obj) },
      ConsistentRead: true,
    }),
  );
  return ((out.Items ?? []) as DeliveryRecord[]).map(fromItem);
}
