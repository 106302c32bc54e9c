import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { TABLE } from '../../lambdas/commons/table.ts';
import { VENDORS } from '../../lambdas/vendors/registry.ts';
import { createRelayApp } from '../../lib/app.ts';
import type { RelayFunction } from '../../lib/constructs/relay-function.ts';
import { INGEST_MAX_RECEIVE_COUNT, vendorMaxReceiveCount } from '../../lib/defaults.ts';
import { forwarderSettings } from '../../lib/settings.ts';
import { fullConfig, minimalConfig, TEST_ENV } from './fixtures.ts';
import {
  actionsOn,
  asArray,
  type CfnResource,
  logicalIdOf,
  resource,
  resourcesOf,
  roleStatements,
  type Statement,
  type Synthesized,
  synth,
} from './helpers.ts';

// The fixture's InstaVid360 destination writes results back: its plug-in declares it (`infra.writesResults`).
const full = synth(fullConfig(), { alarmEmail: 'ops@example.com' });

const getAtt = (id: string, attr = 'Arn') => ({ 'Fn::GetAtt': [id, attr] });
const fnId = (s: Synthesized, rf: RelayFunction) => logicalIdOf(s, rf.function);
const roleId = (s: Synthesized, rf: RelayFunction) => {
  const role = rf.function.role;
  assert.ok(role);
  return logicalIdOf(s, role);
};
const fnProps = (s: Synthesized, rf: RelayFunction): Record<string, unknown> => {
  const r = s.json.Resources[fnId(s, rf)];
  assert.ok(r);
  return r.Properties;
};
const envOf = (s: Synthesized, rf: RelayFunction) =>
  (fnProps(s, rf).Environment as { Variables: Record<string, unknown> }).Variables;
const forwarder = (s: Synthesized, vendor: string): RelayFunction => {
  const f = s.stack.forwarders.get(vendor);
  assert.ok(f, `no forwarder for ${vendor}`);
  return f.function;
};
const relayFunctions = (s: Synthesized): RelayFunction[] => [
  s.stack.router,
  s.stack.poller,
  s.stack.callback,
  ...[...s.stack.forwarders.values()].map((f) => f.function),
];

describe('buckets', () => {
  const ids = {
    ingest: logicalIdOf(full, full.stack.buckets.ingestBucket),
    results: logicalIdOf(full, full.stack.buckets.resultsBucket),
    logs: logicalIdOf(full, full.stack.buckets.logsBucket),
  };

  it('creates exactly the ingest, results and access-log buckets', () => {
    full.template.resourceCountIs('AWS::S3::Bucket', 3);
  });

  for (const [name, id] of Object.entries(ids)) {
    it(`${name}: encrypted, public access blocked, versioned, retained`, () => {
      const b = full.json.Resources[id];
      assert.ok(b);
      assert.deepEqual(b.Properties.BucketEncryption, {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
      assert.deepEqual(b.Properties.PublicAccessBlockConfiguration, {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      assert.deepEqual(b.Properties.VersioningConfiguration, { Status: 'Enabled' });
      assert.equal(b.DeletionPolicy, 'Retain');
      assert.equal(b.UpdateReplacePolicy, 'Retain');
    });

    it(`${name}: the bucket policy denies requests without TLS and below TLS 1.2`, () => {
      const policies = resourcesOf(full, 'AWS::S3::BucketPolicy').filter(
        ([, p]) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: id }),
      );
      assert.equal(policies.length, 1);
      const [policy] = policies;
      assert.ok(policy);
      const statements = (policy[1].Properties.PolicyDocument as { Statement: Statement[] }).Statement;
      const deny = statements.filter((s) => s.Effect === 'Deny');
      assert.ok(
        deny.some(
          (s) => JSON.stringify(s.Condition) === JSON.stringify({ Bool: { 'aws:SecureTransport': 'false' } }),
        ),
      );
      assert.ok(
        deny.some(
          (s) =>
            JSON.stringify(s.Condition) === JSON.stringify({ NumericLessThan: { 's3:TlsVersion': 1.2 } }),
        ),
      );
    });
  }

  it('ingest and results log to the logs bucket (delivered through a bucket policy, no ACL)', () => {
    for (const [id, prefix] of [
      [ids.ingest, 'ingest/'],
      [ids.results, 'results/'],
    ] as const) {
      assert.deepEqual(full.json.Resources[id]?.Properties.LoggingConfiguration, {
        DestinationBucketName: { Ref: ids.logs },
        LogFilePrefix: prefix,
      });
    }
    full.template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: ids.logs },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Action: 's3:PutObject',
          }),
        ]),
      },
    });
    assert.equal(full.json.Resources[ids.logs]?.Properties.AccessControl, undefined);
  });

  it('factory files and their versions never expire; access logs do', () => {
    const ingestRules = (
      resource(full, ids.ingest).Properties.LifecycleConfiguration as {
        Rules: Array<Record<string, unknown>>;
      }
    ).Rules;
    for (const rule of ingestRules) {
      assert.equal(rule.ExpirationInDays, undefined);
      assert.equal(rule.NoncurrentVersionExpiration, undefined);
    }
    const logRules = (
      resource(full, ids.logs).Properties.LifecycleConfiguration as {
        Rules: Array<Record<string, unknown>>;
      }
    ).Rules;
    assert.ok(logRules.some((r) => r.ExpirationInDays === 365));
  });

  it('ObjectCreated on the ingest bucket notifies the ingest queue, which lets S3 of that bucket send', () => {
    const queueId = logicalIdOf(full, full.stack.ingest.queue);
    full.template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: ids.ingest },
      NotificationConfiguration: {
        QueueConfigurations: [{ Events: ['s3:ObjectCreated:*'], QueueArn: getAtt(queueId) }],
      },
    });
    full.template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 's3.amazonaws.com' },
            Action: Match.arrayWith(['sqs:SendMessage']),
            Condition: { ArnLike: { 'aws:SourceArn': getAtt(ids.ingest) } },
          }),
        ]),
      },
    });
  });

  it('ingestBucketName names the created bucket', () => {
    const s = synth(minimalConfig(), { ingestBucketName: 'acme-factory-ingest' });
    s.template.hasResourceProperties('AWS::S3::Bucket', { BucketName: 'acme-factory-ingest' });
  });

  it('existingIngestBucketArn attaches to that bucket instead of creating one', () => {
    const s = synth(minimalConfig(), { existingIngestBucketArn: 'arn:aws:s3:::acme-existing-ingest' });
    s.template.resourceCountIs('AWS::S3::Bucket', 2);
    s.template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: 'acme-existing-ingest',
      Managed: false,
      NotificationConfiguration: {
        QueueConfigurations: [Match.objectLike({ Events: ['s3:ObjectCreated:*'] })],
      },
    });
    const statements = roleStatements(s, roleId(s, s.stack.router));
    assert.deepEqual(actionsOn(statements, JSON.stringify('arn:aws:s3:::acme-existing-ingest/*')).sort(), [
      's3:GetObject',
      's3:GetObjectVersion',
    ]);
    s.template.hasOutput('IngestBucketName', { Value: 'acme-existing-ingest' });
  });

  it('ingestBucketKmsKeyArn: every reader of factory objects may decrypt with that key, through S3 only', () => {
    const key = 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const s = synth(fullConfig(), {
      existingIngestBucketArn: 'arn:aws:s3:::acme-existing-ingest',
      ingestBucketKmsKeyArn: key,
    });
    const readers = [
      s.stack.router,
      ...[...s.stack.forwarders.values()].map((f) => f.function),
      s.stack.ops,
      // They read factory objects where results are written (the fixture's InstaVid360).
      s.stack.poller,
      s.stack.callback,
    ];
    for (const rf of readers) {
      const decrypt = roleStatements(s, roleId(s, rf)).filter((st) =>
        asArray(st.Action).includes('kms:Decrypt'),
      );
      assert.equal(decrypt.length, 1, rf.function.node.path);
      assert.deepEqual(decrypt[0]?.Resource, key);
      assert.deepEqual(decrypt[0]?.Condition, {
        StringEquals: { 'kms:ViaService': 's3.eu-west-1.amazonaws.com' },
      });
    }
    const aggregator = roleStatements(s, roleId(s, s.stack.aggregator));
    assert.ok(!aggregator.some((st) => asArray(st.Action).includes('kms:Decrypt')));
    // Without the key nothing is granted on KMS for the ingest bucket.
    const plain = synth(minimalConfig(), { existingIngestBucketArn: 'arn:aws:s3:::acme-existing-ingest' });
    assert.ok(
      !roleStatements(plain, roleId(plain, plain.stack.router)).some((st) =>
        asArray(st.Action).includes('kms:Decrypt'),
      ),
    );
  });

  it('refuses ingestBucketKmsKeyArn without an existing bucket', () => {
    assert.throws(
      () => synth(minimalConfig(), { ingestBucketKmsKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/k' }),
      /ingestBucketKmsKeyArn .* existingIngestBucketArn/,
    );
  });

  it("ingestKeyPrefix filters the ObjectCreated notification (so it need not overlap the bucket's own)", () => {
    const s = synth(minimalConfig(), {
      existingIngestBucketArn: 'arn:aws:s3:::acme-existing-ingest',
      ingestKeyPrefix: 'factory/',
    });
    s.template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: 'acme-existing-ingest',
      Managed: false,
      NotificationConfiguration: {
        QueueConfigurations: [
          Match.objectLike({
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'factory/' }] } },
          }),
        ],
      },
    });
    assert.throws(() => synth(minimalConfig(), { ingestKeyPrefix: '' }), /ingestKeyPrefix/);
  });

  it('refuses both a bucket name and an existing bucket', () => {
    assert.throws(
      () =>
        synth(minimalConfig(), {
          ingestBucketName: 'a-bucket',
          existingIngestBucketArn: 'arn:aws:s3:::b-bucket',
        }),
      /either ingestBucketName .* or existingIngestBucketArn/,
    );
  });
});

describe('receiver buckets', () => {
  const withBuckets = (...buckets: Array<string | undefined>) => {
    const config = minimalConfig();
    const [r] = config.data_receiver;
    assert.ok(r);
    config.data_receiver = buckets.map((bucket, i) => ({
      ...r,
      data_receiver_name: `r${i}`,
      ...(bucket === undefined ? {} : { bucket }),
    }));
    return config;
  };
  const messages = (s: Synthesized) => {
    const a = Annotations.fromStack(s.stack);
    const text = (ms: ReturnType<typeof a.findWarning>) => ms.map((m) => String(m.entry.data));
    return {
      warnings: text(a.findWarning('*', Match.anyValue())),
      errors: text(a.findError('*', Match.anyValue())),
    };
  };

  it('a receiver bucket that is the ingest bucket (named or existing), or none, says nothing', () => {
    for (const s of [
      synth(withBuckets('acme-ingest', undefined), { ingestBucketName: 'acme-ingest' }),
      synth(withBuckets('acme-existing-ingest'), {
        existingIngestBucketArn: 'arn:aws:s3:::acme-existing-ingest',
      }),
      synth(withBuckets(undefined)),
    ])
      assert.deepEqual(messages(s), { warnings: [], errors: [] });
  });

  it('a receiver naming another bucket is a warning; when none can match, an error', () => {
    const some = messages(synth(withBuckets('other-bucket', undefined), { ingestBucketName: 'acme-ingest' }));
    assert.equal(some.errors.length, 0);
    assert.equal(some.warnings.length, 1);
    assert.match(
      some.warnings[0] ?? '',
      /"r0": bucket "other-bucket" is not the ingest bucket "acme-ingest"/,
    );

    const none = messages(
      synth(withBuckets('other-bucket'), { existingIngestBucketArn: 'arn:aws:s3:::acme-existing-ingest' }),
    );
    assert.equal(none.warnings.length, 1);
    assert.equal(none.errors.length, 1);
    assert.match(none.errors[0] ?? '', /no data_receiver can match/);
  });

  it('with a generated ingest bucket name a receiver bucket cannot be checked: a warning, never an error', () => {
    const m = messages(synth(withBuckets('acme-ingest')));
    assert.equal(m.errors.length, 0);
    assert.equal(m.warnings.length, 1);
    assert.match(m.warnings[0] ?? '', /generated by CloudFormation/);
  });
});

describe('queues', () => {
  it('every queue is SQS-encrypted and its policy denies requests without TLS', () => {
    const queues = resourcesOf(full, 'AWS::SQS::Queue');
    // ingest + 3 vendors, each with a DLQ, and the aggregator's on-failure queue
    assert.equal(queues.length, 9);
    for (const [id, q] of queues) {
      assert.equal(q.Properties.SqsManagedSseEnabled, true, id);
      assert.equal(q.Properties.MessageRetentionPeriod, 14 * 24 * 3600, id);
      const policy = resourcesOf(full, 'AWS::SQS::QueuePolicy').find(([, p]) =>
        (p.Properties.Queues as Array<{ Ref: string }>).some((r) => r.Ref === id),
      );
      assert.ok(policy, `no policy for ${id}`);
      const statements = (policy[1].Properties.PolicyDocument as { Statement: Statement[] }).Statement;
      assert.ok(
        statements.some(
          (s) =>
            s.Effect === 'Deny' &&
            JSON.stringify(s.Condition) === JSON.stringify({ Bool: { 'aws:SecureTransport': 'false' } }),
        ),
        id,
      );
    }
  });

  it('every queue, dead-letter queues first of all, is retained with its messages on delete or replace', () => {
    const dlqs = [
      full.stack.ingest.deadLetterQueue,
      full.stack.aggregatorFailures,
      ...[...full.stack.forwarders.values()].map((f) => f.consumer.deadLetterQueue),
    ].map((q) => logicalIdOf(full, q));
    assert.equal(dlqs.length, 5);
    const queues = resourcesOf(full, 'AWS::SQS::Queue');
    for (const id of dlqs)
      assert.ok(
        queues.some(([q]) => q === id),
        id,
      );
    for (const [id, q] of queues) {
      assert.equal(q.DeletionPolicy, 'Retain', id);
      assert.equal(q.UpdateReplacePolicy, 'Retain', id);
    }
  });

  it('the ingest queue redrives to its DLQ after 5 receives', () => {
    const q = full.json.Resources[logicalIdOf(full, full.stack.ingest.queue)];
    assert.deepEqual(q?.Properties.RedrivePolicy, {
      deadLetterTargetArn: getAtt(logicalIdOf(full, full.stack.ingest.deadLetterQueue)),
      maxReceiveCount: INGEST_MAX_RECEIVE_COUNT,
    });
    assert.equal(INGEST_MAX_RECEIVE_COUNT, 5);
  });

  it('each vendor queue redrives after relay.max_attempts + headroom receives', () => {
    for (const f of full.stack.forwarders.values()) {
      const q = full.json.Resources[logicalIdOf(full, f.consumer.queue)];
      assert.deepEqual(q?.Properties.RedrivePolicy, {
        deadLetterTargetArn: getAtt(logicalIdOf(full, f.consumer.deadLetterQueue)),
        maxReceiveCount: vendorMaxReceiveCount(6),
      });
    }
    const s = synth(minimalConfig());
    const only = s.stack.forwarders.get('v7-darwin');
    assert.ok(only);
    assert.equal(
      (resource(s, logicalIdOf(s, only.consumer.queue)).Properties.RedrivePolicy as Record<string, unknown>)
        .maxReceiveCount,
      vendorMaxReceiveCount(undefined),
    );
  });

  it('one queue and one forwarder per distinct transmit_type', () => {
    assert.deepEqual([...full.stack.forwarders.keys()], ['instrumental', 'edge-impulse', 'instavid360']);
    const s = synth(minimalConfig());
    assert.deepEqual([...s.stack.forwarders.keys()], ['v7-darwin']);
    s.template.resourceCountIs('AWS::SQS::Queue', 5);
  });
});

describe('event sources', () => {
  // The queue consumers' mappings (the aggregator's stream mapping: test/cdk/ops-aggregator.test.ts).
  const mappings = resourcesOf(full, 'AWS::Lambda::EventSourceMapping').filter(
    ([, m]) => !JSON.stringify(m.Properties.EventSourceArn).includes('StreamArn'),
  );

  it('one mapping per queue consumer: router + 3 forwarders', () => {
    assert.equal(mappings.length, 4);
  });

  it('partial batch responses and bounded concurrency everywhere', () => {
    for (const [id, m] of mappings) {
      assert.deepEqual(m.Properties.FunctionResponseTypes, ['ReportBatchItemFailures'], id);
      const max = (m.Properties.ScalingConfig as { MaximumConcurrency: number }).MaximumConcurrency;
      assert.ok(Number.isInteger(max) && max >= 2 && max <= 1000, `${id}: MaximumConcurrency ${max}`);
    }
  });

  it('the router takes batches of 10 with a batching window, concurrency ≥ 2', () => {
    const routerMapping = mappings.find(
      ([, m]) =>
        JSON.stringify(m.Properties.FunctionName) === JSON.stringify({ Ref: fnId(full, full.stack.router) }),
    );
    assert.ok(routerMapping);
    const p = routerMapping[1].Properties;
    assert.equal(p.BatchSize, 10);
    assert.equal(p.MaximumBatchingWindowInSeconds, 5);
    assert.equal(
      p.EventSourceArn && JSON.stringify(p.EventSourceArn),
      JSON.stringify(getAtt(logicalIdOf(full, full.stack.ingest.queue))),
    );
    assert.ok((p.ScalingConfig as { MaximumConcurrency: number }).MaximumConcurrency >= 2);
  });

  it('visibility timeout ≥ 6 × the consumer timeout + the batching window, for every mapping', () => {
    for (const [id, m] of mappings) {
      const fn = full.json.Resources[(m.Properties.FunctionName as { Ref: string }).Ref];
      const queueId = (m.Properties.EventSourceArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
      const queue = full.json.Resources[queueId];
      assert.ok(fn && queue, id);
      const timeout = fn.Properties.Timeout as number;
      const window = (m.Properties.MaximumBatchingWindowInSeconds as number | undefined) ?? 0;
      const visibility = queue.Properties.VisibilityTimeout as number;
      assert.ok(
        visibility >= 6 * timeout + window,
        `${id}: visibility ${visibility} < 6 × ${timeout} + ${window}`,
      );
    }
    const fwd = full.stack.forwarders.get('instrumental');
    assert.ok(fwd);
    assert.equal(
      full.json.Resources[logicalIdOf(full, fwd.consumer.queue)]?.Properties.VisibilityTimeout,
      720,
    );
  });

  it('no function reserves less concurrency than its event sources may use', () => {
    for (const [, m] of mappings) {
      const fn = full.json.Resources[(m.Properties.FunctionName as { Ref: string }).Ref];
      const reserved = fn?.Properties.ReservedConcurrentExecutions as number | undefined;
      if (reserved === undefined) continue;
      assert.ok(
        reserved >= (m.Properties.ScalingConfig as { MaximumConcurrency: number }).MaximumConcurrency,
      );
    }
  });

  it('vendorSettings sets a forwarder maxConcurrency; out-of-range values are refused', () => {
    const s = synth(minimalConfig(), { vendorSettings: { 'v7-darwin': { maxConcurrency: 20 } } });
    s.template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      ScalingConfig: { MaximumConcurrency: 20 },
    });
    assert.throws(
      () => synth(minimalConfig(), { vendorSettings: { 'v7-darwin': { maxConcurrency: 1 } } }),
      /maxConcurrency 1 is outside 2\.\.1000/,
    );
  });
});

describe('functions', () => {
  const expected = (s: Synthesized) => [
    { rf: s.stack.router, timeout: 30, memory: 256 },
    { rf: s.stack.poller, timeout: 60, memory: 256 },
    { rf: s.stack.callback, timeout: 10, memory: 256 },
    // Forwarders: 120 s and 512 MB unless the vendor's plug-in declares otherwise (lib/settings.ts).
    ...[...s.stack.forwarders].map(([vendor, f]) => {
      const { timeoutSeconds, memoryMb } = forwarderSettings(VENDORS[vendor]);
      return { rf: f.function, timeout: timeoutSeconds, memory: memoryMb };
    }),
  ];

  it('Node.js 22 on arm64, X-Ray active, sized per role', () => {
    for (const { rf, timeout, memory } of expected(full)) {
      const p = fnProps(full, rf);
      assert.equal(p.Runtime, 'nodejs22.x');
      assert.deepEqual(p.Architectures, ['arm64']);
      assert.deepEqual(p.TracingConfig, { Mode: 'Active' });
      assert.equal(p.Timeout, timeout);
      assert.equal(p.MemorySize, memory);
    }
  });

  it('each function logs to its own log group with retention', () => {
    for (const rf of relayFunctions(full)) {
      const logGroupId = logicalIdOf(full, rf.logGroup);
      assert.deepEqual(fnProps(full, rf).LoggingConfig, { LogGroup: { Ref: logGroupId } });
      assert.equal(full.json.Resources[logGroupId]?.Properties.RetentionInDays, 30);
    }
  });

  it('environment: table, vendor, queue URLs, callback base URL, dead-letter URL, results bucket', () => {
    const table = { Ref: logicalIdOf(full, full.stack.statusTable.table) };
    const apiEndpoint = getAtt(logicalIdOf(full, full.stack.api.httpApi), 'ApiEndpoint');
    const results = { Ref: logicalIdOf(full, full.stack.buckets.resultsBucket) };
    for (const rf of relayFunctions(full)) {
      assert.deepEqual(envOf(full, rf).RELAY_TABLE, table);
      assert.equal(envOf(full, rf).RELAY_LOG_LEVEL, 'info');
    }
    for (const [vendor, f] of full.stack.forwarders) {
      const env = envOf(full, f.function);
      assert.equal(env.RELAY_VENDOR, vendor);
      assert.deepEqual(env.RELAY_CALLBACK_BASE_URL, apiEndpoint);
      assert.deepEqual(env.RELAY_DEAD_LETTER_URL, { Ref: logicalIdOf(full, f.consumer.deadLetterQueue) });
      assert.deepEqual(env.RELAY_RESULTS_BUCKET, vendor === 'instavid360' ? results : undefined);
    }
    assert.deepEqual(envOf(full, full.stack.poller).RELAY_CALLBACK_BASE_URL, apiEndpoint);
    assert.deepEqual(envOf(full, full.stack.poller).RELAY_RESULTS_BUCKET, results);
    assert.deepEqual(envOf(full, full.stack.callback).RELAY_RESULTS_BUCKET, results);
    assert.equal(envOf(full, full.stack.router).RELAY_RESULTS_BUCKET, undefined);

    const queueUrls = JSON.stringify(envOf(full, full.stack.router).RELAY_QUEUE_URLS);
    for (const f of full.stack.forwarders.values())
      assert.ok(queueUrls.includes(JSON.stringify({ Ref: logicalIdOf(full, f.consumer.queue) })));
    assert.match(queueUrls, /\\"instrumental\\":\\"/);
    assert.match(queueUrls, /\\"edge-impulse\\":\\"/);
  });

  it('secretPrefix reaches the functions and the secret ARNs', () => {
    const s = synth(minimalConfig(), { secretPrefix: 'factory-relay/' });
    const env = envOf(s, s.stack.poller);
    assert.equal(env.RELAY_SECRET_PREFIX, 'factory-relay/');
    assert.match(
      JSON.stringify(roleStatements(s, roleId(s, s.stack.poller))),
      /:secret:factory-relay\/relay\/v7-\?{6}/,
    );
  });

  it('the poller is not retried by Lambda after a failed scheduled run', () => {
    full.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fnId(full, full.stack.poller) },
      MaximumRetryAttempts: 0,
    });
  });
});

describe('permissions', () => {
  const ingestObjects = JSON.stringify({
    'Fn::Join': ['', [getAtt(logicalIdOf(full, full.stack.buckets.ingestBucket)), '/*']],
  });
  const resultsObjects = JSON.stringify({
    'Fn::Join': ['', [getAtt(logicalIdOf(full, full.stack.buckets.resultsBucket)), '/*']],
  });

  it('router, forwarders and the writers of results only read the ingest bucket', () => {
    // The poller and callback write results, and check first that a result's source is still the current
    // version of its key (HeadObject: GetObject, and ListBucket so that a deleted source answers 404).
    for (const rf of [
      full.stack.router,
      ...[...full.stack.forwarders.values()].map((f) => f.function),
      full.stack.poller,
      full.stack.callback,
    ]) {
      const statements = roleStatements(full, roleId(full, rf));
      assert.deepEqual(actionsOn(statements, ingestObjects).sort(), ['s3:GetObject', 's3:GetObjectVersion']);
      assert.deepEqual(
        actionsOn(statements, JSON.stringify(getAtt(logicalIdOf(full, full.stack.buckets.ingestBucket)))),
        ['s3:ListBucket'],
      );
    }
  });

  it('without a plug-in that writes results, the poller and callback do not read factory objects', () => {
    const s = synth(minimalConfig());
    assert.equal(s.stack.plan.writesResults, false);
    for (const rf of [s.stack.poller, s.stack.callback]) {
      const objects = JSON.stringify({
        'Fn::Join': ['', [getAtt(logicalIdOf(s, s.stack.buckets.ingestBucket)), '/*']],
      });
      assert.deepEqual(actionsOn(roleStatements(s, roleId(s, rf)), objects), []);
    }
  });

  it('only the writers of results write the results bucket, and nothing deletes objects', () => {
    const writers = new Set([forwarder(full, 'instavid360'), full.stack.poller, full.stack.callback]);
    for (const rf of relayFunctions(full)) {
      const statements = roleStatements(full, roleId(full, rf));
      const onResults = actionsOn(statements, resultsObjects).sort();
      assert.deepEqual(onResults, writers.has(rf) ? ['s3:AbortMultipartUpload', 's3:PutObject'] : []);
      const all = statements.flatMap((s) => asArray(s.Action));
      assert.ok(!all.some((a) => /^s3:(Delete|PutBucket|PutObjectAcl|\*)/.test(a)), all.join(','));
    }
  });

  it("a vendor's forwarder reads exactly the S3 objects its options name (an InstaVid360 background)", () => {
    const background = JSON.stringify({
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':s3:::brand-assets/backdrops/studio.jpg']],
    });
    for (const rf of relayFunctions(full)) {
      const actions = actionsOn(roleStatements(full, roleId(full, rf)), background).sort();
      assert.deepEqual(
        actions,
        rf === forwarder(full, 'instavid360') ? ['s3:GetObject', 's3:GetObjectVersion'] : [],
      );
    }
  });

  it('the status table is read/write for every relay function', () => {
    const tableArn = JSON.stringify(getAtt(logicalIdOf(full, full.stack.statusTable.table)));
    for (const rf of relayFunctions(full)) {
      const actions = actionsOn(roleStatements(full, roleId(full, rf)), tableArn);
      for (const a of ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:Query'])
        assert.ok(actions.includes(a), `${a} missing`);
    }
  });

  it('secrets: GetSecretValue by name-based ARN (-??????), per vendor for forwarders, all for poller/callback', () => {
    // The callback signing key (generated in the stack) is read by every vendor-facing function; by its Ref.
    const signingKey = JSON.stringify({ Ref: logicalIdOf(full, full.stack.callbackSigningKey) });
    const secretArns = (rf: RelayFunction) =>
      roleStatements(full, roleId(full, rf))
        .filter((s) => asArray(s.Action).includes('secretsmanager:GetSecretValue'))
        .flatMap((s) => asArray(s.Resource).map((r) => JSON.stringify(r)))
        .filter((r) => r !== signingKey);
    for (const rf of [forwarder(full, 'instrumental'), full.stack.poller, full.stack.callback]) {
      const all = roleStatements(full, roleId(full, rf)).flatMap((s) =>
        asArray(s.Action).includes('secretsmanager:GetSecretValue')
          ? asArray(s.Resource).map((r) => JSON.stringify(r))
          : [],
      );
      assert.ok(all.includes(signingKey), 'reads the callback signing key');
    }
    const arn = (name: string) =>
      JSON.stringify({
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            `:secretsmanager:${TEST_ENV.region}:${TEST_ENV.account}:secret:${name}-??????`,
          ],
        ],
      });
    assert.deepEqual(secretArns(forwarder(full, 'instrumental')).sort(), [
      arn('relay/instrumental-eol'),
      arn('relay/instrumental-main'),
    ]);
    assert.deepEqual(secretArns(forwarder(full, 'edge-impulse')), [arn('relay/edge-impulse')]);
    const everything = [
      'relay/edge-impulse',
      'relay/instavid360',
      'relay/instrumental-eol',
      'relay/instrumental-main',
    ];
    assert.deepEqual(secretArns(full.stack.poller).sort(), everything.map(arn).sort());
    assert.deepEqual(secretArns(full.stack.callback).sort(), everything.map(arn).sort());
    assert.deepEqual(secretArns(full.stack.router), []);
    assert.ok(!full.text.includes('secretsmanager:*'));
    // The only secret in the template is the generated signing key; vendor keys are never in it.
    full.template.resourceCountIs('AWS::SecretsManager::Secret', 1);
    full.template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: Match.objectLike({ PasswordLength: 64 }),
    });
  });

  it('"*" as a resource appears only with X-Ray actions', () => {
    for (const [id, p] of resourcesOf(full, 'AWS::IAM::Policy')) {
      for (const s of (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement) {
        if (!asArray(s.Resource).includes('*')) continue;
        // …and dynamodb:ListStreams for the aggregator's stream mapping (no resource-level permission either).
        const actions = asArray(s.Action).filter((a) => a !== 'dynamodb:ListStreams');
        assert.deepEqual(actions.sort(), ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'], id);
      }
    }
  });

  it('the router may send to every vendor queue and the forwarder to its own DLQ only', () => {
    const routerStatements = roleStatements(full, roleId(full, full.stack.router));
    for (const f of full.stack.forwarders.values()) {
      assert.ok(
        actionsOn(routerStatements, JSON.stringify(getAtt(logicalIdOf(full, f.consumer.queue)))).includes(
          'sqs:SendMessage',
        ),
      );
      const own = roleStatements(full, roleId(full, f.function));
      assert.ok(
        actionsOn(own, JSON.stringify(getAtt(logicalIdOf(full, f.consumer.deadLetterQueue)))).includes(
          'sqs:SendMessage',
        ),
      );
    }
  });
});

describe('status table', () => {
  const id = logicalIdOf(full, full.stack.statusTable.table);
  const table = full.json.Resources[id] as CfnResource;

  it('is created from TABLE: keys, on-demand, PITR, encryption, TTL, retained, deletion-protected', () => {
    const p = table.Properties;
    assert.deepEqual(p.KeySchema, [
      { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
      { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
    ]);
    assert.equal(p.BillingMode, 'PAY_PER_REQUEST');
    assert.deepEqual(p.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
    assert.deepEqual(p.SSESpecification, { SSEEnabled: true });
    assert.deepEqual(p.TimeToLiveSpecification, { AttributeName: TABLE.ttlAttribute, Enabled: true });
    assert.equal(table.DeletionPolicy, 'Retain');
    assert.equal(p.DeletionProtectionEnabled, true);
  });

  it('has every GSI of TABLE with its projection (bySerial keys only)', () => {
    const gsis = table.Properties.GlobalSecondaryIndexes as Array<Record<string, unknown>>;
    assert.equal(gsis.length, Object.keys(TABLE.indexes).length);
    for (const index of Object.values(TABLE.indexes)) {
      const gsi = gsis.find((g) => g.IndexName === index.name);
      assert.ok(gsi, index.name);
      assert.deepEqual(gsi.KeySchema, [
        { AttributeName: index.partitionKey, KeyType: 'HASH' },
        { AttributeName: index.sortKey, KeyType: 'RANGE' },
      ]);
      assert.deepEqual(gsi.Projection, { ProjectionType: index.projection });
    }
    assert.equal(TABLE.indexes.bySerial.projection, 'KEYS_ONLY');
    const attrs = table.Properties.AttributeDefinitions as Array<{
      AttributeName: string;
      AttributeType: string;
    }>;
    for (const name of [
      'pk',
      'sk',
      'due',
      'nextCheckAt',
      'serialNumber',
      'createdAt',
      'outcome',
      'settledAt',
    ])
      assert.deepEqual(
        attrs.find((a) => a.AttributeName === name),
        { AttributeName: name, AttributeType: 'S' },
      );
  });
});

describe('schedule and API', () => {
  it('EventBridge Scheduler invokes the poller at rate(1 minute) without retries', () => {
    full.template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 minute)',
      State: 'ENABLED',
      Target: Match.objectLike({
        Arn: getAtt(fnId(full, full.stack.poller)),
        RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
      }),
    });
  });

  it('POST /callbacks/{vendor}/{token} goes to the callback function', () => {
    // The other routes are the ops API's (test/cdk/ops-api.test.ts).
    const routes = resourcesOf(full, 'AWS::ApiGatewayV2::Route').filter(
      ([, r]) => r.Properties.RouteKey === 'POST /callbacks/{vendor}/{token}',
    );
    assert.equal(routes.length, 1);
    const route = routes[0]?.[1].Properties;
    const integrationId = JSON.stringify(route?.Target).match(/"Ref":"([A-Za-z0-9]+)"/)?.[1];
    assert.ok(integrationId);
    const integration = full.json.Resources[integrationId]?.Properties;
    assert.equal(integration?.IntegrationType, 'AWS_PROXY');
    assert.equal(integration?.PayloadFormatVersion, '2.0');
    assert.deepEqual(integration?.IntegrationUri, getAtt(fnId(full, full.stack.callback)));
  });

  it('the $default stage auto-deploys, is throttled and access-logs without the path', () => {
    const stages = resourcesOf(full, 'AWS::ApiGatewayV2::Stage');
    assert.equal(stages.length, 1);
    const p = stages[0]?.[1].Properties as Record<string, unknown>;
    assert.equal(p.StageName, '$default');
    assert.equal(p.AutoDeploy, true);
    assert.deepEqual(p.DefaultRouteSettings, { ThrottlingBurstLimit: 100, ThrottlingRateLimit: 50 });
    const logs = p.AccessLogSettings as { DestinationArn: unknown; Format: string };
    assert.deepEqual(logs.DestinationArn, getAtt(logicalIdOf(full, full.stack.api.accessLogGroup)));
    const format = JSON.parse(logs.Format) as Record<string, string>;
    assert.equal(format.requestId, '$context.requestId');
    assert.equal(format.routeKey, '$context.routeKey');
    assert.ok(!logs.Format.includes('$context.path'));
  });
});

describe('alarms and outputs', () => {
  it('one alarm per DLQ on visible messages > 0, to the encrypted topic, with the email subscription', () => {
    const alarms = resourcesOf(full, 'AWS::CloudWatch::Alarm').filter(
      ([, a]) => a.Properties.MetricName === 'ApproximateNumberOfMessagesVisible',
    );
    // ingest, 3 vendors, the aggregator's on-failure queue
    assert.equal(alarms.length, 5);
    const topic = { Ref: logicalIdOf(full, full.stack.alarms.topic) };
    const dlqs = [
      full.stack.ingest.deadLetterQueue,
      ...[...full.stack.forwarders.values()].map((f) => f.consumer.deadLetterQueue),
    ];
    for (const dlq of dlqs) {
      full.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: getAtt(logicalIdOf(full, dlq), 'QueueName') }],
        Threshold: 0,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
        AlarmActions: [topic],
      });
    }
    full.template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: getAtt(logicalIdOf(full, full.stack.alarms.topicKey)),
    });
    full.template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    full.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
    });
    synth(minimalConfig()).template.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('outputs bucket names, API URL, table name, queue URLs and the secrets to create', () => {
    for (const name of [
      'IngestBucketName',
      'ResultsBucketName',
      'ApiUrl',
      'StatusTableName',
      'IngestQueueUrl',
      'IngestDeadLetterQueueUrl',
      'InstrumentalQueueUrl',
      'EdgeImpulseQueueUrl',
      'Instavid360QueueUrl',
      'InstrumentalDeadLetterQueueUrl',
      'AlarmTopicArn',
    ])
      assert.ok(full.json.Outputs[name], name);
    full.template.hasOutput('ApiUrl', {
      Value: getAtt(logicalIdOf(full, full.stack.api.httpApi), 'ApiEndpoint'),
    });
    full.template.hasOutput('SecretsToCreate', {
      Value: 'relay/edge-impulse,relay/instavid360,relay/instrumental-eol,relay/instrumental-main',
    });
  });
});

describe('no secret in the template', () => {
  it('no API key, no config text, no config env var', () => {
    const config = fullConfig();
    const { stack } = createRelayApp({
      nag: false,
      stack: {
        config,
        // A config carrying something key-shaped must still not leak it into the template.
        configJson: JSON.stringify({ ...config, note: 'test-project:ci:INST:V1:fake-id:fake-secret' }),
        env: TEST_ENV,
        bundle: false,
      },
    });
    const text = JSON.stringify(Template.fromStack(stack).toJSON());
    assert.ok(!text.includes('INST:V1'));
    assert.ok(!/ei_[0-9a-f]{32}/.test(text));
    assert.ok(!text.includes('RELAY_CONFIG_JSON'));
    assert.ok(!text.includes('data_transmit'));
    assert.ok(!text.includes('https://api.instrumental.example'));
  });
});
