/** The ops counters' plumbing in the template: the status table's stream and the aggregator's mapping. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { SETTINGS } from '../../lib/settings.ts';
import { fullConfig } from './fixtures.ts';
import { logicalIdOf, resourcesOf, roleStatements, synth } from './helpers.ts';

const s = synth(fullConfig());

describe('stream aggregator', () => {
  it('the status table streams old and new images (a count is a transition: the old status is needed)', () => {
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
    });
  });

  it('the aggregator reads the stream in batches, bisects a failing batch, and gives up to a queue', () => {
    const fnId = logicalIdOf(s, s.stack.aggregator.function);
    const failuresId = logicalIdOf(s, s.stack.aggregatorFailures);
    const mappings = resourcesOf(s, 'AWS::Lambda::EventSourceMapping').filter(([, r]) =>
      JSON.stringify(r.Properties.FunctionName).includes(fnId),
    );
    assert.equal(mappings.length, 1);
    const p = mappings[0]?.[1].Properties as Record<string, unknown>;
    assert.equal(p.StartingPosition, 'TRIM_HORIZON');
    assert.equal(p.BatchSize, SETTINGS.aggregator.batchSize);
    assert.equal(p.MaximumBatchingWindowInSeconds, SETTINGS.aggregator.batchingWindowSeconds);
    assert.equal(p.BisectBatchOnFunctionError, true);
    assert.equal(p.MaximumRetryAttempts, SETTINGS.aggregator.retryAttempts);
    assert.deepEqual(p.DestinationConfig, {
      OnFailure: { Destination: { 'Fn::GetAtt': [failuresId, 'Arn'] } },
    });
    // Only delivery records invoke it: not its own counter writes, rate buckets or destination state.
    assert.deepEqual(p.FilterCriteria, {
      Filters: [{ Pattern: JSON.stringify({ dynamodb: { Keys: { pk: { S: [{ prefix: 'object#' }] } } } }) }],
    });
  });

  it('the aggregator may update items and read the stream, and nothing else in the table', () => {
    const role = s.stack.aggregator.function.role;
    assert.ok(role);
    const actions = roleStatements(s, logicalIdOf(s, role))
      .flatMap((st) => (Array.isArray(st.Action) ? st.Action : [st.Action]))
      .filter((a): a is string => typeof a === 'string' && a.startsWith('dynamodb:'));
    assert.ok(actions.includes('dynamodb:UpdateItem'));
    assert.ok(!actions.some((a) => ['dynamodb:PutItem', 'dynamodb:DeleteItem', 'dynamodb:Scan'].includes(a)));
    assert.ok(actions.includes('dynamodb:GetRecords'));
  });

  it('its on-failure queue is alarmed like the dead-letter queues', () => {
    s.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: Match.stringLikeRegexp('Aggregator dead-letter'),
    });
  });
});
