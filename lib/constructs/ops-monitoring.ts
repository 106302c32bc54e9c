import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRIC, METRICS_NAMESPACE, METRICS_SERVICE } from '../../lambdas/commons/metrics.ts';
import type { DestinationPlan } from '../plan.ts';

export interface OpsMonitoringProps {
  /** The config's destinations: name, `Destination` dimension value and construct-id part (lib/plan.ts). */
  readonly destinations: readonly DestinationPlan[];
  /** Dead-letter queues by a short name (shown on the dashboard; their alarms are DlqAlarms'). */
  readonly deadLetterQueues: Readonly<Record<string, IQueue>>;
  /** Alarms publish here (the dead-letter alarm topic). */
  readonly topic: ITopic;
  /** failed / (delivered + failed) over 15 minutes above this raises the failure-rate alarm. Default 0.2. */
  readonly failureRateThreshold?: number;
  /** The poller's lag (seconds past the due time of its most overdue delivery) that raises an alarm. Default 300. */
  readonly pollLagSeconds?: number;
}

const destinationMetric = (
  name: string,
  /** The `Destination` dimension value (DestinationPlan.dimension), never the raw name. */
  dimension: string,
  statistic = 'Sum',
  period = Duration.minutes(1),
) =>
  new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap: { service: METRICS_SERVICE, Destination: dimension },
    statistic,
    period,
  });

/**
 * The relay's CloudWatch dashboard and its alarms beyond the dead-letter ones: per destination, paused (for 10
 * minutes) and a failure rate over the threshold; the poller falling behind (or not running at all). Every
 * metric is an EMF metric the functions write (lambdas/commons/metrics.ts).
 */
export class OpsMonitoring extends Construct {
  public readonly dashboard: Dashboard;
  /** By destination. */
  public readonly pausedAlarms: Readonly<Record<string, Alarm>>;
  public readonly failureRateAlarms: Readonly<Record<string, Alarm>>;
  public readonly pollerBehindAlarm: Alarm;

  constructor(scope: Construct, id: string, props: OpsMonitoringProps) {
    super(scope, id);
    const action = new SnsAction(props.topic);
    const threshold = props.failureRateThreshold ?? 0.2;
    const paused: Record<string, Alarm> = {};
    const failure: Record<string, Alarm> = {};
    this.dashboard = new Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
    });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown:
          '# factory-relay\nPer destination: outcomes per minute, vendor latency, pause. `relay status` shows the same counts from the status table.',
        width: 24,
        height: 2,
      }),
    );
    for (const { name: destination, dimension, idPart } of props.destinations) {
      const window = Duration.minutes(15);
      const delivered = destinationMetric(METRIC.delivered, dimension, 'Sum', window);
      const rejected = destinationMetric(METRIC.rejected, dimension, 'Sum', window);
      const dead = destinationMetric(METRIC.dead, dimension, 'Sum', window);
      const rate = new MathExpression({
        // No outcomes (or fewer than 5) in the window is no failure rate.
        expression: 'IF((d + r + x) >= 5, (r + x) / (d + r + x), 0)',
        usingMetrics: { d: delivered, r: rejected, x: dead },
        label: `${destination} failure rate`,
        period: window,
      });
      failure[destination] = new Alarm(this, `FailureRate-${idPart}`, {
        alarmDescription: `factory-relay: more than ${Math.round(threshold * 100)} % of deliveries to ${destination} failed (REJECTED, FAILED, DEAD) over 15 minutes`,
        metric: rate,
        threshold,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      paused[destination] = new Alarm(this, `Paused-${idPart}`, {
        alarmDescription: `factory-relay: destination ${destination} paused (a refused key, a quota, a missing dataset) or stopped for 10 minutes: its deliveries are HELD`,
        metric: destinationMetric(METRIC.paused, dimension, 'Maximum'),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 10,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      for (const alarm of [failure[destination], paused[destination]]) alarm?.addAlarmAction(action);
      this.dashboard.addWidgets(
        new GraphWidget({
          title: `${destination}: outcomes per minute`,
          left: [METRIC.delivered, METRIC.rejected, METRIC.retried, METRIC.dead, METRIC.duplicate].map((m) =>
            destinationMetric(m, dimension),
          ),
          width: 12,
        }),
        new GraphWidget({
          title: `${destination}: vendor latency (ms), paused`,
          left: [
            destinationMetric(METRIC.vendorLatency, dimension, 'p50'),
            destinationMetric(METRIC.vendorLatency, dimension, 'p99'),
          ],
          right: [destinationMetric(METRIC.paused, dimension, 'Maximum')],
          width: 12,
        }),
      );
    }
    this.pausedAlarms = paused;
    this.failureRateAlarms = failure;

    const lag = new Metric({
      namespace: METRICS_NAMESPACE,
      metricName: METRIC.pollLag,
      dimensionsMap: { service: METRICS_SERVICE },
      statistic: 'Maximum',
      period: Duration.minutes(1),
    });
    this.pollerBehindAlarm = new Alarm(this, 'PollerBehind', {
      alarmDescription: `factory-relay: the poller is more than ${props.pollLagSeconds ?? 300} s behind its due deliveries, or has not run for 5 minutes`,
      metric: lag,
      threshold: props.pollLagSeconds ?? 300,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      // The poller writes this every run: no data means it does not run.
      treatMissingData: TreatMissingData.BREACHING,
    });
    this.pollerBehindAlarm.addAlarmAction(action);
    this.dashboard.addWidgets(
      new GraphWidget({ title: 'poller lag (s)', left: [lag], width: 12 }),
      new GraphWidget({
        title: 'dead-letter queues (messages)',
        left: Object.entries(props.deadLetterQueues).map(([name, q]) =>
          q.metricApproximateNumberOfMessagesVisible({
            label: name,
            period: Duration.minutes(1),
            statistic: 'Maximum',
          }),
        ),
        width: 12,
      }),
    );
  }
}
