/**
 * Every cdk-nag (AwsSolutions) finding the relay accepts, with its reason, in one place. cdk-nag 3 matches an
 * acknowledgement to one exact finding (`AwsSolutions-IAM5[Resource::<Table.Arn>/index/*]`, no prefix
 * matching), so each one names exactly what it accepts; a new wildcard elsewhere still fails `cdk synth`.
 */
import { type Stack, Token, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { FactoryRelayStack } from './factory-relay-stack.ts';

export interface NagAcknowledgement {
  readonly id: string;
  readonly reason: string;
}

export const REASONS = {
  basicExecutionRole:
    'AWSLambdaBasicExecutionRole (AWS managed) only allows creating log streams and putting log events; ' +
    'a hand-written copy would be the same wildcard on log-stream ARNs.',
  xray:
    'Resource "*" here is X-Ray tracing (xray:PutTraceSegments, xray:PutTelemetryRecords), which has no ' +
    'resource-level permissions. A test asserts that "*" appears only with X-Ray actions.',
  tableIndexes:
    "The status table's GSIs (byDestinationStatus for the poller, bySerialNumber for ops) are queried; " +
    '"<table>/index/*" covers exactly the indexes of this one table.',
  ingestObjects:
    'Read-only (s3:GetObject, s3:GetObjectVersion) on the objects of the ingest bucket: factories may use any ' +
    'key, so object ARNs need "/*". No write or delete is granted.',
  resultsObjects:
    'Write-only (s3:PutObject, s3:AbortMultipartUpload) on objects of the results bucket, under keys made at ' +
    'run time; no read or delete.',
  schedulerInvoke:
    'EventBridge Scheduler role: lambda:InvokeFunction on the poller function and its versions/aliases ' +
    '("<function>:*"), nothing else.',
  runtime:
    'The relay targets Node.js 22 (package.json engines, esbuild target node22, the CI toolchain); Lambda ' +
    'supports nodejs22.x. Moving to nodejs24.x is a project-wide change, not a per-function one.',
  callbackAuth:
    'Vendors cannot send AWS or OAuth credentials with a callback (InstaVid360 callbacks are unsigned and ' +
    "undocumented). A callback is only a hint: the function re-queries the vendor with the relay's own API " +
    'key for that one delivery and records what the vendor answers, never the callback body; unknown paths ' +
    'get 404. A forged call can at most cause one extra status check, bounded by the stage throttling and ' +
    "the destination's shared rate limit. Access logs omit the path.",
  notificationsHandlerRole:
    "CDK's BucketNotificationsHandler (custom resource that configures the S3 → SQS notification) uses " +
    'AWSLambdaBasicExecutionRole for its logs; it runs only during deployments.',
} as const;

/**
 * A CloudFormation value flattened the way cdk-nag writes it in finding ids:
 * `{"Fn::GetAtt": ["Table1234", "Arn"]}` → `<Table1234.Arn>`, `{"Ref": "AWS::Partition"}` → `<AWS::Partition>`.
 */
export function flattenForNag(stack: Stack, value: string): string {
  const visit = (node: unknown): string => {
    if (typeof node === 'string') return node.replace(/\$\{/g, '<').replace(/\}/g, '>');
    if (node !== null && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      const join = o['Fn::Join'];
      if (Array.isArray(join)) return (join[1] as unknown[]).map(visit).join(String(join[0]));
      const getAtt = o['Fn::GetAtt'];
      if (Array.isArray(getAtt)) return `<${visit(getAtt[0])}.${visit(getAtt[1])}>`;
      if ('Ref' in o) return `<${visit(o.Ref)}>`;
      if ('Fn::Sub' in o) return visit(o['Fn::Sub']);
    }
    return JSON.stringify(node);
  };
  return visit(Token.isUnresolved(value) ? stack.resolve(value) : value);
}

const ack = (scope: IConstruct, id: string, reason: string): void =>
  Validations.of(scope).acknowledge({ id, reason });

const BASIC_EXECUTION_ROLE =
  'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]';

/** Applies the relay's acknowledgements to its stack. Called once, at the end of the stack's constructor. */
export function acknowledgeNagFindings(stack: FactoryRelayStack): void {
  const iam5 = (resource: string) => `AwsSolutions-IAM5[Resource::${resource}]`;
  const tableIndexes = iam5(`${flattenForNag(stack, stack.statusTable.table.tableArn)}/index/*`);
  const ingestObjects = iam5(flattenForNag(stack, stack.buckets.ingestBucket.arnForObjects('*')));
  const resultsObjects = iam5(`${flattenForNag(stack, stack.buckets.resultsBucket.bucketArn)}/*`);

  const functions = [
    { rf: stack.router, readsIngest: true, writesResults: false },
    { rf: stack.poller, readsIngest: false, writesResults: stack.plan.writesResults },
    { rf: stack.callback, readsIngest: false, writesResults: stack.plan.writesResults },
    ...stack.plan.vendors.flatMap((v) => {
      const f = stack.forwarders.get(v.vendor);
      return f ? [{ rf: f.function, readsIngest: true, writesResults: v.writesResults }] : [];
    }),
  ];
  for (const { rf, readsIngest, writesResults } of functions) {
    const fn = rf.function;
    ack(fn, 'AwsSolutions-L1', REASONS.runtime);
    if (!fn.role) continue;
    ack(fn.role, BASIC_EXECUTION_ROLE, REASONS.basicExecutionRole);
    ack(fn.role, iam5('*'), REASONS.xray);
    ack(fn.role, tableIndexes, REASONS.tableIndexes);
    if (readsIngest) ack(fn.role, ingestObjects, REASONS.ingestObjects);
    if (writesResults) ack(fn.role, resultsObjects, REASONS.resultsObjects);
  }

  for (const route of stack.api.callbackRoutes) ack(route, 'AwsSolutions-APIG4', REASONS.callbackAuth);

  // The scheduler target's role is a stack-level singleton created by aws-scheduler-targets.
  const pollerArn = flattenForNag(stack, stack.poller.function.functionArn);
  for (const child of stack.node.children) {
    if (child.node.id.startsWith('SchedulerRoleForTarget'))
      ack(child, iam5(`${pollerArn}:*`), REASONS.schedulerInvoke);
    if (child.node.id.startsWith('BucketNotificationsHandler'))
      ack(child, BASIC_EXECUTION_ROLE, REASONS.notificationsHandlerRole);
  }
}
