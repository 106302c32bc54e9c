/**
 * The local CLI: `npm start` and `npm run demo`.
 *
 *   start  the local stack + the four vendor simulators. With the demo config (config/example.yaml) it uploads
 *          the demo files and shows each file's progress from the status table; with `--config FILE` it runs
 *          that config and uploads nothing. Then it keeps running: files dropped into the inbox folder or
 *          uploaded through the local S3 endpoint are shown too. Ctrl-C stops everything (exit 0).
 *   demo   the same non-interactively: exits 0 once every demo file is in its expected final status, 1 when
 *          one is not (or after 90 s). With `--config FILE`: uploads the files in the inbox folder once and
 *          exits 0 when every one was delivered (an empty inbox: once the stack is up).
 *
 * A destination whose base_url is a local simulator's URL uses that simulator (with its fake key); any other
 * base_url is used as the config says, with its key from RELAY_SECRET_<NAME> or .relay/secrets.json
 * (local/demo/destinations.ts). The loopback guard lets through loopback and exactly those base_url hosts.
 * Every endpoint in use is printed and written to .relay/endpoints.json (removed on exit).
 * The relay's JSON logs go to a file (.relay/relay.log) so the terminal shows progress lines only.
 * The local stack's state is in memory (gone on exit) unless `--data-dir DIR` keeps it in that folder: a later
 * start on the same folder carries on with every object, queue message, record and secret (local/data-dir.ts);
 * a second start on a folder in use is refused.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { ConfigError, formatViolations, type LoadedConfig, loadConfigFile } from '#domain/config/load.ts';
import { isSidecarKey, listStreams } from '#domain/config/match.ts';
import type { RelayConfig } from '#domain/config/types.ts';
import { SUCCESS } from '#domain/status.ts';
import { VENDORS } from '#vendors/registry.ts';
import { DataDirInUseError, NotADataDirError } from './data-dir.ts';
import {
  type DestinationPlan,
  destinationHosts,
  movedSimulatorWarnings,
  planDestinations,
  type ResolvedSecrets,
  readSecretsFile,
  resolveSecrets,
  SECRET_ENV_PREFIX,
} from './demo/destinations.ts';
import {
  type EndpointsFile,
  endpointsOf,
  removeEndpointsFile,
  writeEndpointsFile,
} from './demo/endpoints.ts';
import { compactUtc, demoFiles } from './demo/files.ts';
import { InboxWatcher } from './demo/inbox.ts';
import { bold, dim, divertRelayLogs, green, type Print, red, seconds, size, yellow } from './demo/output.ts';
import {
  DEFAULT_PORTS,
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
  start   Start the relay on local emulators and vendor simulators (config/example.yaml, or --config),
          upload the demo files (demo config only) and show their progress, then keep running: files
          dropped into the inbox folder or uploaded through the local S3 endpoint are shown too.
          Ctrl-C stops everything.
  demo    The same, non-interactively: exits 0 once every demo file reached its expected final status,
          1 if one did not (or after ${DEMO_DEADLINE_MS / 1000} s). With --config: uploads the inbox's files once
          and exits 0 when every one was delivered.

Options:
  --config FILE          run this relay config instead of the demo (no demo files are uploaded). Its
                         destinations on a local simulator's URL use that simulator; any other base_url is
                         used as written, with its API key from ${SECRET_ENV_PREFIX}<NAME> or the secrets file
  --secrets FILE         secret name → value JSON for those keys (default .relay/secrets.json)
  --inbox DIR            the watched folder (default .relay/inbox; or env RELAY_INBOX)
  --endpoints-file FILE  where the endpoints in use are written (default .relay/endpoints.json)
  --log-file FILE        where the relay's JSON logs go (default .relay/relay.log)
  --data-dir DIR         keep the local stack's state (S3 objects, queue messages, the status table, secrets)
                         in DIR across restarts, e.g. .relay/data; default: in memory, gone on exit.
                         One running stack per folder: a second start on it is refused
  --ephemeral-ports      skip the fixed default ports (S3 ${DEFAULT_PORTS.s3}, simulators ${DEFAULT_PORTS.instrumental}-${DEFAULT_PORTS.instaVid360})
  -h, --help             this text

With npm, put options after --:  npm start -- --config my-factory.yaml`;

export interface CliOptions {
  command: 'start' | 'demo';
  /** Absolute; undefined: the demo config. */
  configFile?: string;
  secretsFile: string;
  endpointsFile: string;
  inbox: string;
  logFile: string;
  fixedPorts: boolean;
  /** Absolute; undefined: in memory. */
  dataDir?: string;
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
      ...(values.config !== undefined ? { configFile: resolve(values.config) } : {}),
      secretsFile: resolve(values.secrets ?? resolve(ROOT, '.relay/secrets.json')),
      endpointsFile: resolve(values['endpoints-file'] ?? resolve(ROOT, '.relay/endpoints.json')),
      inbox: resolve(values.inbox ?? env.RELAY_INBOX ?? resolve(ROOT, '.relay/inbox')),
      logFile: resolve(values['log-file'] ?? resolve(ROOT, '.relay/relay.log')),
      fixedPorts: !values['ephemeral-ports'],
      ...(values['data-dir'] !== undefined ? { dataDir: resolve(values['data-dir']) } : {}),
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
      config: { type: 'string' },
      secrets: { type: 'string' },
      'endpoints-file': { type: 'string' },
      inbox: { type: 'string' },
      'log-file': { type: 'string' },
      'ephemeral-ports': { type: 'boolean' },
      'data-dir': { type: 'string' },
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

async function startStack(
  configFile: string,
  secrets: Record<string, string>,
  allowHosts: string[],
  s3Port: number,
  dataDir: string | undefined,
  logFile: string,
): Promise<LocalStack> {
  const options = {
    configFile,
    logFile,
    secrets,
    allowHosts,
    pollEveryMs: 1000,
    logLevel: 'warn' as const,
    ...(dataDir ? { dataDir } : {}),
  };
  try {
    return await startLocalStack({ ...options, emulators: { fauxqsPort: s3Port } });
  } catch (err) {
    // The fixed S3 port was free a moment ago; someone took it since: go ephemeral.
    if (s3Port === 0 || !/EADDRINUSE/.test(String((err as Error).message ?? err))) throw err;
    return startLocalStack({ ...options, emulators: { fauxqsPort: 0 } });
  }
}

interface BannerInput {
  stack: LocalStack;
  sims: DemoSimulators;
  plans: DestinationPlan[];
  secrets: ResolvedSecrets;
  configFile: string;
  endpoints: EndpointsFile;
}

/** The demo config's base_url variables and the simulator each defaults to (config/example.yaml). */
const moved = (e: EndpointsFile, name: string) => {
  const m = e.movedPorts[name];
  return m ? yellow(`  (port ${m.preferred} was taken)`) : '';
};

function printBanner(print: Print, o: CliOptions, b: BannerInput) {
  const { stack, endpoints: e } = b;
  print(
    bold('Local AWS') +
      dim(
        ` (emulators on 127.0.0.1, fake credentials, ${stack.dataDir ? 'state kept in the data dir' : 'in memory: gone on exit'})`,
      ),
  );
  if (stack.dataDir) {
    const found = stack.resourceChanges.existing.length;
    print(
      `  data dir      ${shown(stack.dataDir)}   ${found > 0 ? 'state of an earlier run, carried on' : 'new'}; kept on exit, locked while this runs`,
    );
    for (const u of stack.resourceChanges.updated)
      print(yellow(`                updated to the config: ${u}`));
  } else {
    print(dim('  data dir      none: --data-dir DIR (e.g. .relay/data) keeps the state across restarts'));
  }
  print(
    `  S3 + SQS      ${e.s3}   ingest bucket ${bold(e.buckets.ingest)}${stack.ingestVersioned ? ' (versioned)' : ''}, results ${e.buckets.results}${moved(e, 's3')}`,
  );
  print(
    `  DynamoDB      ${e.dynamodb}   status table ${e.table} (DynamoDB Local, java pid ${stack.emulators.dynamodbPid})`,
  );
  const secretList = Object.entries(b.secrets.sources).map(([name, from]) =>
    from === 'simulator' ? `${name} (fake demo key)` : `${name} (from the ${from})`,
  );
  print(`  Secrets       ${e.secretsManager}   ${secretList.join(', ') || 'none'}`);
  print(`  HTTP API      ${e.httpApi}   POST /callbacks/{vendor}/{token}`);
  print(`  ops page      ${bold(e.ui)}   open it in a browser: status, find a serial, failures, actions`);
  print(
    `  SQS queues    ${Object.values(e.queues)
      .map((q) => q.name)
      .join(', ')} (each with a -dlq)`,
  );
  print(`  config        ${shown(b.configFile)}`);
  for (const p of b.plans) {
    const where = p.simulator
      ? `local ${p.simulator.name} simulator`
      : yellow('as the config says (not a local simulator)');
    const off = p.transmit.enabled === false ? dim(' (enabled: false)') : '';
    print(
      `    ${p.transmit.transmit_name} → ${p.transmit.transmit_type} ${p.transmit.base_url}   ${where}${off}`,
    );
  }
  print(
    `  network       loopback only${e.allowedHosts.length ? `, plus the config's base_url hosts: ${e.allowedHosts.join(', ')}` : ''}; every other host is refused`,
  );
  print(`  relay logs    ${shown(o.logFile)} (warn and above; the terminal shows progress only)`);
  print(`  endpoints     ${shown(o.endpointsFile)}   e.g. jq -r .s3 ${shown(o.endpointsFile)}`);
  print('');
  print(
    bold('Vendor simulators') +
      dim(
        ' (fake demo credentials; every simulator has GET /__sim/requests, /__sim/state, GET|PUT /__sim/faults, POST /__sim/reset)',
      ),
  );
  for (const s of b.sims.all) {
    const users = b.plans.filter((p) => p.simulator === s).map((p) => p.transmit.transmit_name);
    print(
      `  ${s.name.padEnd(13)} ${s.url}   ${users.length ? `used by ${users.join(', ')}` : dim('not in the config')}${moved(e, s.name)}`,
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
  const example =
    o.configFile === undefined ? `line-1/aoi-top/SN-2001_${compactUtc(new Date())}.jpg` : '<key>';
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
  print(`  Keys the config routes: ${patterns.join(', ')}; a sidecar beside its file, uploaded first.`);
  print(
    dim(
      `  The endpoints, bucket and queue names are in ${shown(o.endpointsFile)}, e.g. --endpoint-url "$(jq -r .s3 ${shown(o.endpointsFile)})".`,
    ),
  );
  print('');
}

/** Runs `start` or `demo`. Answers the exit code, or 'running' when `start` is up and serving. */
/** The environment variable config/example.yaml reads each simulator's base_url from. */
/** Simulator name → the variable config/example.yaml reads its destination's base_url from. */
const DEMO_URL_VARIABLES: Readonly<Record<string, string>> = {
  instrumental: 'INSTRUMENTAL_URL',
  'edge-impulse': 'EDGE_IMPULSE_URL',
  'v7-darwin': 'V7_URL',
  instavid360: 'INSTAVID360_URL',
};

async function run(o: CliOptions, session: Session, print: Print, logs: ReturnType<typeof divertRelayLogs>) {
  const t0 = Date.now();
  const ownConfig = o.configFile !== undefined;
  const configFile = o.configFile ?? resolve(ROOT, CONFIG_FILE);
  print(
    `${bold(`factory-relay ${o.command}`)}${dim(' — the relay on local emulators and vendor simulators (no AWS account)')}`,
  );
  print('');
  if (ownConfig && !existsSync(configFile)) {
    print(red(`error: no config file ${configFile}`));
    return 1;
  }

  const sims = await session.starting(startDemoSimulators({ fixedPorts: o.fixedPorts }));
  session.add(() => sims.stop());
  // config/example.yaml reads ${INSTRUMENTAL_URL:-http://127.0.0.1:4810} (and one such variable per vendor): the
  // simulator, wherever it listens, unless the variable says otherwise (then it is used as the config says,
  // like any other base_url).
  if (!ownConfig) {
    for (const [name, variable] of Object.entries(DEMO_URL_VARIABLES)) {
      const sim = sims.all.find((s) => s.name === name);
      if (sim && !process.env[variable]) process.env[variable] = sim.url;
    }
  }

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

  const plans = planDestinations(config, sims.all);
  for (const w of movedSimulatorWarnings(plans, sims.all)) print(yellow(`warning: ${w}`));
  let secrets: ResolvedSecrets;
  try {
    secrets = resolveSecrets(plans, process.env, readSecretsFile(o.secretsFile), shown(o.secretsFile));
  } catch (err) {
    print(red(`error: ${(err as Error).message}`));
    return 1;
  }
  if (secrets.problems.length > 0) {
    print(red('error: the config names API keys that have no value here:'));
    for (const p of secrets.problems) print(red(`  ${p}`));
    print(
      dim(
        `  A destination on a local simulator gets the simulator's fake key; any other needs its real key, from the environment (${SECRET_ENV_PREFIX}<NAME>) or ${shown(o.secretsFile)} ({"<secret name>": "<value>"}, git-ignored).`,
      ),
    );
    return 1;
  }
  const allowHosts = destinationHosts(plans);

  print(
    dim('Starting the local stack (fauxqs S3+SQS, DynamoDB Local, Secrets Manager emulator, the handlers)…'),
  );
  const s3Port = o.fixedPorts ? await freeOrEphemeral(DEFAULT_PORTS.s3) : 0;
  const stack = await session.starting(
    startStack(configFile, secrets.values, allowHosts, s3Port, o.dataDir, o.logFile),
  );
  session.add(() => stack.stop());
  if (session.closed) return 0;
  print(dim(`…ready in ${seconds(Date.now() - t0)}.`));
  print('');

  const endpoints = endpointsOf({
    stack,
    sims: sims.all,
    plans,
    allowedHosts: allowHosts,
    configFile,
    preferredS3Port: o.fixedPorts ? DEFAULT_PORTS.s3 : 0,
    inbox: o.inbox,
    logFile: o.logFile,
  });
  writeEndpointsFile(o.endpointsFile, endpoints);
  session.add(() => removeEndpointsFile(o.endpointsFile));

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

  printBanner(print, o, { stack, sims, plans, secrets, configFile, endpoints });

  const files = ownConfig ? [] : demoFiles();
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

  // What the run uploads and follows to the end: the demo files, or (demo with --config) the inbox's files.
  const followed: Tracked[] = [];
  const tUpload = Date.now();
  if (!ownConfig) {
    print(
      bold(`Uploading ${files.length} demo files to s3://${bucket}/`) +
        dim(' (progress from the status table)'),
    );
    print(tracker.header());
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
      if (t) followed.push(t);
    }
  } else if (o.command === 'demo') {
    const found = await inbox.list();
    print(
      bold(`Uploading ${found.length} file${found.length === 1 ? '' : 's'} from ${shown(o.inbox)}/`) +
        dim(' (progress from the status table)'),
    );
    if (found.length > 0) print(tracker.header());
    for (const f of found) {
      if (session.closed) return 0;
      const t = await upload(f.key, { path: f.path, size: f.size }, 'inbox');
      if (t) followed.push(t);
    }
  }

  if (followed.length > 0 || o.command === 'demo') {
    const deadline = t0 + DEMO_DEADLINE_MS;
    while (!session.closed && Date.now() < deadline && !followed.every((t) => t.settled)) await sleep(100);
    if (session.closed) return 0;
    const elapsed = Date.now() - tUpload;
    // Demo files have an expected end; a config's own files are expected to be delivered.
    const delivered = (t: Tracked) =>
      t.settled && [...t.records.values()].every((r) => SUCCESS.includes(r.rec.status));
    const wrong = followed.filter((t) => !(t.expect ? StatusTracker.meetsExpectation(t) : delivered(t)));
    const timedOut = followed.some((t) => !t.settled);
    print('');
    const summary = `demo: ${summarize(followed)} in ${seconds(elapsed)}`;
    print(bold(wrong.length > 0 ? red(summary) : green(summary)));
    printResults(print, followed);
    if (wrong.length > 0) {
      print(
        red(
          timedOut
            ? `demo: FAILED — not every file reached a final status within ${DEMO_DEADLINE_MS / 1000} s:`
            : 'demo: FAILED — a file did not end as expected:',
        ),
      );
      for (const t of wrong) print(red(`  ${t.key}: ${StatusTracker.describeOutcome(t)}`));
      print(dim(`  relay logs: ${shown(o.logFile)}`));
    } else if (!ownConfig) {
      print(dim(`  every file ended as the demo expects; the failures are the deliberately bad files.`));
    }
    if (o.command === 'demo') return wrong.length > 0 ? 1 : 0;
  }

  // start: keep running, watch the inbox.
  mkdirSync(o.inbox, { recursive: true });
  printDropHelp(print, o, stack, config);
  inbox.start();
  session.add(() => inbox.stop());
  return 'running' as const;
}

/** Where the vendors' results landed (InstaVid360's processed images in the results bucket), one line each. */
function printResults(print: Print, followed: readonly Tracked[]): void {
  const results = followed.flatMap((t) =>
    [...t.records.values()].flatMap(({ rec }) => {
      const where = (rec as { vendorDetail?: { result?: unknown } }).vendorDetail?.result;
      return rec.status === 'COMPLETED' && typeof where === 'string' ? [{ key: t.key, where }] : [];
    }),
  );
  if (results.length === 0) return;
  print(
    bold(
      `results: ${results.length} processed image${results.length === 1 ? '' : 's'} in the results bucket`,
    ),
  );
  for (const r of results) print(`  ${r.where}  ${dim(`← ${r.key}`)}`);
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
    // A data dir in use or not a data dir: the message says all there is to do.
    if (!(err instanceof DataDirInUseError || err instanceof NotADataDirError))
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
