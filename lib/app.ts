/**
 * Builds the CDK app: the relay stack plus the cdk-nag AwsSolutions checks (cdk-nag 3: a validation plugin,
 * so `cdk synth` fails on any finding that is not acknowledged in lib/nag.ts). bin/factory-relay.ts and the
 * tests both build the app here.
 */
import { App, type AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { RelayConfig } from '../lambdas/domain/config/types.ts';
import { FactoryRelayStack, type FactoryRelayStackProps } from './factory-relay-stack.ts';

export const DEFAULT_STACK_NAME = 'FactoryRelay';
export const DEFAULT_CONFIG_PATH = 'config/example.yaml';

export interface RelayStackOptions {
  readonly stack: FactoryRelayStackProps;
  readonly stackName?: string;
  /** Register the AwsSolutions checks on the app. Default true. */
  readonly nag?: boolean;
}

/** Adds the relay stack (and, by default, the AwsSolutions checks) to an app. */
export function addRelayStack(app: App, options: RelayStackOptions): FactoryRelayStack {
  const stack = new FactoryRelayStack(app, options.stackName ?? DEFAULT_STACK_NAME, options.stack);
  if (options.nag !== false) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return stack;
}

export function createRelayApp(options: RelayStackOptions & { readonly app?: AppProps }): {
  app: App;
  stack: FactoryRelayStack;
} {
  const app = new App(options.app);
  return { app, stack: addRelayStack(app, options) };
}

/** The config file to synthesize: `-c config=<path>`, else RELAY_CONFIG_FILE, else config/example.yaml. */
export function resolveConfigPath(contextValue: unknown, envValue: string | undefined): string {
  if (typeof contextValue === 'string' && contextValue !== '') return contextValue;
  if (envValue !== undefined && envValue !== '') return envValue;
  return DEFAULT_CONFIG_PATH;
}

/**
 * The config as the functions will read it: JSON text of the validated, already interpolated config. The
 * functions parse it and nothing more (lambdas/domain/config/baked.ts): no `${VAR}` is replaced again, so a
 * literal `${` in a value (written `$${` in the file) reaches them as it was validated.
 */
export function bakeConfigJson(config: RelayConfig): string {
  return JSON.stringify(config);
}

/** Optional stack settings from CDK context (`-c name=value`). */
export const CONTEXT_KEYS = {
  stackName: 'stackName',
  ingestBucketName: 'ingestBucketName',
  existingIngestBucketArn: 'existingIngestBucketArn',
  ingestBucketKmsKeyArn: 'ingestBucketKmsKeyArn',
  ingestKeyPrefix: 'ingestKeyPrefix',
  alarmEmail: 'alarmEmail',
  secretPrefix: 'secretPrefix',
} as const;

export function contextSettings(app: App): {
  stackName?: string;
  ingestBucketName?: string;
  existingIngestBucketArn?: string;
  ingestBucketKmsKeyArn?: string;
  ingestKeyPrefix?: string;
  alarmEmail?: string;
  secretPrefix?: string;
} {
  const out: Record<string, string> = {};
  for (const [prop, key] of Object.entries(CONTEXT_KEYS)) {
    const v: unknown = app.node.tryGetContext(key);
    if (typeof v === 'string' && v !== '') out[prop] = v;
  }
  return out;
}
