/**
 * The CDK app: `npx cdk synth` (config/example.yaml), `npx cdk synth -c config=path/to/relay.yaml`, or
 * RELAY_CONFIG_FILE=path. The config is validated exactly as the functions will validate it; an invalid
 * config stops synth with its violations and a non-zero exit.
 *
 * Optional context: -c stackName=… -c ingestBucketName=… -c existingIngestBucketArn=…
 * -c ingestBucketKmsKeyArn=… -c ingestKeyPrefix=… -c alarmEmail=… -c secretPrefix=…
 */
import { App } from 'aws-cdk-lib';
import { ENV } from '../lambdas/commons/env.ts';
import {
  ConfigError,
  formatViolations,
  type LoadedConfig,
  loadConfigFile,
} from '../lambdas/domain/config/index.ts';
import { VENDORS } from '../lambdas/vendors/registry.ts';
import { addRelayStack, bakeConfigJson, contextSettings, resolveConfigPath } from '../lib/app.ts';

const app = new App();
const configPath = resolveConfigPath(app.node.tryGetContext('config'), process.env[ENV.configFile]);

let loaded: LoadedConfig;
try {
  loaded = loadConfigFile(configPath, VENDORS);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`factory-relay: the config ${configPath} is invalid; nothing was synthesized.`);
  console.error(formatViolations(err.violations));
  process.exit(1);
}
if (loaded.violations.length > 0) {
  console.error(`factory-relay: warnings in ${configPath}:`);
  console.error(formatViolations(loaded.violations));
}

const { stackName, ...settings } = contextSettings(app);
addRelayStack(app, {
  stackName,
  stack: {
    config: loaded.config,
    configJson: bakeConfigJson(loaded.config),
    ...settings,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    description: `factory-relay (config ${configPath})`,
  },
});
app.synth();
