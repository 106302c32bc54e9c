/**
 * cdk-nag AwsSolutions: the app synthesizes with zero unacknowledged findings, every acknowledgement states
 * its reason, and the checks really run (a non-compliant resource fails synth).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type App, Validations } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { RelayConfig } from '../../lambdas/domain/config/types.ts';
import { createRelayApp } from '../../lib/app.ts';
import type { FactoryRelayStackProps } from '../../lib/factory-relay-stack.ts';
import { fullConfig, minimalConfig, TEST_ENV } from './fixtures.ts';

function build(config: RelayConfig, props: Partial<FactoryRelayStackProps> = {}) {
  return createRelayApp({
    stack: { config, configJson: JSON.stringify(config), env: TEST_ENV, bundle: false, ...props },
  });
}

function findings(app: App): string[] {
  const report = new AwsSolutionsChecks(app).validateScope(app);
  return report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.severity} ${v.ruleName} ${r.constructPath}`),
  );
}

const variants: Array<[string, RelayConfig, Partial<FactoryRelayStackProps>]> = [
  ['four destinations, three vendors, alarm email', fullConfig(), { alarmEmail: 'ops@example.com' }],
  ['one vendor, defaults', minimalConfig(), {}],
  [
    'existing ingest bucket, secret prefix',
    minimalConfig(),
    {
      existingIngestBucketArn: 'arn:aws:s3:::acme-existing-ingest',
      secretPrefix: 'factory-relay/',
    },
  ],
  [
    'existing SSE-KMS ingest bucket, results written',
    fullConfig(),
    {
      existingIngestBucketArn: 'arn:aws:s3:::acme-existing-ingest',
      ingestBucketKmsKeyArn: 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    },
  ],
  ['no account/region (env-agnostic)', fullConfig(), { env: undefined }],
];

describe('cdk-nag AwsSolutions', () => {
  for (const [name, config, props] of variants) {
    it(`${name}: zero unacknowledged errors or warnings, and synth passes the validation`, () => {
      const { app, stack } = build(config, props);
      assert.deepEqual(findings(app), []);
      assert.doesNotThrow(() => app.synth());
      const annotations = Annotations.fromStack(stack);
      assert.deepEqual(annotations.findError('*', Match.anyValue()), []);
      assert.deepEqual(annotations.findWarning('*', Match.anyValue()), []);
    });
  }

  it('every acknowledgement names a rule and gives a reason', () => {
    const { app } = build(fullConfig());
    const acks: Array<{ path: string; id: string; reason: unknown }> = [];
    for (const c of app.node.findAll()) {
      for (const m of c.node.metadata) {
        if (m.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, reason] of Object.entries(m.data as Record<string, unknown>))
          acks.push({ path: c.node.path, id, reason });
      }
    }
    assert.ok(acks.length > 0);
    for (const a of acks) {
      assert.match(a.id, /AwsSolutions-(IAM4|IAM5|L1|APIG4|SMG4|SQS3)/, `${a.path}: ${a.id}`);
      assert.equal(typeof a.reason, 'string');
      assert.ok((a.reason as string).length >= 40, `${a.path}: ${a.id} has no real reason`);
    }
    // Only the findings the relay accepts, by rule.
    assert.deepEqual(
      [...new Set(acks.map((a) => a.id.replace(/^Annotation::/i, '').replace(/\[.*$/, '')))].sort(),
      [
        'AwsSolutions-APIG4',
        'AwsSolutions-IAM4',
        'AwsSolutions-IAM5',
        'AwsSolutions-L1',
        'AwsSolutions-SMG4',
        'AwsSolutions-SQS3',
      ],
    );
  });

  it('the checks run: an unacknowledged non-compliant resource fails synth', () => {
    const { app, stack } = build(minimalConfig());
    new Bucket(stack, 'NakedBucket');
    const found = findings(app);
    assert.ok(found.includes('error AwsSolutions-S1 FactoryRelay/NakedBucket/Resource'), found.join('\n'));
    assert.ok(found.includes('error AwsSolutions-S10 FactoryRelay/NakedBucket/Resource'), found.join('\n'));
    const exitCode = process.exitCode;
    const stderrWrite = process.stderr.write;
    process.stderr.write = () => true; // the CDK prints the report; keep the test output readable
    try {
      assert.throws(() => app.synth(), /Validation failed/);
    } finally {
      process.stderr.write = stderrWrite;
      process.exitCode = exitCode;
    }
  });

  it('an acknowledgement covers one exact finding: a new wildcard grant is still reported', () => {
    const { app, stack } = build(minimalConfig());
    stack.buckets.logsBucket.grantRead(stack.router.function);
    const found = findings(app).filter((f) => f.includes('AwsSolutions-IAM5'));
    assert.ok(found.length > 0);
    assert.ok(
      found.every((f) => f.includes('FactoryRelay/Router/Function/ServiceRole/DefaultPolicy/Resource')),
    );
  });
});
