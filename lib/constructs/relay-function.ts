import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Duration } from 'aws-cdk-lib';
import { Code, Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  assertBundlingArgsFit,
  BUNDLE_EXTERNALS,
  bakedBundleSettings,
  esbuildCliArgs,
  writeBundleValidators,
} from '../bundling.ts';
import { ARCHITECTURE, BUNDLE_TARGET, LOG_RETENTION, OutputFormat, RUNTIME, TRACING } from '../defaults.ts';

export interface RelayFunctionProps {
  /** Absolute path of the handler's TypeScript entry (it must `export const handler`). */
  readonly entry: string;
  /** Directory holding package.json (its `imports` aliases resolve `#commons/*` etc.) and package-lock.json. */
  readonly projectRoot: string;
  readonly description: string;
  readonly timeout: Duration;
  readonly memorySize: number;
  readonly environment: Record<string, string>;
  /** The relay config as JSON text, baked into the bundle (never an environment variable). */
  readonly configJson: string;
  /**
   * false: a tiny inline stand-in instead of the esbuild bundle, for fast unit tests of the template. The
   * function's settings are identical; only `Code` and `Handler` differ.
   * @default true
   */
  readonly bundle?: boolean;
}

/**
 * One relay Lambda: Node.js 22 on arm64, X-Ray tracing, its own log group with retention, bundled by local
 * esbuild as minified ESM with the config compiled in, with the settings of lib/bundling.ts (precompiled field
 * validators, no unused undici parser, environment credentials only, a source map read only when an error
 * leaves a handler — no NODE_OPTIONS=--enable-source-maps, which cost ~40 % of module init).
 *
 * The config reaches the code through a generated module (lib/bundling.ts bakedBundleSettings:
 * `.build/baked-config/<sha256>.mjs`) that esbuild `inject`s ahead of every other module: it assigns the JSON
 * text to `process.env.RELAY_CONFIG_JSON` on load, so code reading `process.env[ENV.configJson]` finds it, and
 * esbuild `define` replaces the literal `process.env.RELAY_CONFIG_JSON` with the module's export. Nothing
 * config-sized is on esbuild's command line (Linux refuses one argument over 128 KiB: a large config failed
 * bundling with "exited with status 249"); assertBundlingArgsFit stops synth with a clear message if anything
 * is. Nothing is in the template either: no 4 KB environment limit, no runtime fetch.
 */
export class RelayFunction extends Construct {
  public readonly function: LambdaFunction;
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: RelayFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'LogGroup', { retention: LOG_RETENTION });
    const common = {
      description: props.description,
      runtime: RUNTIME,
      architecture: ARCHITECTURE,
      tracing: TRACING,
      timeout: props.timeout,
      memorySize: props.memorySize,
      logGroup: this.logGroup,
      environment: props.environment,
    };

    if (props.bundle === false) {
      this.function = new LambdaFunction(this, 'Function', {
        ...common,
        handler: 'index.handler',
        code: Code.fromInline(
          "exports.handler = async () => { throw new Error('unit-test stand-in: synthesize with bundling'); };",
        ),
      });
      return;
    }

    const lockFile = join(props.projectRoot, 'package-lock.json');
    if (!existsSync(lockFile)) throw new Error(`no package-lock.json in ${props.projectRoot}`);
    writeBundleValidators(props.projectRoot);
    const baked = bakedBundleSettings(props.projectRoot, props.configJson);
    const cliArgs = esbuildCliArgs();
    // What NodejsFunction will put on esbuild's command line from these settings (lib/bundling.ts).
    assertBundlingArgsFit(
      [
        props.entry,
        `--banner:js=${baked.banner}`,
        ...Object.entries(baked.define).map(([key, value]) => `--define:${key}=${value}`),
        ...baked.inject.map((file) => `--inject:${file}`),
        ...BUNDLE_EXTERNALS.map((external) => `--external:${external}`),
        ...Object.entries(cliArgs).flatMap(([key, value]) => [key, ...[value].flat()]),
      ],
      props.configJson,
      `RelayFunction ${this.node.path}`,
    );
    this.function = new NodejsFunction(this, 'Function', {
      ...common,
      entry: props.entry,
      handler: 'handler',
      projectRoot: props.projectRoot,
      depsLockFilePath: lockFile,
      bundling: {
        format: OutputFormat.ESM,
        target: BUNDLE_TARGET,
        minify: true,
        sourceMap: true,
        sourcesContent: false,
        mainFields: ['module', 'main'],
        externalModules: [...BUNDLE_EXTERNALS],
        forceDockerBundling: false,
        banner: baked.banner,
        esbuildArgs: cliArgs,
        define: baked.define,
        inject: baked.inject,
      },
    });
  }
}
