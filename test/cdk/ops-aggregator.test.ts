/** The ops counters' plumbing in the template: the status table's stream and the aggregator's mapping. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { destinationDimension } from '../../lambdas/commons/metric-dimension.ts';
import { SETTINGS } from '../../lib/settings.ts';
import { fullConfig, minimalConfig } from './fixtures.ts';
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

describe('dashboard and alarms on the EMF metrics', () => {
  const destinations = fullConfig().data_transmit.map((t) => t.transmit_name);
  const alarms = resourcesOf(s, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  const topic = { Ref: logicalIdOf(s, s.stack.alarms.topic) };

  it('a dashboard with a row per destination', () => {
    const dashboards = resourcesOf(s, 'AWS::CloudWatch::Dashboard');
    assert.equal(dashboards.length, 1);
    const body = JSON.stringify(dashboards[0]?.[1].Properties.DashboardBody);
    for (const d of destinations) assert.ok(body.includes(`${d}: outcomes per minute`), d);
    for (const m of [
      'Delivered',
      'Rejected',
      'Retried',
      'Dead',
      'Duplicate',
      'VendorLatency',
      'PollLagSeconds',
    ])
      assert.ok(body.includes(m), m);
  });

  it('per destination: paused for 10 minutes, and a failure rate over 20 % (at least 5 outcomes)', () => {
    for (const d of destinations) {
      const pausedAlarm = alarms.find(
        (a) =>
          a.MetricName === 'DestinationPaused' && JSON.stringify(a.Dimensions).includes(`"Value":"${d}"`),
      );
      assert.ok(pausedAlarm, `paused alarm for ${d}`);
      assert.equal(pausedAlarm.Namespace, 'FactoryRelay');
      assert.equal(pausedAlarm.EvaluationPeriods, 10);
      assert.deepEqual(pausedAlarm.AlarmActions, [topic]);
      const rate = alarms.find(
        (a) => Array.isArray(a.Metrics) && JSON.stringify(a.Metrics).includes(`"Value":"${d}"`),
      );
      assert.ok(rate, `failure-rate alarm for ${d}`);
      assert.equal(rate.Threshold, 0.2);
      assert.match(JSON.stringify(rate.Metrics), /IF\(\(d \+ r \+ x\) >= 5/);
      assert.deepEqual(rate.AlarmActions, [topic]);
    }
  });

  it('the poller behind (or silent) alarms', () => {
    const lag = alarms.find((a) => a.MetricName === 'PollLagSeconds');
    assert.ok(lag);
    assert.equal(lag.TreatMissingData, 'breaching');
    assert.equal(lag.Threshold, 300);
    assert.deepEqual(lag.AlarmActions, [topic]);
  });
});

describe('destination names in metrics and alarms', () => {
  const dimensionValues = (s: ReturnType<typeof synth>): string[] =>
    resourcesOf(s, 'AWS::CloudWatch::Alarm').flatMap(([, a]) =>
      [...JSON.stringify(a.Properties).matchAll(/"Name":"Destination","Value":"((?:[^"\\]|\\.)*)"/g)].map(
        (m) => JSON.parse(`"${m[1]}"`) as string,
      ),
    );
  const withNames = (...names: string[]) => {
    const config = minimalConfig();
    const [only] = config.data_transmit;
    assert.ok(only);
    config.data_transmit = names.map((transmit_name) => ({ ...only, transmit_name }));
    return config;
  };

  it('a non-ASCII transmit_name gives ASCII dimension values, the ones the functions emit', () => {
    const name = 'Prüfstand Linie 1 → QS';
    const values = dimensionValues(synth(withNames(name)));
    assert.equal(values.length, 4, 'paused + three metrics of the failure rate');
    for (const v of values) {
      assert.match(v, /^[\x20-\x7e]{1,1024}$/);
      assert.equal(v, destinationDimension(name));
    }
  });

  it("alarms are keyed by the destination's name: reordering the config keeps every logical id", () => {
    // Logical id → what the alarm watches, for the alarms on a destination.
    const alarmIds = (s: ReturnType<typeof synth>) =>
      Object.fromEntries(
        resourcesOf(s, 'AWS::CloudWatch::Alarm').flatMap(([id, a]) => {
          const [dimension] = dimensionValues({ ...s, json: { ...s.json, Resources: { [id]: a } } });
          return dimension === undefined ? [] : [[id, `${a.Properties.MetricName ?? 'rate'} ${dimension}`]];
        }),
      );
    const a = alarmIds(synth(withNames('a', 'b', 'a/b', 'a--b')));
    const b = alarmIds(synth(withNames('a--b', 'a/b', 'b', 'a')));
    assert.deepEqual(a, b);
    assert.equal(Object.keys(a).length, 4 * 2, 'paused and failure rate per destination');
  });
});
