/**
 * S3 → SQS event notifications, which no local emulator delivers: for every new object version (from the
 * fauxqs hooks in s3-hooks.ts) one SQS message `{"Records":[<record>]}` with the record shape of a real
 * `ObjectCreated:*` event, and the `s3:TestEvent` message S3 sends when a notification is configured.
 *
 * Shape reference: the AWS S3 User Guide, "Event message structure" (see test/local/fixtures/README.md).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { S3EventRecord } from 'aws-lambda';
import {
  LOCAL_BUCKET_OWNER_ID,
  LOCAL_PRINCIPAL_ID,
  S3_EVENT_KEY_UNENCODED,
  S3_EVENT_VERSION,
  SEQUENCER_DIGITS,
} from './assumptions.ts';
import type { ObjectCreated, S3Watch } from './s3-hooks.ts';

export { LOCAL_BUCKET_OWNER_ID, LOCAL_PRINCIPAL_ID, S3_EVENT_VERSION };

/**
 * Encodes an object key the way S3 writes it into event notifications: application/x-www-form-urlencoded
 * (Java URLEncoder rules: letters, digits and `. - _ *` kept, space → `+`, everything else `%XX` of its UTF-8
 * bytes, upper-case hex) except that `/` is kept. Observed on AWS: `red flower.jpg` → `red+flower.jpg` (S3
 * docs), `a@b` → `a%40b` and `testupload/dir1/testfile.txt` unchanged (LocalStack's AWS-validated snapshots),
 * `:` → `%3A` (aws-sdk-js #837), `=` → `%3D` (aws-sam-cli #379). Decode with
 * `decodeURIComponent(key.replace(/\+/g, ' '))`.
 */
export function encodeS3EventKey(key: string): string {
  let out = '';
  for (const ch of key) {
    if (S3_EVENT_KEY_UNENCODED.test(ch)) out += ch;
    else if (ch === ' ') out += '+';
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export interface S3EventRecordInput {
  region: string;
  eventTime: Date | string;
  /** Without the `s3:` prefix, e.g. `ObjectCreated:Put`. */
  eventName: string;
  principalId: string;
  sourceIPAddress: string;
  requestId: string;
  hostId: string;
  configurationId: string;
  bucket: string;
  bucketOwnerPrincipalId: string;
  /** The object key as stored (NOT encoded: the builder encodes it). */
  key: string;
  size: number;
  /** With or without quotes; the record carries it without. */
  eTag: string;
  /** Only for versioning-enabled (or suspended: "null") buckets. */
  versionId?: string;
  sequencer: string;
}

/** One record, fields in the order AWS writes them. */
export function s3EventRecord(input: S3EventRecordInput): S3EventRecord {
  const eventTime = typeof input.eventTime === 'string' ? input.eventTime : input.eventTime.toISOString();
  return {
    eventVersion: S3_EVENT_VERSION,
    eventSource: 'aws:s3',
    awsRegion: input.region,
    eventTime,
    eventName: input.eventName,
    userIdentity: { principalId: input.principalId },
    requestParameters: { sourceIPAddress: input.sourceIPAddress },
    responseElements: { 'x-amz-request-id': input.requestId, 'x-amz-id-2': input.hostId },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: input.configurationId,
      bucket: {
        name: input.bucket,
        ownerIdentity: { principalId: input.bucketOwnerPrincipalId },
        arn: `arn:aws:s3:::${input.bucket}`,
      },
      object: {
        key: encodeS3EventKey(input.key),
        size: input.size,
        eTag: input.eTag.replace(/^"|"$/g, ''),
        ...(input.versionId !== undefined ? { versionId: input.versionId } : {}),
        sequencer: input.sequencer,
      },
    },
  };
}

export interface S3TestEvent {
  Service: 'Amazon S3';
  Event: 's3:TestEvent';
  Time: string;
  Bucket: string;
  RequestId: string;
  HostId: string;
}

export function s3TestEvent(bucket: string, time = new Date()): S3TestEvent {
  return {
    Service: 'Amazon S3',
    Event: 's3:TestEvent',
    Time: time.toISOString(),
    Bucket: bucket,
    RequestId: randomBytes(8).toString('hex').toUpperCase(),
    HostId: randomBytes(57).toString('base64'),
  };
}

/**
 * Sequencers: upper-case hex, strictly increasing in this process (so per key too), 18 digits like the docs'
 * `0055AED6DCD90281E5` (AWS may vary the length; compare after right-padding, as its docs say).
 */
export class SequencerClock {
  private last = 0n;
  next(now = Date.now()): string {
    let v = BigInt(now) << 12n;
    if (v <= this.last) v = this.last + 1n;
    this.last = v;
    return v.toString(16).toUpperCase().padStart(SEQUENCER_DIGITS, '0');
  }
}

export interface NotificationTarget {
  bucket: string;
  queueUrl: string;
  /** The notification configuration's Id (default `local-<bucket>-to-sqs`). */
  configurationId?: string;
  /**
   * Key filter rules as S3 has them. S3 compares them with the URL-encoded key (its docs: a space in a
   * prefix must be written `+`, special characters percent-encoded), and so does this.
   */
  filter?: { prefix?: string; suffix?: string };
}

export interface NotifierOptions {
  source: S3Watch;
  sqs: SQSClient;
  /** For HeadObject when the hook could not tell an object's size (rare). */
  s3?: S3Client;
  targets: NotificationTarget[];
  region?: string;
  /** Send each notification this many times (S3 delivers at least once). Default 1. */
  duplicates?: number;
  /** Send `s3:TestEvent` to every target on start, as S3 does on configuration (default true). */
  testEvent?: boolean;
}

export interface NotificationSent {
  bucket: string;
  key: string;
  eventName: string;
  versionId?: string;
  queueUrl: string;
  messageIds: string[];
}

export type NotifierEvents = {
  notification: [NotificationSent];
  testEvent: [{ queueUrl: string; event: S3TestEvent }];
  sendError: [{ error: unknown; bucket: string; key?: string }];
};

export class S3Notifier extends EventEmitter<NotifierEvents> {
  private readonly clock = new SequencerClock();
  private chain: Promise<void> = Promise.resolve();
  private started = false;
  private readonly listener = (e: ObjectCreated) => {
    this.chain = this.chain.then(() => this.deliver(e));
  };
  /** Messages sent so far (test events and duplicates included). */
  sent = 0;

  constructor(private readonly opts: NotifierOptions) {
    super();
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.opts.source.on('objectCreated', this.listener);
    if (this.opts.testEvent !== false) {
      for (const t of this.opts.targets) {
        const event = s3TestEvent(t.bucket);
        await this.opts.sqs.send(
          new SendMessageCommand({ QueueUrl: t.queueUrl, MessageBody: JSON.stringify(event) }),
        );
        this.sent++;
        this.emit('testEvent', { queueUrl: t.queueUrl, event });
      }
    }
  }

  /** Resolves when every notification for objects created so far has been sent. */
  async flush(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.chain;
      await seen;
    } while (seen !== this.chain);
  }

  async stop(): Promise<void> {
    this.opts.source.removeListener('objectCreated', this.listener);
    this.started = false;
    await this.flush();
  }

  private async deliver(e: ObjectCreated): Promise<void> {
    const encodedKey = encodeS3EventKey(e.key);
    const targets = this.opts.targets.filter(
      (t) =>
        t.bucket === e.bucket &&
        (!t.filter?.prefix || encodedKey.startsWith(t.filter.prefix)) &&
        (!t.filter?.suffix || encodedKey.endsWith(t.filter.suffix)),
    );
    if (targets.length === 0) return;
    try {
      let size = e.size;
      if (size === undefined) {
        if (!this.opts.s3)
          throw new Error(`size of s3://${e.bucket}/${e.key} unknown and no S3 client to ask`);
        const head = await this.opts.s3.send(new HeadObjectCommand({ Bucket: e.bucket, Key: e.key }));
        size = head.ContentLength ?? 0;
      }
      const sequencer = this.clock.next(e.eventTime.getTime());
      for (const t of targets) {
        const record = s3EventRecord({
          region: this.opts.region ?? 'us-east-1',
          eventTime: e.eventTime,
          eventName: e.eventName,
          principalId: LOCAL_PRINCIPAL_ID,
          sourceIPAddress: e.sourceIPAddress,
          requestId: e.requestId,
          hostId: e.hostId,
          configurationId: t.configurationId ?? `local-${t.bucket}-to-sqs`,
          bucket: e.bucket,
          bucketOwnerPrincipalId: LOCAL_BUCKET_OWNER_ID,
          key: e.key,
          size,
          eTag: e.eTag,
          versionId: e.versionId,
          sequencer,
        });
        const body = JSON.stringify({ Records: [record] });
        const messageIds: string[] = [];
        for (let i = 0; i < Math.max(1, this.opts.duplicates ?? 1); i++) {
          const out = await this.opts.sqs.send(
            new SendMessageCommand({ QueueUrl: t.queueUrl, MessageBody: body }),
          );
          messageIds.push(out.MessageId ?? '');
          this.sent++;
        }
        this.emit('notification', {
          bucket: e.bucket,
          key: e.key,
          eventName: e.eventName,
          versionId: e.versionId,
          queueUrl: t.queueUrl,
          messageIds,
        });
      }
    } catch (error) {
      this.emit('sendError', { error, bucket: e.bucket, key: e.key });
    }
  }
}

export async function startNotifier(opts: NotifierOptions): Promise<S3Notifier> {
  const n = new S3Notifier(opts);
  await n.start();
  return n;
}
