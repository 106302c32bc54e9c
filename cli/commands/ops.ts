/**
 * The ops commands of `relay` (docs/ops-api.md): status, streams, where, show, restream, stop, start, dlq,
 * config, logs. Each speaks to the local stack by default, or to `--stack NAME`; prints a table (or `--json`,
 * the API's envelope). Exit 0 done, 1 the API answered a failure (or `where` found a failed delivery, or no
 * answer came: one line says why), 2 usage.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { type Command, type CommandIo, EXIT, UsageError } from '../command.ts';
import { configBody } from '../config-body.ts';
import { type Envelope, opsClient, UnreachableError } from '../ops-client.ts';

const COMMON = {
  json: { type: 'boolean' },
  stack: { type: 'string' },
  region: { type: 'string' },
  'endpoints-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;
const COMMON_HELP = `Common options:
  --stack NAME           a deployed stack (CloudFormation outputs; requests signed with your AWS credentials)
  --region REGION        its region (default: the SDK's)
  --endpoints-file FILE  the local stack's endpoints (default .relay/endpoints.json)
  --json                 print the API's envelope as JSON
  -h, --help             this text`;

type Row = Record<string, unknown>;

/** Columns copied into other commands (`relay show ID`, `--key`): never cut. */
const WHOLE = new Set(['id', 'key', 'messageId']);
const CELL_MAX = 60;

export function table(rows: Row[], cols: string[]): string {
  const cell = (v: unknown) =>
    v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  const cut = (c: string | undefined, v: string) =>
    c !== undefined && WHOLE.has(c) ? v : v.length > CELL_MAX ? `${v.slice(0, CELL_MAX - 1)}…` : v;
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cut(c, cell(r[c])).length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => cut(cols[i], v).padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(cols), ...rows.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}

/** An answer that is not the API's envelope (API Gateway, a proxy): `HTTP <status>: <message>`. */
class NotTheApi extends Error {}
/** A failure before any request (a file that cannot be read): one line. */
class LocalFailure extends Error {}

/** `--per-second N`: a number above 0, or a usage error (it was silently dropped). */
function perSecondOption(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new UsageError(`--per-second ${String(v)}: give a number above 0`);
  return n;
}

/** `relay config`'s subcommands, as validated before the target is resolved. */
type ConfigArgs =
  | { sub: 'get' }
  | { sub: 'versions' }
  | { sub: 'validate'; file: string }
  | { sub: 'save'; file: string }
  | { sub: 'templates'; type?: string };
const CONFIG_USAGE = 'config get | validate FILE | save FILE | versions | templates [TYPE]';

/** `relay where` follows `next` this many pages, then says how to read on. */
const WHERE_MAX_PAGES = 10;

/** What the ops commands are built with (tests pass stand-ins). */
export interface OpsCommandDeps {
  /** The CloudFormation client `--stack NAME` is resolved with, for its region (default: the SDK's). */
  cloudFormation?: (region: string | undefined) => CloudFormationClient;
}

interface Spec<A> {
  name: string;
  summary: string;
  args: string;
  options?: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }>;
  help?: string;
  /**
   * The command's own checks of its command line (throws UsageError), run before the target is resolved (no
   * endpoints file read, no CloudFormation call) and before any request: a usage error is exit 2 whatever the
   * target. Answers what `run` needs. None: the command takes only options.
   */
  validate?(positionals: string[], values: Record<string, unknown>): A;
  /** How many words (not options) the command takes at most (default 0); one more is a usage error. */
  maxPositionals?: number;
  run(ctx: {
    args: A;
    values: Record<string, unknown>;
    call: <T = Row>(method: string, path: string, body?: unknown) => Promise<Envelope<T>>;
    io: CommandIo;
  }): Promise<number>;
}

const q = (params: Record<string, unknown>) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') s.set(k, String(v));
  const t = s.toString();
  return t ? `?${t}` : '';
};
const failed = (env: Envelope<unknown>, io: CommandIo) => {
  if (env.success) return false;
  io.err(`relay: ${env.error?.code ?? 'FAILED'}: ${env.error?.text ?? 'the request failed'}`);
  return true;
};

function opsCommand<A>(spec: Spec<A>, deps: OpsCommandDeps): Command {
  const usage = `Usage: relay ${spec.name} ${spec.args}\n\n${spec.summary}\n${spec.help ? `\n${spec.help}\n` : ''}\n${COMMON_HELP}`;
  return {
    name: spec.name,
    summary: spec.summary,
    usage,
    async run(args, io) {
      let parsed: ReturnType<typeof parseArgs>;
      try {
        parsed = parseArgs({
          args,
          options: { ...COMMON, ...spec.options },
          allowPositionals: true,
          strict: true,
        });
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      const values = parsed.values as Record<string, unknown>;
      if (values.help) {
        io.out(usage);
        return EXIT.ok;
      }
      // The whole command line is checked before anything is read or asked of a stack.
      const extra = parsed.positionals[spec.maxPositionals ?? 0];
      if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`);
      const checked = spec.validate ? spec.validate(parsed.positionals, values) : (undefined as A);
      let client: Awaited<ReturnType<typeof opsClient>>;
      try {
        client = await opsClient(
          {
            ...(typeof values.stack === 'string' ? { stack: values.stack } : {}),
            ...(typeof values.region === 'string' ? { region: values.region } : {}),
            ...(typeof values['endpoints-file'] === 'string'
              ? { endpointsFile: values['endpoints-file'] }
              : {}),
          },
          io.cwd,
          io.env,
          deps,
        );
      } catch (err) {
        io.err(`relay ${spec.name}: ${(err as Error).message}`);
        return EXIT.failed;
      }
      const call = async <T = Row>(method: string, path: string, body?: unknown) => {
        const r = await client.call<T>(method, path, body);
        if (values.json) io.out(JSON.stringify(r.body, null, 2));
        const answer = r.body as unknown as Record<string, unknown> | null;
        if (typeof answer?.success !== 'boolean') {
          const message = answer?.message ?? answer?.Message ?? JSON.stringify(answer);
          throw new NotTheApi(`HTTP ${r.status}: ${String(message)}`);
        }
        return r.body;
      };
      try {
        return await spec.run({
          args: checked,
          values,
          call,
          io: values.json ? { ...io, out: () => {} } : io,
        });
      } catch (err) {
        if (err instanceof NotTheApi || err instanceof UnreachableError || err instanceof LocalFailure) {
          io.err(`relay ${spec.name}: ${err.message}`);
          return EXIT.failed;
        }
        throw err;
      }
    },
  };
}

const FAILED = new Set(['REJECTED', 'FAILED', 'FAILED_VALIDATION', 'DEAD', 'UNCONFIRMED', 'UNROUTED']);
const DELIVERY_COLS = ['status', 'destination', 'key', 'attempts', 'code', 'message', 'updatedAt'];
const flat = (d: Row): Row => ({
  ...d,
  code: (d.lastError as Row | undefined)?.code ?? (d.notice as Row | undefined)?.code,
  message: (d.lastError as Row | undefined)?.message,
  destination: d.destination ?? '(unrouted)',
});

/** One command's spec, typed by what its validate answers; built into a Command with the deps. */
const spec =
  <A>(s: Spec<A>) =>
  (deps: OpsCommandDeps): Command =>
    opsCommand(s, deps);

const SPECS = [
  spec({
    name: 'status',
    summary: 'each destination: state, counts by status, last success and error, DLQ depth',
    args: '[options]',
    async run({ call, io }) {
      const env = await call<{ destinations: Row[]; unrouted: Row }>('GET', '/v1/status');
      if (failed(env, io)) return EXIT.failed;
      const rows = env.response.destinations.map((d) => ({
        ...d,
        counts: Object.entries((d.counts as Record<string, number>) ?? {})
          .map(([k, v]) => `${k}:${v}`)
          .join(' '),
        lastError: (d.lastError as Row | undefined)?.code,
      }));
      io.out(table(rows, ['name', 'vendor', 'state', 'counts', 'dlqDepth', 'lastError']));
      io.out(`unrouted: ${env.response.unrouted?.count ?? 0}`);
      return EXIT.ok;
    },
  }),
  spec({
    name: 'streams',
    summary: 'each stream (asset:stream_type) with its destinations, last object and markers',
    args: '[options]',
    async run({ call, io }) {
      const env = await call<{ streams: Row[]; unrouted?: Row }>('GET', '/v1/streams');
      if (failed(env, io)) return EXIT.failed;
      const marker = (m: Row) => `${m.level}: ${m.message}`;
      const rows = env.response.streams.map((s) => ({
        ...s,
        markers: ((s.markers as Row[]) ?? []).map(marker).join('; '),
      }));
      io.out(table(rows, ['id', 'receiver', 'destinations', 'lastObjectAt', 'lastDeliveredAt', 'markers']));
      // Keys that matched no stream belong to none: one line, with its marker while the latest is recent.
      const unrouted = env.response.unrouted;
      if (unrouted) {
        const m = unrouted.marker as Row | undefined;
        io.out(`unrouted: ${unrouted.count ?? 0}${m ? ` (${marker(m)})` : ''}`);
      }
      return EXIT.ok;
    },
  }),
  spec({
    name: 'where',
    summary: "where is a unit's (SERIAL) or a key's file, at every destination, and why it failed",
    args: 'SERIAL|KEY [--key] [--next TOKEN] [options]',
    maxPositionals: 1,
    options: { key: { type: 'boolean' }, next: { type: 'string' } },
    help: `A word with a "/" (or --key) is read as a key or the start of one; anything else as a serial.
Reads up to ${WHERE_MAX_PAGES} pages; when there are more it prints the --next TOKEN that reads on (--json: one page).
Exit 1 when a delivery failed.`,
    validate([what], values) {
      if (!what) throw new UsageError('name a serial or a key');
      return { what, byKey: values.key === true || what.includes('/') };
    },
    async run({ args: { what, byKey }, values, call, io }) {
      let next = typeof values.next === 'string' ? values.next : undefined;
      const raw: Row[] = [];
      for (let page = 0; page < (values.json ? 1 : WHERE_MAX_PAGES); page++) {
        const env = await call<{ items: Row[]; next?: string }>(
          'GET',
          `/v1/deliveries${q({ ...(byKey ? { key: what } : { serial: what }), next })}`,
        );
        if (failed(env, io)) return EXIT.failed;
        raw.push(...env.response.items);
        next = env.response.next;
        if (!next) break;
      }
      const items = raw.map(flat);
      if (items.length === 0) io.out(`nothing recorded for ${what}`);
      else io.out(table(items, [...DELIVERY_COLS, 'id']));
      if (next)
        io.out(
          `more: ${items.length} shown; relay where ${what}${values.key === true ? ' --key' : ''} --next ${next} reads on`,
        );
      return items.some((i) => FAILED.has(String(i.status))) ? EXIT.failed : EXIT.ok;
    },
  }),
  spec({
    name: 'show',
    summary: 'one delivery with its whole history',
    args: 'DELIVERY_ID [options]',
    maxPositionals: 1,
    validate([id]) {
      if (!id) throw new UsageError('name a delivery id (relay where shows them)');
      return { id };
    },
    async run({ args: { id }, call, io }) {
      const env = await call<Row & { history: Row[] }>('GET', `/v1/deliveries/${encodeURIComponent(id)}`);
      if (failed(env, io)) return EXIT.failed;
      const d = flat(env.response);
      for (const k of [
        'key',
        'versionId',
        'destination',
        'vendor',
        'status',
        'serial',
        'attempts',
        'vendorRef',
        'code',
        'message',
        'restreamOf',
      ])
        if (d[k] !== undefined) io.out(`${k.padEnd(11)} ${String(d[k])}`);
      io.out('');
      io.out(table(env.response.history, ['at', 'status', 'code']));
      return EXIT.ok;
    },
  }),
  spec({
    name: 'restream',
    summary: 'send matching objects again, as new deliveries (idempotent per --id)',
    args: '--id REQUEST_ID [--stream RECEIVER:ASSET:TYPE]… [--since T] [--until T] [--serial SN] [--destination D] [--status S] [--code C] [--key K]… [--per-second N]',
    options: {
      id: { type: 'string' },
      stream: { type: 'string', multiple: true },
      since: { type: 'string' },
      until: { type: 'string' },
      serial: { type: 'string' },
      destination: { type: 'string' },
      status: { type: 'string' },
      code: { type: 'string' },
      key: { type: 'string', multiple: true },
      'per-second': { type: 'string' },
    },
    validate(_positionals, values) {
      const id = values.id;
      if (typeof id !== 'string')
        throw new UsageError('--id REQUEST_ID is required (the same id twice restreams once)');
      const body: Row = { requestId: id };
      for (const s of (values.stream as string[] | undefined) ?? []) {
        const [receiver, asset, type] = s.split(':');
        if (!receiver || !asset || !type)
          throw new UsageError(`--stream ${s}: write RECEIVER:ASSET:STREAM_TYPE`);
        body[receiver] = [...((body[receiver] as Row[]) ?? []), { asset, stream_type: type }];
      }
      for (const k of ['since', 'until', 'serial', 'destination', 'status', 'code'])
        if (values[k]) body[k] = values[k];
      if (values.key) body.keys = values.key;
      const perSecond = perSecondOption(values['per-second']);
      if (perSecond !== undefined) body.perSecond = perSecond;
      return { id, body };
    },
    async run({ args: { id, body }, call, io }) {
      io.out(`restream ${id}: finding the objects…`);
      const env = await call<Row>('POST', '/v1/restream', body);
      if (failed(env, io)) return EXIT.failed;
      const r = env.response;
      io.out(
        `restream ${id}: ${r.matched} matched, ${r.queued} queued at ${r.perSecond}/s${r.duplicate ? ' (already submitted: nothing queued again)' : ''}`,
      );
      return EXIT.ok;
    },
  }),
  ...(['stop', 'start'] as const).map((action) =>
    spec({
      name: action,
      summary:
        action === 'stop'
          ? 'stop a destination: its deliveries are held, no attempt spent'
          : 'start a stopped destination again',
      args: 'DESTINATION [options]',
      maxPositionals: 1,
      validate([name]) {
        if (!name) throw new UsageError('name the destination (its transmit_name)');
        return { name };
      },
      async run({ args: { name }, call, io }) {
        const env = await call<Row>('POST', `/v1/destinations/${encodeURIComponent(name)}/${action}`);
        if (failed(env, io)) return EXIT.failed;
        io.out(`${name}: ${env.response.state}`);
        return EXIT.ok;
      },
    }),
  ),
  spec({
    name: 'dlq',
    summary: 'dead-letter queues: depth and messages; `dlq redrive QUEUE [--message ID]…` moves them back',
    args: '[redrive QUEUE [--message ID]… [--per-second N]] [--queue Q] [options]',
    maxPositionals: 2,
    options: {
      queue: { type: 'string' },
      message: { type: 'string', multiple: true },
      'per-second': { type: 'string' },
    },
    validate([sub, queue], values) {
      const perSecond = perSecondOption(values['per-second']);
      if (sub === undefined) return { redrive: undefined };
      if (sub !== 'redrive') throw new UsageError(`unknown dlq subcommand "${sub}" (only: redrive QUEUE)`);
      if (!queue) throw new UsageError('name the queue to redrive (ingest or a vendor id)');
      return { redrive: { queue, perSecond } };
    },
    async run({ args: { redrive }, values, call, io }) {
      if (redrive) {
        const { queue, perSecond } = redrive;
        io.out(`redrive ${queue}: moving…`);
        const env = await call<Row>('POST', '/v1/deadletters/redrive', {
          queue,
          ...(values.message ? { messageIds: values.message } : {}),
          ...(perSecond !== undefined ? { perSecond } : {}),
        });
        if (failed(env, io)) return EXIT.failed;
        io.out(
          `redrive ${env.response.redriveId}: ${env.response.moved} moved, ${env.response.remaining} left`,
        );
        return EXIT.ok;
      }
      const env = await call<{ queues: Array<Row & { messages: Row[] }> }>(
        'GET',
        `/v1/deadletters${q({ queue: values.queue })}`,
      );
      if (failed(env, io)) return EXIT.failed;
      io.out(table(env.response.queues, ['queue', 'depth']));
      const messages = env.response.queues.flatMap((x) => x.messages.map((m) => ({ queue: x.queue, ...m })));
      if (messages.length)
        io.out(`\n${table(messages, ['queue', 'messageId', 'key', 'destination', 'sentAt', 'reason'])}`);
      return EXIT.ok;
    },
  }),
  spec({
    name: 'config',
    summary: CONFIG_USAGE,
    args: 'get|validate FILE|save FILE|versions|templates [TYPE] [options]',
    maxPositionals: 2,
    validate([sub, arg]): ConfigArgs {
      if (sub === 'get' || sub === 'versions') return { sub };
      if (sub === 'validate' || sub === 'save') {
        if (!arg) throw new UsageError(`name the config file to ${sub}`);
        return { sub, file: arg };
      }
      if (sub === 'templates') return { sub, ...(arg ? { type: arg } : {}) };
      throw new UsageError(CONFIG_USAGE);
    },
    async run({ args, call, io }) {
      const fileText = (arg: string) => {
        try {
          return readFileSync(resolve(io.cwd, arg), 'utf8');
        } catch (err) {
          throw new LocalFailure(`cannot read ${arg}: ${(err as Error).message}`);
        }
      };
      const printViolations = (violations: Row[]) => {
        for (const v of violations)
          io.out(`${v.level}  ${((v.json_path as unknown[]) ?? []).join('.')}  ${v.description}`);
      };
      if (args.sub === 'get') {
        const env = await call<Row>('GET', '/v1/config');
        if (failed(env, io)) return EXIT.failed;
        io.out(`# version ${env.response.version} (${env.response.source})`);
        // Saved versions exist but a deploy changed the config since: say which and how to use it again.
        if (env.response.supersededByDeploy === true) io.out(`# ${String(env.response.note)}`);
        io.out(JSON.stringify(env.response.config, null, 2));
        return EXIT.ok;
      }
      if (args.sub === 'validate' || args.sub === 'save') {
        const { sub, file } = args;
        const text = fileText(file);
        // ${VAR} is filled here, from the operator's environment: the API never fills it.
        const filled = configBody(file, text, io.env);
        if (filled.violations) {
          printViolations(filled.violations as unknown as Row[]);
          io.out(`${file}: invalid (nothing was sent)`);
          return EXIT.failed;
        }
        const env = await call<{ status?: string; version?: number; violations?: Row[] }>(
          'POST',
          sub === 'validate' ? '/v1/config/validate' : '/v1/config',
          filled.body,
        );
        printViolations(env.response?.violations ?? []);
        if (!env.success) {
          if (env.error) failed(env, io);
          else io.out(`${file}: invalid`);
          return EXIT.failed;
        }
        io.out(sub === 'save' ? `${file}: saved as version ${env.response.version}` : `${file}: valid`);
        return EXIT.ok;
      }
      if (args.sub === 'versions') {
        const env = await call<{ versions: Row[] }>('GET', '/v1/config/versions');
        if (failed(env, io)) return EXIT.failed;
        io.out(table(env.response.versions, ['version', 'savedAt', 'by']));
        return EXIT.ok;
      }
      const { type } = args;
      const env = await call<Row>(
        'GET',
        type ? `/v1/config/templates/${encodeURIComponent(type)}` : '/v1/config/templates',
      );
      if (failed(env, io)) return EXIT.failed;
      io.out(JSON.stringify(type ? env.response.template : env.response.templates, null, 2));
      return EXIT.ok;
    },
  }),
  spec({
    name: 'logs',
    summary: "the relay's recent log lines, by delivery or key",
    args: '[--delivery ID] [--key KEY] [--level L] [--since T] [--limit N] [options]',
    options: {
      delivery: { type: 'string' },
      key: { type: 'string' },
      level: { type: 'string' },
      since: { type: 'string' },
      limit: { type: 'string' },
    },
    async run({ values, call, io }) {
      const env = await call<{ lines: Row[] }>(
        'GET',
        `/v1/log/stream${q({ delivery: values.delivery, key: values.key, level: values.level, since: values.since, limit: values.limit })}`,
      );
      if (failed(env, io)) return EXIT.failed;
      for (const l of env.response.lines) {
        const { time, level, message, ...rest } = l;
        io.out(`${time} ${String(level).padEnd(5)} ${message} ${JSON.stringify(rest)}`);
      }
      return EXIT.ok;
    },
  }),
];

/** The ops commands, built with `deps` (tests: a stand-in CloudFormation client). */
export const opsCommands = (deps: OpsCommandDeps = {}): Command[] => SPECS.map((make) => make(deps));

export const OPS_COMMANDS: Command[] = opsCommands();
