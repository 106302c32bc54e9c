/**
 * The fault suite (`npm run faults`): N files (default 1000) through the whole local stack — S3 events, router,
 * queues, forwarders, status table, poller — against the Instrumental simulator, under one fault at a time, as
 * an operator's worst week would bring them. For each scenario it prints, from the vendor's side (content hashes
 * of what the simulator stored) and the relay's (its records):
 *
 *   delivered   files whose bytes the vendor holds
 *   lost        files the vendor never got
 *   duplicated  extra copies the vendor holds (by content hash)
 *   ambiguous   sends the relay counted as "went out in full, no answer" (ambiguousSends): the copies it may
 *               have made, and so the bound on `duplicated`
 *   dead        DEAD records (and of those, how many the vendor has anyway); UNCONFIRMED separately
 *   stuck       records not final when the scenario ended
 *   attempts    sends counted on the records, per file (1.00 = nothing spent beyond one send each)
 *   time        from the first upload to the last record final
 *
 * Options: `npm run faults -- --files 300 --only outage,creds` (names below). Bounded: each scenario has a
 * deadline; a scenario that misses it reports what was stuck instead of hanging.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { request } from 'undici';
import { TABLE } from '../../lambdas/commons/table.ts';
import type { DataTransmit, RelayConfig } from '../../lambdas/domain/config/types.ts';
import {
  type DeliveryKey,
  type DeliveryRecord,
  encodeDeliveryId,
  fromItem,
} from '../../lambdas/domain/delivery.ts';
import { DUE, FAILURE, TERMINAL } from '../../lambdas/domain/status.ts';
import { putObject as putIngest } from '../../local/ingest.ts';
import type { LambdaFunction } from '../../local/lambda-context.ts';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../local/stack.ts';
import { InstrumentalSimulator } from '../../simulators/instrumental/index.ts';
import { makeJpeg } from '../../simulators/media/index.ts';

const KEY = 'faults:suite:INST:V1:fake-faults-id:not-a-real-secret';
const FAST = { burst: 100_000, perSecond: 100_000 };
const FIELDS = {
  serialNumber: '{serial}',
  stationName: '{station}',
  imageType: 'Top',
  imageTimestamp: { iso8601Time: '{taken_at|iso8601}', ianaTimeZone: 'UTC' },
  fileName: '{object.basename}',
};

export interface ScenarioResult {
  name: string;
  files: number;
  delivered: number;
  lost: number;
  duplicated: number;
  ambiguous: number;
  dead: number;
  deadAtVendor: number;
  unconfirmed: number;
  stuck: number;
  attemptsPerFile: number;
  seconds: number;
  note: string;
}

interface Destination {
  name: string;
  secret: string;
  /** The secret's value at start; undefined: the secret does not exist. */
  secretValue?: string;
}

interface RunOptions {
  files: number;
  destinations?: Destination[];
  sim?: ConstructorParameters<typeof InstrumentalSimulator>[0];
  stack?: Partial<LocalStackOptions>;
  relay?: RelayConfig['relay'];
  /** Runs once the uploads have started; the scenario's fault schedule. */
  during?: (env: Env) => Promise<void>;
  deadlineMs?: number;
}

interface Env {
  stack: LocalStack;
  sim: InstrumentalSimulator;
  /** The delivery record keys of the files uploaded so far (filled as the uploads go). */
  deliveries: DeliveryKey[];
  /** What the scenario adds to its note once it ran (e.g. the flood's answers). */
  extra: string[];
}

function config(url: string, dests: Destination[], relay: RelayConfig['relay']): RelayConfig {
  return {
    version: 1,
    relay: {
      max_attempts: 8,
      backoff_base_seconds: 0.2,
      backoff_max_seconds: 5,
      pause_probe_seconds: 2,
      ...relay,
    },
    data_receiver: [
      {
        data_receiver_name: 'faults',
        protocol: 's3',
        streams: dests.map((_d, i) => ({
          asset: `line-${i}`,
          stream_type: 'cam',
          key_pattern: `line-${i}/{station}/{serial}_{taken_at}.{ext}`,
          time_zone: 'UTC',
        })),
      },
    ],
    data_transmit: dests.map(
      (d, i): DataTransmit => ({
        transmit_name: d.name,
        transmit_type: 'instrumental',
        filter_stream: [`line-${i}:cam`],
        base_url: url,
        api_key_secret: d.secret,
        rate_limit: { burst: FAST.burst, per_second: FAST.perSecond },
        fields: structuredClone(FIELDS),
      }),
    ),
  };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * A JPEG made unique by a COM segment after SOI: small seeded images repeat (16×16 pixels have few colourings), and
 * the suite counts duplicates by content hash, so every file must have its own.
 */
function uniqueJpeg(jpeg: Buffer, tag: string): Buffer {
  const text = Buffer.from(tag, 'ascii');
  const head = Buffer.from([0xff, 0xfe, 0, 0]);
  head.writeUInt16BE(text.length + 2, 2);
  return Buffer.concat([jpeg.subarray(0, 2), head, text, jpeg.subarray(2)]);
}

async function runScenario(name: string, note: string, o: RunOptions): Promise<ScenarioResult> {
  const dests = o.destinations ?? [{ name: 'faults', secret: 'faults/instrumental', secretValue: KEY }];
  const sim = new InstrumentalSimulator({
    apiKeys: [KEY],
    burst: FAST.burst,
    refillPerSecond: FAST.perSecond,
    validationDelayMs: 50,
    seed: 13,
    maxRecorded: 200_000,
    ...o.sim,
  });
  const url = await sim.start();
  const stack = await startLocalStack({
    config: config(url, dests, o.relay),
    secrets: Object.fromEntries(
      dests.flatMap((d) => (d.secretValue === undefined ? [] : [[d.secret, d.secretValue]])),
    ),
    pollEveryMs: 500,
    logLevel: 'error',
    ...o.stack,
  });
  const env: Env = { stack, sim, deliveries: [], extra: [] };
  try {
    const bodies: Buffer[] = [];
    const keys: string[] = [];
    for (let i = 0; i < o.files; i++) {
      const d = i % dests.length;
      bodies.push(uniqueJpeg(makeJpeg({ width: 16, height: 16, seed: 10_000 + i }), `faults ${name} ${i}`));
      keys.push(`line-${d}/ST-${i % 7}/SN-${String(i).padStart(5, '0')}_20260105T100000Z.jpg`);
    }
    const hashes = bodies.map(sha);
    const objects: Array<{ pk: string; hash: string }> = new Array(keys.length);
    const t0 = Date.now();
    let next = 0;
    const uploads = Array.from({ length: 16 }, async () => {
      while (next < keys.length) {
        const i = next++;
        const key = keys[i] as string;
        const put = await putIngest(stack.clients.s3, stack.buckets.ingest, key, bodies[i] as Buffer);
        const version = put.versionId ? `v=${put.versionId}` : `etag=${put.etag}`;
        const pk = `object#${stack.buckets.ingest}/${key}#${version}`;
        objects[i] = { pk, hash: hashes[i] as string };
        env.deliveries.push({ pk, sk: `destination#${dests[i % dests.length]?.name}` });
      }
    });
    const during = o.during?.(env);
    await Promise.all(uploads);
    await during;
    const records = await waitFinal(
      stack,
      dests,
      objects,
      () => new Set(sim.files().map((f) => f.sha256)),
      o.deadlineMs ?? 600_000,
    );
    const seconds = (Date.now() - t0) / 1000;

    const atVendor = new Map<string, number>();
    for (const f of sim.files()) atVendor.set(f.sha256, (atVendor.get(f.sha256) ?? 0) + 1);
    const delivered = hashes.filter((h) => atVendor.has(h)).length;
    const duplicated = hashes.reduce((n, h) => n + Math.max(0, (atVendor.get(h) ?? 0) - 1), 0);
    const hashOfKey = new Map(keys.map((k, i) => [k, hashes[i] as string]));
    const dead = records.filter((r) => r.status === 'DEAD');
    return {
      name,
      files: o.files,
      delivered,
      lost: o.files - delivered,
      duplicated,
      ambiguous: records.reduce((n, r) => n + (r.ambiguousSends ?? 0), 0),
      dead: dead.length,
      deadAtVendor: dead.filter((r) => atVendor.has(hashOfKey.get(r.key) ?? '')).length,
      unconfirmed: records.filter((r) => r.status === 'UNCONFIRMED').length,
      stuck: records.filter((r) => !TERMINAL.includes(r.status)).length + (o.files - records.length),
      attemptsPerFile: records.reduce((n, r) => n + r.attempts, 0) / o.files,
      seconds,
      note: [note, ...env.extra, ...stuckDetail(records)].join('; '),
    };
  } finally {
    await stack.stop();
    await sim.stop();
  }
}

/**
 * Every delivery record of the scenario, once all are final (or at the deadline). While waiting it reads only
 * counts: failures from `byOutcome`, work still due from `byDue`, and what the vendor holds; then one Query per
 * object. No scan.
 */
async function waitFinal(
  stack: LocalStack,
  dests: Destination[],
  objects: Array<{ pk: string; hash: string }>,
  storedHashes: () => Set<string>,
  deadlineMs: number,
): Promise<DeliveryRecord[]> {
  const until = Date.now() + deadlineMs;
  const count = async (index: 'byOutcome' | 'byDue', partition: string) => {
    const ix = TABLE.indexes[index];
    let n = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const out = await stack.clients.ddb.send(
        new QueryCommand({
          TableName: stack.tableName,
          IndexName: ix.name,
          KeyConditionExpression: '#p = :p',
          ExpressionAttributeNames: { '#p': ix.partitionKey },
          ExpressionAttributeValues: { ':p': partition },
          Select: 'COUNT',
          ExclusiveStartKey: start,
        }),
      );
      n += out.Count ?? 0;
      start = out.LastEvaluatedKey;
    } while (start);
    return n;
  };
  const sum = async (index: 'byOutcome' | 'byDue', statuses: readonly string[]) =>
    (await Promise.all(dests.flatMap((d) => statuses.map((s) => count(index, `${d.name}#${s}`))))).reduce(
      (a, b) => a + b,
      0,
    );
  for (;;) {
    const [failed, due] = await Promise.all([sum('byOutcome', FAILURE), sum('byDue', DUE)]);
    const stored = storedHashes();
    const delivered = objects.filter((o) => stored.has(o.hash)).length;
    if ((due === 0 && delivered + failed >= objects.length) || Date.now() > until) break;
    await sleep(1_000);
  }
  const records: DeliveryRecord[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < objects.length) {
        const o = objects[next++] as { pk: string };
        const out = await stack.clients.ddb.send(
          new QueryCommand({
            TableName: stack.tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': o.pk },
            ConsistentRead: true,
          }),
        );
        records.push(...((out.Items ?? []) as DeliveryRecord[]).map(fromItem));
      }
    }),
  );
  return records;
}

// ---------------------------------------------------------------------------------------------------------
// Scenarios

type ScenarioFn = (files: number) => Promise<ScenarioResult>;

const SCENARIOS: Record<string, { label: string; run: ScenarioFn }> = {
  baseline: {
    label: 'no fault',
    run: (files) => runScenario('no fault', 'the reference run', { files }),
  },
  duplicates: {
    label: 'duplicate S3 events ×3',
    run: (files) =>
      runScenario('duplicate S3 events ×3', 'every notification sent three times', {
        files,
        stack: { notifierDuplicates: 3 },
      }),
  },
  errors: {
    label: '30 % 5xx/429, 5 % resets before store',
    run: (files) =>
      runScenario('30 % 5xx/429 + 5 % resets before store', 'the vendor stores nothing on a failed request', {
        files,
        sim: { seed: 21 },
        during: async ({ sim }) =>
          sim.setFaults({
            rules: [
              { routes: ['ingestImage'], statusRates: { 500: 0.1, 503: 0.1, 429: 0.1 }, resetRate: 0.05 },
            ],
          }),
      }),
  },
  'lost-answers': {
    label: '30 % 5xx/429, 5 % answers lost after store',
    run: (files) =>
      runScenario(
        '30 % 5xx/429 + 5 % answers lost after store',
        'the vendor stores the file, then the connection drops: each is an ambiguous send',
        {
          files,
          sim: { seed: 22 },
          during: async ({ sim }) =>
            sim.setFaults({
              rules: [
                {
                  routes: ['ingestImage'],
                  statusRates: { 500: 0.1, 503: 0.1, 429: 0.1 },
                  lostAnswerRate: 0.05,
                },
              ],
            }),
        },
      ),
  },
  outage: {
    label: 'vendor outage of 60 s',
    run: (files) =>
      runScenario('vendor outage of 60 s', 'every request answered 503 for 60 s', {
        files,
        during: async ({ sim }) => {
          sim.setFaults({ rules: [{ statusRates: { 503: 1 } }] });
          await sleep(60_000);
          sim.setFaults({});
        },
      }),
  },
  creds: {
    label: 'credentials broken for 60 s (5 kinds)',
    run: (files) => {
      const broken: Array<[string, string | undefined]> = [
        ['refused', 'faults:suite:INST:V1:revoked-id:not-a-real-secret'],
        ['newline', `${KEY}\n`],
        ['missing', undefined],
        ['json-no-key', '{"token":"not-the-field-we-read"}'],
        ['wrong-shape', 'fake-faults-id'],
      ];
      const destinations = broken.map(([name, value]) => ({
        name,
        secret: `faults/${name}`,
        ...(value === undefined ? {} : { secretValue: value }),
      }));
      return runScenario(
        'credentials broken for 60 s (5 kinds)',
        'a refused key, a trailing newline, a missing secret, JSON without a key, a wrong shape; redrive limit 6 s (3 receives, 2 s apart)',
        {
          files,
          destinations,
          stack: { queues: { vendors: { maxReceiveCount: 3, visibilityTimeoutSeconds: 2 } } },
          during: async ({ stack }) => {
            await sleep(60_000);
            for (const d of destinations) {
              if (d.secretValue === undefined)
                await stack.clients.secrets.send(
                  new CreateSecretCommand({ Name: d.secret, SecretString: KEY }),
                );
              else
                await stack.clients.secrets.send(
                  new PutSecretValueCommand({ SecretId: d.secret, SecretString: KEY }),
                );
            }
          },
        },
      );
    },
  },
  flood: {
    label: '400 forged callbacks during the run',
    run: (files) =>
      runScenario(
        '400 forged callbacks',
        'real delivery ids with forged MACs, 20 at a time, while the files flow',
        {
          files,
          during: async (env) => {
            // Wait for the first records, so that the forged tokens name deliveries that exist.
            while (env.deliveries.length < Math.min(50, files)) await sleep(50);
            const statuses = await forgedCallbacks(env, 400, 20);
            env.extra.push(
              `answers ${Object.entries(statuses)
                .map(([code, n]) => `${n} × ${code}`)
                .join(', ')}`,
            );
          },
        },
      ),
  },
  crash: {
    label: 'forwarder killed mid-send every 10 s',
    run: (files) => {
      const killer = new ForwarderProcesses();
      return runScenario(
        'forwarder killed mid-send every 10 s',
        'SIGKILL of the forwarder process while a send is in flight, a new one started on the same state',
        {
          files,
          sim: { validationDelayMs: 50 },
          stack: {
            forwarder: { functionTimeoutMs: 10_000 },
            queues: { vendors: { visibilityTimeoutSeconds: 12 } },
            handlers: { forwarder: (vendor, q) => killer.handler(vendor, q.deadLetterUrl) },
          },
          during: async (env) => {
            killer.env = env.stack.env;
            env.sim.setFaults({ rules: [{ routes: ['ingestImage'], latencyMs: [50, 250] }] });
            await killer.killEvery(10_000, () => env.sim.requestsTo('ingestImage').length < files);
          },
        },
      ).finally(() => killer.stop());
    },
  },
};

/** What the records not final at the end were doing: status, last code, attempts (for the note). */
function stuckDetail(records: DeliveryRecord[]): string[] {
  const stuck = records.filter((r) => !TERMINAL.includes(r.status));
  if (stuck.length === 0) return [];
  return [
    `not final: ${stuck
      .slice(0, 5)
      .map(
        (r) =>
          `${r.key} ${r.status} ${r.lastError?.code ?? '-'} attempts ${r.attempts} next ${r.nextCheckAt ?? '-'}`,
      )
      .join(', ')}`,
  ];
}

/**
 * POSTs `count` forged callbacks, `concurrency` at a time, at the stack's callback route: each names a real
 * delivery (one of those uploaded so far) with a MAC that is not the relay's. Answers: HTTP status → count.
 */
async function forgedCallbacks(
  env: Env,
  count: number,
  concurrency: number,
): Promise<Record<string, number>> {
  const statuses: Record<string, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        const target = env.deliveries[i % env.deliveries.length] as DeliveryKey;
        const token = `${encodeDeliveryId(target)}.${randomBytes(16).toString('base64url')}`;
        const res = await request(env.stack.callbackUrl('instrumental', token), {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"status":"UPLOADED"}',
        });
        await res.body.dump();
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
      }
    }),
  );
  return statuses;
}

/**
 * Forwarder invocations run in a child process that the suite kills while a send is in flight (SIGKILL: no
 * cleanup, as when Lambda's sandbox dies), then replaces: the next invocation starts a new process.
 */
class ForwarderProcesses {
  env: Record<string, string> = {};
  kills = 0;
  private child: ChildProcess | undefined;
  private ready: Promise<void> | undefined;
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { child: ChildProcess; resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private stopped = false;

  private start(vendor: string, dlq: string): Promise<void> {
    const child = fork(fileURLToPath(new URL('./forwarder-process.ts', import.meta.url)), [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ...this.env, FAULTS_VENDOR: vendor, FAULTS_DLQ: dlq, RELAY_LOG_LEVEL: 'error' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child = child;
    child.on('error', () => undefined); // a send to a process just killed: its invocation fails below
    this.ready = new Promise((resolve) => {
      child.on(
        'message',
        (m: { ready?: true; id?: number; ok?: boolean; result?: unknown; error?: string }) => {
          if (m.ready) resolve();
          if (m.id === undefined) return;
          const p = this.pending.get(m.id);
          this.pending.delete(m.id);
          if (m.ok) p?.resolve(m.result);
          else p?.reject(new Error(m.error ?? 'forwarder failed'));
        },
      );
    });
    child.once('exit', () => {
      if (this.child === child) this.child = undefined;
      for (const [id, p] of this.pending) {
        if (p.child !== child) continue;
        this.pending.delete(id);
        p.reject(new Error('forwarder process killed'));
      }
    });
    return this.ready;
  }

  handler(vendor: string, dlq: string): LambdaFunction<SQSEvent> {
    return async (event, context) => {
      if (this.stopped) throw new Error('stopped');
      if (!this.child) await this.start(vendor, dlq);
      else await this.ready;
      const id = this.nextId++;
      return new Promise((resolve, reject) => {
        const child = this.child;
        if (!child) return reject(new Error('forwarder process gone'));
        this.pending.set(id, { child, resolve, reject });
        child.send({ id, event, timeoutMs: context.getRemainingTimeInMillis() }, (err) => {
          if (!err) return;
          this.pending.delete(id);
          reject(err);
        });
      }) as never;
    };
  }

  async killEvery(ms: number, keepGoing: () => boolean): Promise<void> {
    while (!this.stopped && keepGoing()) {
      await sleep(ms);
      const child = this.child;
      if (child && this.pending.size > 0) {
        this.child = undefined;
        child.kill('SIGKILL');
        this.kills++;
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.child?.kill('SIGKILL');
  }
}

// ---------------------------------------------------------------------------------------------------------

export function formatTable(results: ScenarioResult[]): string {
  const head = [
    'scenario',
    'files',
    'delivered',
    'lost',
    'duplicated',
    'ambiguous',
    'dead (at vendor)',
    'unconfirmed',
    'stuck',
    'attempts/file',
    'time',
  ];
  const rows = results.map((r) => [
    r.name,
    String(r.files),
    String(r.delivered),
    String(r.lost),
    String(r.duplicated),
    String(r.ambiguous),
    `${r.dead} (${r.deadAtVendor})`,
    String(r.unconfirmed),
    String(r.stuck),
    r.attemptsPerFile.toFixed(2),
    `${r.seconds.toFixed(0)} s`,
  ]);
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/**
 * Each scenario runs in its own process: the handler modules keep their clients per process (as a Lambda
 * instance does), so one process holds one local stack.
 */
function runInChild(name: string, files: number): Promise<ScenarioResult> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--one', name, '--files', String(files)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: ScenarioResult | undefined;
    child.on('message', (m: { result?: ScenarioResult }) => {
      result = m.result;
    });
    child.once('exit', (code) =>
      result ? resolve(result) : reject(new Error(`scenario ${name} ended with code ${code} and no result`)),
    );
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      files: { type: 'string', default: '1000' },
      only: { type: 'string' },
      one: { type: 'string' },
    },
  });
  const files = Number(values.files);
  if (values.one) {
    const s = SCENARIOS[values.one];
    if (!s) throw new Error(`no scenario ${values.one}`);
    process.send?.({ result: await s.run(files) });
    return;
  }
  const names = values.only ? values.only.split(',') : Object.keys(SCENARIOS);
  const unknown = names.filter((n) => !SCENARIOS[n]);
  if (unknown.length > 0 || !(files > 0)) {
    process.stderr.write(
      `usage: npm run faults -- [--files N] [--only ${Object.keys(SCENARIOS).join(',')}]\n`,
    );
    process.exit(2);
  }
  const results: ScenarioResult[] = [];
  const t0 = Date.now();
  for (const n of names) {
    const s = SCENARIOS[n] as { label: string; run: ScenarioFn };
    process.stdout.write(`faults: ${s.label} (${files} files)…\n`);
    const r = await runInChild(n, files);
    results.push(r);
    process.stdout.write(
      `  delivered ${r.delivered}, lost ${r.lost}, duplicated ${r.duplicated} (ambiguous ${r.ambiguous}), dead ${r.dead}, unconfirmed ${r.unconfirmed}, stuck ${r.stuck}, ${r.attemptsPerFile.toFixed(2)} attempts/file, ${r.seconds.toFixed(0)} s\n`,
    );
  }
  process.stdout.write(
    `\n${formatTable(results)}\n\nfaults: ${names.length} scenarios in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`,
  );
  for (const r of results) process.stdout.write(`- ${r.name}: ${r.note}\n`);
  const base = results.find((r) => r.name === 'no fault');
  const flood = results.find((r) => r.name === '400 forged callbacks');
  if (base && flood)
    process.stdout.write(
      `flood vs no fault: ${flood.seconds.toFixed(1)} s vs ${base.seconds.toFixed(1)} s for the same ${files} files (${(((flood.seconds - base.seconds) / base.seconds) * 100).toFixed(1)} %)\n`,
    );
  const bad = results.filter(
    (r) => r.lost > 0 || r.stuck > 0 || r.deadAtVendor > 0 || r.duplicated > r.ambiguous,
  );
  process.exitCode = bad.length > 0 ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
