/**
 * S3 → SQS notifications: the record builder against AWS's documented sample, S3's key encoding, and the
 * notifier end to end on fauxqs through the real SDK (PutObject, CopyObject, multipart Upload > 10 MB).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3Event, S3EventRecord } from 'aws-lambda';
import { decodeS3EventKey } from '../../lambdas/commons/s3-key.ts';
import { createLocalClients, type LocalClients } from '../../local/clients.ts';
import { type Emulators, startEmulators } from '../../local/emulators.ts';
import {
  encodeS3EventKey,
  S3_EVENT_VERSION,
  type S3Notifier,
  SequencerClock,
  s3EventRecord,
  startNotifier,
} from '../../local/notifier.ts';
import { createResources, type LocalResources, queueUrlOnEndpoint } from '../../local/resources.ts';
import type { ObjectRequest } from '../../local/s3-hooks.ts';
import { receiveFor, receiveN } from './helpers.ts';

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/s3-put-event.aws-docs.json', import.meta.url), 'utf8'),
) as S3Event;
const testEventFixture = JSON.parse(
  readFileSync(new URL('./fixtures/s3-test-event.aws-docs.json', import.meta.url), 'utf8'),
) as Record<string, unknown>;

/** The nested key structure of a JSON value, in order (to compare shapes, not values). */
function shape(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return typeof v;
  if (Array.isArray(v)) return v.map(shape);
  return Object.entries(v).map(([k, x]) => [k, shape(x)]);
}

describe('s3EventRecord (pure)', () => {
  test('rebuilds the AWS documentation sample exactly, field order included', () => {
    const sample = fixture.Records[0]!;
    const record = s3EventRecord({
      region: 'us-west-2',
      eventTime: new Date('1970-01-01T00:00:00.000Z'),
      eventName: 'ObjectCreated:Put',
      principalId: 'AIDAJDPLRKLG7UEXAMPLE',
      sourceIPAddress: '127.0.0.1',
      requestId: 'C3D13FE58DE4C810',
      hostId: 'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD',
      configurationId: 'testConfigRule',
      bucket: 'mybucket',
      bucketOwnerPrincipalId: 'A3NL1KOZZKExample',
      key: 'HappyFace.jpg',
      size: 1024,
      eTag: '"d41d8cd98f00b204e9800998ecf8427e"',
      versionId: '096fKKXTRTtl3on89fVO.nfljtsv6qko',
      sequencer: '0055AED6DCD90281E5',
    });
    assert.deepStrictEqual(record, sample);
    assert.equal(JSON.stringify(record), JSON.stringify(sample));
    assert.equal(S3_EVENT_VERSION, sample.eventVersion);
  });

  test('omits versionId for an unversioned bucket', () => {
    const record = s3EventRecord({
      ...{
        region: 'us-east-1',
        eventTime: '2024-01-01T00:00:00.000Z',
        eventName: 'ObjectCreated:Put',
        principalId: 'p',
        sourceIPAddress: '127.0.0.1',
        requestId: 'r',
        hostId: 'h',
        configurationId: 'c',
        bucket: 'b',
        bucketOwnerPrincipalId: 'o',
      },
      key: 'k',
      size: 1,
      eTag: 'e',
      sequencer: '00',
    });
    assert.equal('versionId' in record.s3.object, false);
    assert.deepStrictEqual(Object.keys(record.s3.object), ['key', 'size', 'eTag', 'sequencer']);
  });
});

describe('encodeS3EventKey (pure)', () => {
  const cases: Array<[string, string, string]> = [
    ['red flower.jpg', 'red+flower.jpg', 'S3 docs: space → +'],
    ['a@b', 'a%40b', 'AWS-validated LocalStack snapshot'],
    ['testupload/dir1/testfile.txt', 'testupload/dir1/testfile.txt', '/ kept (AWS-validated snapshot)'],
    ['test/10:47:07.log', 'test/10%3A47%3A07.log', 'aws-sdk-js #837'],
    ['something/dt=2018-05-04/_SUCCESS', 'something/dt%3D2018-05-04/_SUCCESS', 'aws-sam-cli #379'],
    ['a+b.jpg', 'a%2Bb.jpg', 'a real + is %2B'],
    ['100%.jpg', '100%25.jpg', 'a real % is %25'],
    ['already%20encoded.jpg', 'already%2520encoded.jpg', 'no double meaning'],
    ['ü/日本 語.png', '%C3%BC/%E6%97%A5%E6%9C%AC+%E8%AA%9E.png', 'UTF-8 bytes, upper-case hex'],
    ['emoji-😀.png', 'emoji-%F0%9F%98%80.png', 'astral plane'],
    ['x_y-z.*', 'x_y-z.*', 'URLEncoder keeps . - _ *'],
    ["(1)~!'&$,;?#[]", '%281%29%7E%21%27%26%24%2C%3B%3F%23%5B%5D', 'everything else percent-encoded'],
  ];
  for (const [key, encoded, why] of cases) {
    test(`${JSON.stringify(key)} → ${encoded} (${why})`, () => {
      assert.equal(encodeS3EventKey(key), encoded);
      assert.equal(decodeS3EventKey(encodeS3EventKey(key)), key);
    });
  }
});

test('SequencerClock: strictly increasing upper-case hex of one length', () => {
  const clock = new SequencerClock();
  const seen = [clock.next(1000), clock.next(1000), clock.next(999), clock.next(2000)];
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `${seen[i]} > ${seen[i - 1]}`);
  for (const s of seen) assert.match(s, /^[0-9A-F]{18}$/);
});

describe('notifier on fauxqs', () => {
  let emu: Emulators;
  let clients: LocalClients;
  let res: LocalResources;
  let notifier: S3Notifier;
  const plainBucket = 'plain-bucket';
  let plainQueue: string;

  before(async () => {
    emu = await startEmulators({ dynamodb: false });
    clients = createLocalClients({
      s3: emu.s3Endpoint,
      sqs: emu.sqsEndpoint,
      secretsManager: emu.secretsEndpoint,
    });
    res = await createResources({ clients, sqsEndpoint: emu.sqsEndpoint, table: false });
    await clients.s3.send(new CreateBucketCommand({ Bucket: plainBucket }));
    const q = await clients.sqs.send(new CreateQueueCommand({ QueueName: 'plain-events' }));
    plainQueue = queueUrlOnEndpoint(q.QueueUrl!, emu.sqsEndpoint);
    notifier = await startNotifier({
      source: emu.s3Events,
      sqs: clients.sqs,
      s3: clients.s3,
      targets: [
        { bucket: res.buckets.ingest, queueUrl: res.queues.ingest.url, configurationId: 'ingest-config' },
        { bucket: plainBucket, queueUrl: plainQueue },
      ],
    });
  });
  after(async () => {
    await notifier.stop();
    clients.destroy();
    await emu.stop();
  });

  const events = async (queueUrl: string, n: number): Promise<S3EventRecord[]> => {
    await notifier.flush();
    const msgs = await receiveN(clients.sqs, queueUrl, n);
    assert.equal(msgs.length, n);
    return msgs.map((m) => {
      const body = JSON.parse(m.Body!) as S3Event;
      assert.equal(body.Records.length, 1);
      return body.Records[0]!;
    });
  };

  test('sends s3:TestEvent to every target on start, in AWS shape', async () => {
    for (const [queueUrl, bucket] of [
      [res.queues.ingest.url, res.buckets.ingest],
      [plainQueue, plainBucket],
    ] as const) {
      const [m] = await receiveN(clients.sqs, queueUrl, 1);
      const body = JSON.parse(m!.Body!) as Record<string, string>;
      assert.deepStrictEqual(Object.keys(body), Object.keys(testEventFixture));
      assert.equal(body.Service, 'Amazon S3');
      assert.equal(body.Event, 's3:TestEvent');
      assert.equal(body.Bucket, bucket);
      assert.equal('Records' in body, false);
      assert.match(body.Time!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.match(body.RequestId!, /^[0-9A-F]{16}$/);
      assert.ok(body.HostId!.length > 20);
    }
  });

  test('objectRequest: every request on an object, with its Range, versionId and status', async () => {
    // A versioned bucket no notifier target watches: the other tests count their events.
    const Bucket = 'counted-bucket';
    await clients.s3.send(new CreateBucketCommand({ Bucket }));
    await clients.s3.send(
      new PutBucketVersioningCommand({ Bucket, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    const seen: ObjectRequest[] = [];
    const listen = (r: ObjectRequest) => seen.push(r);
    emu.s3Events.on('objectRequest', listen);
    try {
      const key = 'counted/unit 7.jpg';
      const put = await clients.s3.send(
        new PutObjectCommand({ Bucket, Key: key, Body: Buffer.from('0123456789') }),
      );
      assert.ok(put.VersionId);
      await clients.s3.send(
        new GetObjectCommand({ Bucket, Key: key, Range: 'bytes=0-3', VersionId: put.VersionId }),
      );
      await clients.s3.send(new HeadObjectCommand({ Bucket, Key: key }));
      await clients.s3
        .send(new GetObjectCommand({ Bucket, Key: 'counted/missing.jpg' }))
        .catch(() => undefined);
      const mine = seen.filter((r) => r.key.startsWith('counted/'));
      assert.deepEqual(
        mine.map((r) => [r.method, r.key, r.range ?? null, r.versionId ?? null, r.status]),
        [
          ['PUT', key, null, null, 200],
          ['GET', key, 'bytes=0-3', put.VersionId, 206],
          ['HEAD', key, null, null, 200],
          ['GET', 'counted/missing.jpg', null, null, 404],
        ],
      );
    } finally {
      emu.s3Events.off('objectRequest', listen);
    }
  });

  test('ingest bucket reports versioning Enabled (shim)', () => {
    assert.equal(res.ingestVersioned, true);
  });

  test('PutObject: one event per new version, every field in the AWS shape', async () => {
    const key = 'images/line 1/unit+7 100% ü.jpg';
    const body1 = Buffer.from('first version');
    const p1 = await clients.s3.send(
      new PutObjectCommand({ Bucket: res.buckets.ingest, Key: key, Body: body1 }),
    );
    const p2 = await clients.s3.send(
      new PutObjectCommand({ Bucket: res.buckets.ingest, Key: key, Body: body1 }),
    );
    assert.ok(p1.VersionId && p2.VersionId && p1.VersionId !== p2.VersionId);
    const [e1, e2] = await events(res.queues.ingest.url, 2);
    assert.deepStrictEqual(shape(e1), shape(fixture.Records[0]), 'same fields, same order as the AWS sample');
    const md5 = createHash('md5').update(body1).digest('hex');
    for (const [e, put] of [
      [e1!, p1],
      [e2!, p2],
    ] as const) {
      assert.equal(e.eventVersion, '2.1');
      assert.equal(e.eventSource, 'aws:s3');
      assert.equal(e.awsRegion, 'us-east-1');
      assert.equal(e.eventName, 'ObjectCreated:Put');
      assert.match(e.eventTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(e.requestParameters.sourceIPAddress, '127.0.0.1');
      assert.match(e.responseElements['x-amz-request-id'], /^[0-9A-F]{16}$/);
      assert.equal(e.s3.s3SchemaVersion, '1.0');
      assert.equal(e.s3.configurationId, 'ingest-config');
      assert.equal(e.s3.bucket.name, res.buckets.ingest);
      assert.equal(e.s3.bucket.arn, `arn:aws:s3:::${res.buckets.ingest}`);
      assert.equal(e.s3.object.key, 'images/line+1/unit%2B7+100%25+%C3%BC.jpg');
      assert.equal(decodeS3EventKey(e.s3.object.key), key);
      assert.equal(e.s3.object.size, body1.length);
      assert.equal(e.s3.object.eTag, md5);
      assert.equal(`"${e.s3.object.eTag}"`, put.ETag);
      assert.equal(e.s3.object.versionId, put.VersionId);
      assert.match(e.s3.object.sequencer, /^[0-9A-F]+$/);
    }
    assert.ok(e2!.s3.object.sequencer > e1!.s3.object.sequencer, 'later write, greater sequencer');
    // The decoded key reads the object back; the current version is readable by id, the old one is gone.
    const got = await clients.s3.send(
      new GetObjectCommand({
        Bucket: res.buckets.ingest,
        Key: decodeS3EventKey(e2!.s3.object.key),
        VersionId: e2!.s3.object.versionId,
      }),
    );
    assert.equal(await got.Body!.transformToString(), 'first version');
    assert.equal(got.VersionId, p2.VersionId);
    await assert.rejects(
      clients.s3.send(
        new GetObjectCommand({ Bucket: res.buckets.ingest, Key: key, VersionId: p1.VersionId }),
      ),
      (err: Error) => err.name === 'NoSuchVersion',
    );
    await assert.rejects(
      clients.s3.send(
        new HeadObjectCommand({ Bucket: res.buckets.ingest, Key: key, VersionId: p1.VersionId }),
      ),
      (err: Error & { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode === 404,
    );
  });

  test('unversioned bucket: no versionId in the event', async () => {
    await clients.s3.send(new PutObjectCommand({ Bucket: plainBucket, Key: 'a b.txt', Body: 'x' }));
    const [e] = await events(plainQueue, 1);
    assert.equal(e!.s3.object.key, 'a+b.txt');
    assert.equal('versionId' in e!.s3.object, false);
    assert.equal(e!.s3.configurationId, `local-${plainBucket}-to-sqs`);
  });

  test('CopyObject → ObjectCreated:Copy with the copied size', async () => {
    await clients.s3.send(
      new PutObjectCommand({ Bucket: plainBucket, Key: 'src/one.bin', Body: Buffer.alloc(321, 7) }),
    );
    await clients.s3.send(
      new CopyObjectCommand({
        Bucket: res.buckets.ingest,
        Key: 'copied/one.bin',
        CopySource: `${plainBucket}/src/one.bin`,
      }),
    );
    const [put] = await events(plainQueue, 1);
    assert.equal(put!.eventName, 'ObjectCreated:Put');
    const [copy] = await events(res.queues.ingest.url, 1);
    assert.equal(copy!.eventName, 'ObjectCreated:Copy');
    assert.equal(copy!.s3.object.key, 'copied/one.bin');
    assert.equal(copy!.s3.object.size, 321);
    assert.equal(copy!.s3.object.eTag, put!.s3.object.eTag);
    assert.ok(copy!.s3.object.versionId);
  });

  test('multipart Upload over 10 MB → one ObjectCreated:CompleteMultipartUpload with the full size', async () => {
    const size = 11 * 1024 * 1024 + 17;
    const body = Buffer.alloc(size, 1);
    const upload = new Upload({
      client: clients.s3,
      params: { Bucket: res.buckets.ingest, Key: 'videos/big clip.mp4', Body: body },
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    });
    const out = await upload.done();
    const [e] = await events(res.queues.ingest.url, 1);
    assert.equal(e!.eventName, 'ObjectCreated:CompleteMultipartUpload');
    assert.equal(e!.s3.object.key, 'videos/big+clip.mp4');
    assert.equal(e!.s3.object.size, size);
    assert.match(e!.s3.object.eTag, /^[0-9a-f]{32}-3$/);
    assert.equal(`"${e!.s3.object.eTag}"`, out.ETag);
    assert.equal(e!.s3.object.versionId, out.VersionId);
    assert.deepStrictEqual(
      await receiveFor(clients.sqs, res.queues.ingest.url, 300),
      [],
      'parts make no events',
    );
  });

  test('duplicates: n identical messages per notification', async () => {
    const dupQueue = queueUrlOnEndpoint(
      (await clients.sqs.send(new CreateQueueCommand({ QueueName: 'dup-events' }))).QueueUrl!,
      emu.sqsEndpoint,
    );
    await clients.s3.send(new CreateBucketCommand({ Bucket: 'dup-bucket' }));
    const dup = await startNotifier({
      source: emu.s3Events,
      sqs: clients.sqs,
      targets: [{ bucket: 'dup-bucket', queueUrl: dupQueue }],
      duplicates: 3,
      testEvent: false,
    });
    try {
      await clients.s3.send(new PutObjectCommand({ Bucket: 'dup-bucket', Key: 'k.txt', Body: 'dup' }));
      await dup.flush();
      const msgs = await receiveN(clients.sqs, dupQueue, 3);
      assert.equal(msgs.length, 3);
      assert.equal(new Set(msgs.map((m) => m.Body)).size, 1, 'same body, same sequencer');
      assert.equal(new Set(msgs.map((m) => m.MessageId)).size, 3, 'three distinct messages');
      assert.deepStrictEqual(await receiveFor(clients.sqs, dupQueue, 200), []);
    } finally {
      await dup.stop();
    }
  });

  test('filter rules compare with the encoded key, as S3 does', async () => {
    const fq = queueUrlOnEndpoint(
      (await clients.sqs.send(new CreateQueueCommand({ QueueName: 'filtered-events' }))).QueueUrl!,
      emu.sqsEndpoint,
    );
    await clients.s3.send(new CreateBucketCommand({ Bucket: 'filtered-bucket' }));
    const filtered = await startNotifier({
      source: emu.s3Events,
      sqs: clients.sqs,
      targets: [{ bucket: 'filtered-bucket', queueUrl: fq, filter: { prefix: 'in+box/', suffix: '.jpg' } }],
      testEvent: false,
    });
    try {
      for (const key of ['in box/a.jpg', 'in box/a.png', 'other/a.jpg'])
        await clients.s3.send(new PutObjectCommand({ Bucket: 'filtered-bucket', Key: key, Body: 'f' }));
      await filtered.flush();
      const msgs = await receiveN(clients.sqs, fq, 1);
      const record = (JSON.parse(msgs[0]!.Body!) as S3Event).Records[0]!;
      assert.equal(record.s3.object.key, 'in+box/a.jpg');
      assert.deepStrictEqual(await receiveFor(clients.sqs, fq, 200), []);
    } finally {
      await filtered.stop();
    }
  });
});
