/**
 * The local CLI: `npm start` and `npm run demo`.
 *
 *   start  the local stack (config/example.yaml) + the four vendor simulators, uploads the demo files, shows
 *          each file's progress from the status table, then keeps running: files dropped into the inbox folder
 *          or uploaded through the local S3 endpoint are shown too. Ctrl-C stops everything (exit 0).
 *   demo   the same upload non-interactively; exits 0 once every demo file is in its expected final status,
 *          1 when one is not (or after 90 s).
 *
 * Loopback only: the stack's guard refuses every non-loopback connection, the simulators bind 127.0.0.1.
 * The relay's JSON logs go to a file (.relay/relay.log) so the terminal shows progress lines only.
 */
import { mkdirSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { ConfigError, formatViolations, type LoadedConfig, loadConfigFile } from '#domain/config/load.ts';
import { isSidecarKey, listStreams } from '#domain/config/match.ts';
import type { RelayConfig } from '#domain/config/types.ts';
import { VENDORS } from '#vendors/registry.ts';
import { compactUtc, demoFiles } from './demo/files.ts';
import { InboxWatcher } from './demo/inbox.ts';
import { bold, dim, divertRelayLogs, green, type Print, red, seconds, size, yellow } from './demo/output.ts';
import {
  DEFAULT_PORTS,
  DEMO_CREDENTIALS,
  type DemoSimulators,
  freeOrEphemeral,
  startDemoSimulators,
} from './demo/simulators.ts';
import { StatusTracker, summarize, type Tracked, type UploadSource } from './demo/tracker.ts';
import { putObject } from './ingest.ts';
import { type LocalStack, startLocalStack } from './stack.ts';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const CONFIG_FILE = 'config/example.yaml';
export const DEMO_DEADLINE_MS = 90_000;

export const USAGE = `Usage: node --import tsx local/cli.ts <command> [options]     (npm start, npm run demo)

Commands:
  start   Start the relay on local emulators and vendor simulators (127.0.0.1 only, config/example.yaml),
          upload the demo files and show their progress, then keep running: files dropped into the inbox
          folder or uploaded through the local S3 endpoint are shown too. Ctrl-C stops everything.
  demo    The same demo, non-interactively: exits 0 once every demo file reached its expected final
          status, 1 if one did not (or after ${DEMO_DEADLINE_MS / 1000} s).

Options:
  --inbox DIR         the watched folder of 'start' (default .relay/inbox; or env RELAY_INBOX)
  --log-file FILE     where the relay's JSON logs go (default .relay/relay.log)
  --ephemeral-ports   skip the fixed default ports (S3 ${DEFAULT_PORTS.s3}, simulators ${DEFAULT_PORTS.instrumental}-${DEFAULT_PORTS.instaVid360})
  -h, --help          this text

With npm, put options after --:  npm start -- --inbox /tmp/inbox`;

export interface CliOptions {
  command: 'start' | 'demo';
  inbox: string;
  logFile: string;
  fixedPorts: boolean;
}

export type ParsedCli =
  | { kind: 'run'; options: CliOptions }
  | { kind: 'help' }
  | { kind: 'error'; message: string };

export function parseCli(argv: string[], env: NodeJS.ProcessEnv = process.env): ParsedCli {
  let parsed: ReturnType<typeof parseCliArgs>;
  try {
    parsed = parseCliArgs(argv);
  } catch (err) {
    return { kind: 'error', message: (err as Error).message };
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  const [command, ...extra] = positionals;
  if (command === undefined || command === 'help') return { kind: 'help' };
  if (command !== 'start' && command !== 'demo')
    return { kind: 'error', message: `unknown command "${command}"` };
  if (extra.length > 0) return { kind: 'error', message: `unexpected argument "${extra[0]}"` };
  return {
    kind: 'run',
    options: {
      command,
      inbox: resolve(values.inbox ?? env.RELAY_INBOX ?? resolve(ROOT, '.relay/inbox')),
      logFile: resolve(values['log-file'] ?? resolve(ROOT, '.relay/relay.log')),
      fixedPorts: !values['ephemeral-ports'],
    },
  };
}

function parseCliArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      inbox: { type: 'string' },
      'log-file': { type: 'string' },
      'ephemeral-ports': { type: 'boolean' },
    },
  });
}

/** What to stop, in reverse order of start; also waits for starts still under way. */
class Session {
  private readonly closers: Array<() => unknown> = [];
  private readonly pending: Array<Promise<unknown>> = [];
  private closing: Promise<void> | undefined;

  get closed(): boolean {
    return this.closing !== undefined;
  }

  add(closer: () => unknown): void {
    if (this.closing) void Promise.resolve().then(closer);
    else this.closers.push(closer);
  }

  /** A start under way: close() waits for it to settle (its resource is then added and stopped). */
  starting<T>(p: Promise<T>): Promise<T> {
    this.pending.push(p.catch(() => undefined));
    return p;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.all(this.pending);
      for (const closer of this.closers.reverse()) {
        try {
          await closer();
        } catch {
          // release everything else anyway
        }
      }
      this.closers.length = 0;
    })();
    return this.closing;
  }
}

/** The path as typed relative to the working directory, when it is under it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** Secrets the config names, with fake demo keys the simulators accept. */
function demoSecrets(config: RelayConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const t of config.data_transmit) {
    if (t.api_key_secret && t.transmit_type === 'instrumental')
      out[t.api_key_secret] = DEMO_CREDENTIALS.instrumental;
  }
  return out;
}

async function startStack(configFile: string, config: RelayConfig, s3Port: number): Promise<LocalStack> {
  const options = {
    configFile,
    secrets: demoSecrets(config),
    pollEveryMs: 1000,
    logLevel: 'warn' as const,
  };
  try {
    return await startLocalStack({ ...options, emulators: { fauxqsPort: s3Port } });
  } catch (err) {
    // The fixed S3 port was free a moment ago; someone took it since: go ephemeral.
    if (s3Port === 0 || !/EADDRINUSE/.test(String((err as Error).message ?? err))) throw err;
    return startLocalStack({ ...options, emulators: { fauxqsPort: 0 } });
  }
}

function printBanner(
  print: Print,
  o: CliOptions,
  stack: LocalStack,
  sims: DemoSimulators,
  config: RelayConfig,
  secrets: string[],
) {
  const { endpoints } = stack;
  print(bold('Local AWS') + dim(' (emulators on 127.0.0.1, fake credentials, in memory: gone on exit)'));
  print(
    `  S3 + SQS      ${endpoints.s3}   ingest bucket ${bold(stack.buckets.ingest)}${stack.ingestVersioned ? ' (versioned)' : ''}, results ${stack.buckets.results}`,
  );
  print(
    `  DynamoDB      ${endpoints.dynamodb}   status table ${stack.tableName} (DynamoDB Local, java pid ${stack.emulators.dynamodbPid})`,
  );
  print(`  Secrets       ${endpoints.secretsManager}   ${secrets.join(', ') || 'none'} (fake demo key)`);
  print(`  HTTP API      ${stack.apiUrl}   POST /callbacks/{vendor}/{token}`);
  const dests = config.data_transmit
    .map((t) => `${t.transmit_name} → ${t.transmit_type} ${t.base_url}`)
    .join('; ');
  print(`  config        ${CONFIG_FILE}   ${dests}`);
  print(`  relay logs    ${shown(o.logFile)} (warn and above; the terminal shows progress only)`);
  print('');
  print(
    bold('Vendor simulators') +
      dim(
        ' (fake demo credentials; every simulator has GET /__sim/requests, /__sim/state, GET|PUT /__sim/faults, POST /__sim/reset)',
      ),
  );
  for (const s of sims.all) {
    const users = config.data_transmit
      .filter((t) => t.base_url.replace(/\/+$/, '') === s.url)
      .map((t) => t.transmit_name);
    print(
      `  ${s.name.padEnd(13)} ${s.url}   ${users.length ? `used by ${users.join(', ')}` : dim('not in the demo config')}`,
    );
    print(dim(`                auth    ${s.credentials}`));
    print(
      dim(`                inspect ${s.url}/__sim/requests | /__sim/state | /__sim/faults | /__sim/reset`),
    );
    print(dim(`                knobs   ${s.readme}`));
  }
  print('');
}

function printDropHelp(print: Print, o: CliOptions, stack: LocalStack, config: RelayConfig) {
  const example = `line-1/aoi-top/SN-2001_${compactUtc(new Date())}.jpg`;
  const inbox = shown(o.inbox);
  print('');
  print(bold('Still running. Ctrl-C stops everything.'));
  print(`  Drop files into ${bold(`${inbox}/`)} — the path under it becomes the object key, e.g.`);
  print(`    mkdir -p ${inbox}/line-1/aoi-top && cp photo.jpg ${inbox}/${example}`);
  print(`  or upload through the local S3 endpoint (any access key works):`);
  print(
    `    AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws s3 cp photo.jpg s3://${stack.buckets.ingest}/${example} --endpoint-url ${stack.endpoints.s3} --region us-east-1`,
  );
  const patterns = listStreams(config).map(
    (s) => `${s.stream.key_pattern} (${s.stream.asset}:${s.stream.stream_type})`,
  );
  print(`  Keys the config routes: ${patterns.join(', ')}; a sidecar is <key>.json, uploaded first.`);
  print('');
}

/** Runs `start` or `demo`. Answers the exit code, or 'running' when `start` is up and serving. */
async function run(o: CliOptions, session: Session, print: Print, logs: ReturnType<typeof divertRelayLogs>) {
  const t0 = Date.now();
  const configFile = resolve(ROOT, CONFIG_FILE);
  print(
    `${bold(`factory-relay ${o.command}`)}${dim(' — the relay on local emulators and vendor simulators, 127.0.0.1 only (no AWS account, no network)')}`,
  );
  print('');

  const sims = await session.starting(startDemoSimulators({ fixedPorts: o.fixedPorts }));
  session.add(() => sims.stop());
  const instrumentalUrl = sims.all.find((s) => s.name === 'instrumental')!.url;
  if (process.env.INSTRUMENTAL_URL && process.env.INSTRUMENTAL_URL !== instrumentalUrl)
    print(dim(`  (INSTRUMENTAL_URL=${process.env.INSTRUMENTAL_URL} replaced by the local simulator)`));
  // config/example.yaml reads ${INSTRUMENTAL_URL:-http://127.0.0.1:4810}: the simulator, wherever it listens.
  process.env.INSTRUMENTAL_URL = instrumentalUrl;

  let loaded: LoadedConfig;
  try {
    loaded = loadConfigFile(configFile, VENDORS);
  } catch (err) {
    if (err instanceof ConfigError) {
      print(red(err.message));
      return 1;
    }
    throw err;
  }
  const config = loaded.config;
  if (loaded.violations.length > 0) print(yellow(formatViolations(loaded.violations)));

  print(
    dim('Starting the local stack (fauxqs S3+SQS, DynamoDB Local, Secrets Manager emulator, the handlers)…'),
  );
  const s3Port = o.fixedPorts ? await freeOrEphemeral(DEFAULT_PORTS.s3) : 0;
  const stack = await session.starting(startStack(configFile, config, s3Port));
  session.add(() => stack.stop());
  if (session.closed) return 0;
  print(dim(`…ready in ${seconds(Date.now() - t0)}.`));
  print('');

  const bucket = stack.buckets.ingest;
  stack.runner.on('result', (e) => {
    if (e.outcome !== 'success')
      logs.write({
        event: 'invocation',
        function: e.functionName,
        outcome: e.outcome,
        error: String(e.error ?? ''),
      });
  });
  stack.runner.on('pollError', (e) =>
    logs.write({ event: 'pollError', function: e.functionName, error: String(e.error) }),
  );
  stack.notifier.on('sendError', (e) => {
    logs.write({ event: 'notificationError', key: e.key, error: String(e.error) });
    print(red(`  S3 notification for ${e.key} could not be sent: ${String(e.error)}`));
  });

  printBanner(print, o, stack, sims, config, Object.keys(demoSecrets(config)));

  const files = demoFiles();
  const tracker = new StatusTracker({
    keyWidth: Math.max(46, ...files.map((f) => f.key.length)),
    ddb: stack.clients.ddb,
    tableName: stack.tableName,
    bucket,
    config,
    print,
    t0,
    everyMs: 300,
    onError: (error, key) => logs.write({ event: 'statusQueryError', key, error: String(error) }),
  });
  tracker.start();
  session.add(() => tracker.stop());

  // Uploads by this process: their notifications are not "someone else's upload".
  const inFlight = new Set<string>();
  const ours = new Set<string>();
  const sidecarNote = dim('sidecar (the router reads it with its file; not routed on its own)');

  const upload = async (
    key: string,
    body: Buffer | { path: string; size: number },
    source: UploadSource,
    extra: { note?: string; expect?: Tracked['expect']; withSidecar?: boolean; contentType?: string } = {},
  ): Promise<Tracked | undefined> => {
    inFlight.add(key);
    try {
      const put = await putObject(stack.clients.s3, bucket, key, body, extra.contentType);
      ours.add(`${key}\n${put.versionId ?? put.etag}`);
      const sidecar = isSidecarKey(config, key, bucket);
      const what = [
        `${dim('uploaded')} ${size(put.size)}`,
        source === 'inbox' ? dim('from the inbox') : '',
        extra.withSidecar ? dim('+ sidecar .json') : '',
        sidecar ? sidecarNote : '',
        extra.note ? yellow(extra.note) : '',
      ]
        .filter(Boolean)
        .join('  ');
      print(`${tracker.prefix(key)}${what}`);
      if (sidecar || key.endsWith('/')) return undefined;
      return tracker.track({
        key,
        etag: put.etag,
        source,
        ...(put.versionId ? { versionId: put.versionId } : {}),
        ...(extra.expect ? { expect: extra.expect } : {}),
      });
    } finally {
      inFlight.delete(key);
    }
  };

  // Uploads by other tools (aws s3 cp, an SDK script) through the S3 endpoint: learned from the notifier.
  stack.notifier.on('notification', (e) => {
    if (e.bucket !== bucket || inFlight.has(e.key)) return;
    if (ours.has(`${e.key}\n${e.versionId ?? ''}`)) return;
    void (async () => {
      let etag = '';
      if (!e.versionId) {
        const head = await stack.clients.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: e.key }));
        etag = (head.ETag ?? '').replace(/"/g, '');
        if (ours.has(`${e.key}\n${etag}`)) return;
      }
      const ref = { key: e.key, etag, ...(e.versionId ? { versionId: e.versionId } : {}) };
      if (tracker.has(ref)) return;
      const sidecar = isSidecarKey(config, e.key, bucket);
      print(
        `${tracker.prefix(e.key)}${dim('uploaded through the S3 endpoint')}${sidecar ? `  ${sidecarNote}` : ''}`,
      );
      if (!sidecar && !e.key.endsWith('/')) tracker.track({ ...ref, source: 's3' });
    })().catch((error: unknown) =>
      logs.write({ event: 'externalUploadError', key: e.key, error: String(error) }),
    );
  });

  // The demo files, as a factory sync would upload them (each sidecar before its file).
  print(
    bold(`Uploading ${files.length} demo files to s3://${bucket}/`) +
      dim(' (progress from the status table)'),
  );
  print(tracker.header());
  const tUpload = Date.now();
  const demo: Tracked[] = [];
  for (const f of files) {
    if (session.closed) return 0;
    if (f.sidecar) {
      const key = `${f.key}.json`;
      inFlight.add(key);
      try {
        const put = await putObject(
          stack.clients.s3,
          bucket,
          key,
          Buffer.from(JSON.stringify(f.sidecar, null, 2)),
        );
        ours.add(`${key}\n${put.versionId ?? put.etag}`);
      } finally {
        inFlight.delete(key);
      }
    }
    const t = await upload(f.key, f.body, 'demo', {
      expect: f.expect,
      contentType: f.contentType,
      ...(f.note ? { note: f.note } : {}),
      ...(f.sidecar ? { withSidecar: true } : {}),
    });
    if (t) demo.push(t);
  }

  const deadline = t0 + DEMO_DEADLINE_MS;
  while (!session.closed && Date.now() < deadline && !demo.every((t) => t.settled)) await sleep(100);
  if (session.closed) return 0;

  const elapsed = Date.now() - tUpload;
  const wrong = demo.filter((t) => !StatusTracker.meetsExpectation(t));
  const timedOut = demo.some((t) => !t.settled);
  print('');
  const summary = `demo: ${summarize(demo)} in ${seconds(elapsed)}`;
  print(bold(wrong.length > 0 ? red(summary) : green(summary)));
  if (wrong.length > 0) {
    print(
      red(
        timedOut
          ? `demo: FAILED — not every demo file reached a final status within ${DEMO_DEADLINE_MS / 1000} s:`
          : 'demo: FAILED — a demo file did not end as expected:',
      ),
    );
    for (const t of wrong) print(red(`  ${t.key}: ${StatusTracker.describeOutcome(t)}`));
    print(dim(`  relay logs: ${shown(o.logFile)}`));
  } else {
    print(
      dim(
        `  ${files.filter((f) => f.expect.status === 'UPLOADED').length} files reached Instrumental (simulator); the failures are the deliberately bad files.`,
      ),
    );
  }
  if (o.command === 'demo') return wrong.length > 0 ? 1 : 0;

  // start: keep running, watch the inbox.
  mkdirSync(o.inbox, { recursive: true });
  printDropHelp(print, o, stack, config);
  const inbox = new InboxWatcher({
    dir: o.inbox,
    isSidecar: (key) => isSidecarKey(config, key, bucket),
    upload: async (file) => {
      await upload(file.key, { path: file.path, size: file.size }, 'inbox');
    },
    onError: (error, file) => {
      logs.write({ event: 'inboxError', key: file?.key, error: String(error) });
      if (file)
        print(red(`${tracker.prefix(file.key)}upload failed: ${String((error as Error).message ?? error)}`));
    },
  });
  inbox.start();
  session.add(() => inbox.stop());
  return 'running' as const;
}

async function main(argv: string[]): Promise<void> {
  const parsed = parseCli(argv);
  if (parsed.kind === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`${parsed.message}\n\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const o = parsed.options;
  const session = new Session();
  const logs = divertRelayLogs(o.logFile);
  session.add(() => logs.close());
  const print = logs.print;

  let signalled = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signalled) {
      print(red(`${signal} again: exiting without a clean stop`));
      process.exit(130);
    }
    signalled = true;
    print('');
    print(dim(`${signal}: stopping the simulators and the local stack…`));
    void session.close().then(() => {
      print('stopped.');
      process.exit(0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let code: number | 'running';
  try {
    code = await run(o, session, print, logs);
  } catch (err) {
    if (signalled) return; // the signal handler is stopping everything
    const message = (err as Error).message ?? String(err);
    print(red(`error: ${process.env.RELAY_DEBUG ? ((err as Error).stack ?? message) : message}`));
    if (/java|DynamoDB Local/i.test(message))
      print(dim('  DynamoDB Local needs Java 17 or later on the PATH (see the Quick start in README.md).'));
    print(dim(`  relay logs: ${shown(o.logFile)}; set RELAY_DEBUG=1 for a stack trace.`));
    code = 1;
  }
  if (code === 'running' || signalled) return;
  await session.close();
  process.exit(code);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv.slice(2));
}
