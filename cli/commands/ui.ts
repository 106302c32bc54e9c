/**
 * `relay ui --stack NAME` (or `--url API_URL`): the ops page for a deployed stack, like `kubectl proxy` — a
 * server on 127.0.0.1 that serves the page and forwards its API calls to the stack's HTTP API signed with your
 * AWS credentials (the SDK's default chain: AWS_PROFILE, environment, SSO, …). `--stack` reads the API URL,
 * region and results bucket from the stack's outputs with the ops commands' code (cli/ops-client.ts). Runs until
 * Ctrl-C. The local stack (`npm start`) serves the page itself and prints its URL; this command is for a deployed
 * stack.
 */
import { parseArgs } from 'node:util';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { S3Client } from '@aws-sdk/client-s3';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { type Credentials, startUiProxy, type UiProxy } from '../../ui/proxy.ts';
import { type Command, type CommandIo, EXIT, UsageError } from '../command.ts';
import { resolveStack } from '../ops-client.ts';

const USAGE = `Usage: relay ui --stack NAME | --url API_URL [--region REGION] [--port PORT] [--results-bucket BUCKET]

Serves the ops page on http://127.0.0.1:PORT/ui/ and forwards its calls to the deployed stack's HTTP API,
signed with SigV4 from your AWS credentials (AWS_PROFILE, environment, SSO …). Images in the Find view are
read from S3 with the same credentials.

  --stack NAME           the deployed stack: its OpsApiUrl and ResultsBucketName outputs, from CloudFormation
                         (as the other relay commands' --stack)
  --url URL              or the stack's HTTP API URL itself (https://ID.execute-api.REGION.amazonaws.com)
  --region REGION        default: the stack's (with --stack: the SDK's), else from the URL, else AWS_REGION
  --port PORT            default 4890 (0: any free port)
  --results-bucket NAME  the stack's results bucket, to show result objects (InstaVid360; default with
                         --stack: its ResultsBucketName output)

Runs until Ctrl-C. Exit 0 when stopped, 1 when it could not start, 2 on a usage error.`;

/** The region in an execute-api host name, or undefined. */
export function regionOfApiUrl(url: string): string | undefined {
  return /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(new URL(url).hostname)?.[1];
}

export interface UiDeps {
  credentials?: Credentials;
  fetch?: typeof fetch;
  /** For --stack (tests point one at a stand-in); default the SDK's for the region. */
  cloudFormation?: CloudFormationClient;
  /** Resolves when the server should stop (default: SIGINT or SIGTERM). */
  until?: (proxy: UiProxy) => Promise<void>;
}

function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export async function runUi(args: string[], io: CommandIo, deps: UiDeps = {}): Promise<number> {
  let values: {
    stack?: string;
    url?: string;
    region?: string;
    port?: string;
    'results-bucket'?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        stack: { type: 'string' },
        url: { type: 'string' },
        region: { type: 'string' },
        port: { type: 'string' },
        'results-bucket': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) {
    io.out(USAGE);
    return EXIT.ok;
  }
  if (values.stack && values.url) throw new UsageError('give --stack NAME or --url API_URL, not both');
  if (!values.stack && !values.url)
    throw new UsageError('--stack NAME or --url API_URL is required (the stack output OpsApiUrl)');
  const port = values.port === undefined ? 4890 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port "${values.port}" is not a port`);
  let stack: Awaited<ReturnType<typeof resolveStack>> | undefined;
  if (values.stack) {
    try {
      stack = await resolveStack(
        values.stack,
        values.region ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION,
        deps.cloudFormation,
      );
    } catch (err) {
      io.err(`relay ui: ${(err as Error).message}`);
      return EXIT.failed;
    }
  }
  const url = stack?.apiUrl ?? values.url ?? '';
  let apiUrl: URL;
  try {
    apiUrl = new URL(url);
  } catch {
    throw new UsageError(`--url "${url}" is not a URL`);
  }
  const region =
    values.region ??
    stack?.region ??
    regionOfApiUrl(apiUrl.href) ??
    io.env.AWS_REGION ??
    io.env.AWS_DEFAULT_REGION;
  if (!region)
    throw new UsageError('--region is required (the URL does not say it and AWS_REGION is not set)');
  const resultsBucket = values['results-bucket'] ?? stack?.resultsBucket;

  const credentials = deps.credentials ?? defaultProvider();
  const s3 = new S3Client({ region, credentials });
  let proxy: UiProxy;
  try {
    proxy = await startUiProxy({
      apiUrl: apiUrl.href,
      region,
      credentials,
      s3,
      ...(resultsBucket ? { resultsBucket } : {}),
      port,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
  } catch (err) {
    s3.destroy();
    io.err(`relay ui: could not listen on 127.0.0.1:${port}: ${(err as Error).message}`);
    return EXIT.failed;
  }
  io.out(`ops page  ${proxy.url}`);
  io.out(
    `          API calls go to ${apiUrl.origin}${apiUrl.pathname.replace(/\/$/, '')} signed for ${region}; Ctrl-C stops`,
  );
  await (deps.until ?? untilSignal)(proxy);
  await proxy.stop();
  s3.destroy();
  return EXIT.ok;
}

export const uiCommand: Command = {
  name: 'ui',
  summary: 'serve the ops page for a deployed stack on 127.0.0.1, signing its API calls (like kubectl proxy)',
  usage: USAGE,
  run: (args, io) => runUi(args, io),
};
