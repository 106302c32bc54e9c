import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Subscription, SubscriptionProtocol, Topic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export interface DlqAlarmsProps {
  /** Dead-letter queues to watch, by a short name used in the alarm's description. */
  readonly deadLetterQueues: Readonly<Record<string, IQueue>>;
  /** An address subscribed to the alarm topic (it must confirm the subscription). */
  readonly email?: string;
}

/**
 * One alarm per dead-letter queue (any visible message) publishing to an SNS topic. The topic is encrypted
 * with a customer-managed key: CloudWatch alarms cannot publish to a topic under the AWS-managed SNS key.
 */
export class DlqAlarms extends Construct {
  public readonly topicKey: Key;
  public readonly topic: Topic;
  public readonly subscription: Subscription | undefined;
  /** Alarms by the names given in `deadLetterQueues`. */
  public readonly alarms: Readonly<Record<string, Alarm>>;

  constructor(scope: Construct, id: string, props: DlqAlarmsProps) {
    super(scope, id);
    this.topicKey = new Key(this, 'TopicKey', {
      description: 'factory-relay: encrypts the dead-letter alarm topic',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    this.topicKey.grant(
      new ServicePrincipal('cloudwatch.amazonaws.com'),
      'kms:Decrypt',
      'kms:GenerateDataKey*',
    );
    this.topic = new Topic(this, 'Topic', {
      displayName: 'factory-relay dead-letter alarms',
      masterKey: this.topicKey,
      enforceSSL: true,
    });
    this.subscription =
      props.email === undefined
        ? undefined
        : new Subscription(this, 'EmailSubscription', {
            topic: this.topic,
            protocol: SubscriptionProtocol.EMAIL,
            endpoint: props.email,
          });

    const action = new SnsAction(this.topic);
    const alarms: Record<string, Alarm> = {};
    for (const [name, queue] of Object.entries(props.deadLetterQueues)) {
      const alarm = new Alarm(this, `${name}Alarm`, {
        alarmDescription: `factory-relay: messages in the ${name} dead-letter queue`,
        metric: queue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: 'Maximum',
        }),
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(action);
      alarms[name] = alarm;
    }
    this.alarms = alarms;
  }
}
