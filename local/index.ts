/** The local stack: the relay's handlers on local AWS emulators (see README.md). */
export {
  applyEnv,
  buildAwsEnv,
  ENDPOINT_ENV,
  FAKE_CREDENTIALS,
  guardLoopback,
  isLoopbackHost,
  type LocalEndpoints,
  NonLoopbackConnectionError,
  refusedConnections,
  UNSET_ENV,
} from './aws-env.ts';
export { createLocalClients, type LocalClients } from './clients.ts';
export {
  DATA_DIR_LAYOUT,
  type DataDir,
  DataDirInUseError,
  NotADataDirError,
  openDataDir,
} from './data-dir.ts';
export {
  type DynamoDbLocal,
  type DynamoDbLocalOptions,
  findDynamoDbLocalJar,
  freePort,
  startDynamoDbLocal,
} from './dynamodb-local.ts';
export { type EmulatorOptions, type Emulators, type EmulatorTimings, startEmulators } from './emulators.ts';
export {
  buildHttpApiEvent,
  type HttpApi,
  isTextContentType,
  mapHttpApiResult,
  matchPath,
  parseRouteKey,
  selectRoute,
} from './http-api.ts';
export {
  createLambdaContext,
  type FunctionSettings,
  type InvocationOutcome,
  invokeWithTimeout,
  type LambdaFunction,
} from './lambda-context.ts';
export {
  encodeS3EventKey,
  LOCAL_BUCKET_OWNER_ID,
  LOCAL_PRINCIPAL_ID,
  type NotificationSent,
  type NotificationTarget,
  type NotifierOptions,
  S3_EVENT_VERSION,
  type S3EventRecordInput,
  S3Notifier,
  type S3TestEvent,
  SequencerClock,
  s3EventRecord,
  s3TestEvent,
  startNotifier,
} from './notifier.ts';
export {
  createResources,
  defaultResourceNames,
  type LocalResources,
  type QueuePair,
  type QueueRef,
  type QueueSettings,
  queueUrlOnEndpoint,
  type ResourceNames,
  type ResourceOptions,
  statusTableInput,
} from './resources.ts';
export {
  failedRecords,
  type HttpRouteOptions,
  type InvocationEnd,
  type InvocationKind,
  type InvocationStart,
  LocalRunner,
  type LocalRunnerOptions,
  type Mapping,
  type ScheduleHandle,
  type ScheduleOptions,
  type ServeHttpApiOptions,
  type SqsMappingOptions,
  toSqsRecord,
} from './runner.ts';
export {
  attachS3Hooks,
  newVersionId,
  type ObjectCreated,
  type ObjectRequest,
  openS3ShimState,
  type S3ShimState,
  type S3Watch,
} from './s3-hooks.ts';
export { SecretsEmulator, type SecretsEmulatorOptions, startSecretsEmulator } from './secrets-emulator.ts';
export {
  type FunctionTuning,
  LOCAL_DEFAULTS,
  type LocalHandlers,
  type LocalStack,
  type LocalStackOptions,
  startLocalStack,
  vendorsOf,
} from './stack.ts';
