/**
 * The local CLI (local/cli.ts), run as users run it: a child process of this Node, in the project folder.
 * `demo` once (≈ 10 s: emulators, DynamoDB Local, simulators, six files through the relay) and `start` once
 * (inbox drop, then SIGINT).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { DeliveryRecord } from '#domain/delivery.ts';
import type { DeliveryStatus } from '#domain/status.ts';
import { parseCli } from '#local/cli.ts';
import type { EndpointsFile } from '#local/demo/endpoints.ts';
import { type InboxFile, InboxWatcher, ignoredName } from '#local/demo/inbox.ts';
import { detailOf, StatusTracker, summarize, type Tracked } from '#local/demo/tracker.ts';
import { contentTypeOf } from '#local/ingest.ts';
import { InstrumentalSimulator } from '#simulators/instrumental/index.ts';
import { makeJpeg } from '#simulators/media/index.ts';
import { waitFor } from './helpers.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CHILD_TIMEOUT_MS = 120_000;

interface Run {
  child: ChildProcess;
  output(): string;
  /** Resolves when stdout matches, rejects when the child exits first or `ms` pass. */
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

const strip = (s: string) => stripVTControlCharacters(s);

function runCli(args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/cli.ts', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let stdout = '';
  let stderr = '';
  const waiters = new Set<() => void>();
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
    for (const w of waiters) w();
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  const exited = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolveExit) => {
    child.once('exit', (code, signal) => {
      clearTimeout(killer);
      for (const w of waiters) w();
      resolveExit({ code, signal, stdout: strip(stdout), stderr });
    });
  });
  return {
    child,
    output: () => strip(stdout),
    exited,
    waitFor(re, ms = 90_000) {
      return new Promise((resolveWait, reject) => {
        const check = () => {
          const m = strip(stdout).match(re);
          if (m) {
            done();
            resolveWait(m);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`the CLI exited before printing ${re}:\n${strip(stdout)}\n${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${re} within ${ms} ms:\n${strip(stdout)}\n${stderr}`));
        }, ms);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function javaPidOf(output: string): number {
  const m = output.match(/DynamoDB Local, java pid (\d+)/);
  assert.ok(m, `the banner names the DynamoDB Local pid:\n${output}`);
  return Number(m[1]);
}

/** `{inbox: 'x'}` → `['--inbox', 'x']`. */
const flags = (values: Record<string, string>) => Object.entries(values).flatMap(([k, v]) => [`--${k}`, v]);

const tmp = mkdtempSync(join(tmpdir(), 'relay-cli-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('parseCli', () => {
  test('commands, options and errors', () => {
    assert.deepEqual(parseCli(['--help']), { kind: 'help' });
    assert.deepEqual(parseCli([]), { kind: 'help' });
    assert.deepEqual(parseCli(['deploy']), { kind: 'error', message: 'unknown command "deploy"' });
    assert.equal(parseCli(['start', '--bogus']).kind, 'error');
    const run = parseCli(['start', '--inbox', '/tmp/x', '--ephemeral-ports'], {});
    assert.equal(run.kind, 'run');
    if (run.kind === 'run') {
      assert.equal(run.options.command, 'start');
      assert.equal(run.options.inbox, '/tmp/x');
      assert.equal(run.options.fixedPorts, false);
      assert.equal(run.options.logFile, join(ROOT, '.relay/relay.log'));
      assert.equal(run.options.configFile, undefined, 'the demo config');
      assert.equal(run.options.secretsFile, join(ROOT, '.relay/secrets.json'));
      assert.equal(run.options.endpointsFile, join(ROOT, '.relay/endpoints.json'));
    }
    const own = parseCli([
      'demo',
      '--config',
      'my.yaml',
      '--secrets',
      '/s.json',
      '--endpoints-file',
      '/e.json',
    ]);
    assert.equal(own.kind === 'run' && own.options.configFile, resolve('my.yaml'));
    assert.equal(own.kind === 'run' && own.options.secretsFile, '/s.json');
    assert.equal(own.kind === 'run' && own.options.endpointsFile, '/e.json');
    const env = parseCli(['demo'], { RELAY_INBOX: '/tmp/y' });
    assert.equal(env.kind === 'run' && env.options.inbox, '/tmp/y');
    assert.equal(env.kind === 'run' && env.options.dataDir, undefined, 'in memory unless asked');
    const kept = parseCli(['start', '--data-dir', 'rel/data']);
    assert.equal(kept.kind === 'run' && kept.options.dataDir, resolve('rel/data'));
  });
});

function record(status: DeliveryStatus, extra: Partial<DeliveryRecord> = {}): DeliveryRecord {
  return {
    pk: 'object#b/k#v=1',
    sk: 'destination#instrumental-demo',
    destination: 'instrumental-demo',
    vendor: 'instrumental',
    status,
    bucket: 'b',
    key: 'k',
    etag: 'e',
    size: 1,
    attempts: 1,
    createdAt: '2026-01-05T00:00:00.000Z',
    updatedAt: '2026-01-05T00:00:00.000Z',
    history: [{ at: '2026-01-05T00:00:00.000Z', status }],
    ...extra,
  };
}

function tracked(key: string, recs: DeliveryRecord[], extra: Partial<Tracked> = {}): Tracked {
  return {
    key,
    etag: 'e',
    source: 'demo',
    pk: `object#b/${key}#v=1`,
    expectedRecords: 1,
    records: new Map(recs.map((r) => [r.sk, { rec: r, seen: r.history.length }])),
    trackedAt: 0,
    lastChangeAt: 0,
    settled: recs.length > 0,
    ...extra,
  };
}

describe('progress lines and the summary', () => {
  test('summarize counts records by status, failure codes in brackets', () => {
    const objs = [
      tracked('a.jpg', [record('UPLOADED', { vendorRef: 'abcdefABCDEF' })]),
      tracked('b.jpg', [record('UPLOADED')]),
      tracked('c.jpg', [record('REJECTED', { lastError: { code: 'NOT_A_JPEG', message: 'm' } })]),
      tracked('d.jpg', [
        (() => {
          const { destination: _none, ...r } = record('UNROUTED', {
            sk: 'route',
            lastError: { code: 'NO_MATCHING_STREAM', message: 'm' },
          });
          return r;
        })(),
      ]),
      tracked('e.jpg', [record('FAILED_VALIDATION', { lastError: { code: 'INVALID_IMAGE', message: 'm' } })]),
      tracked('f.jpg', [record('RETRYING', { lastError: { code: 'VENDOR_5XX', message: 'm' } })], {
        settled: false,
      }),
      tracked('g.jpg', [], { settled: false }),
    ];
    assert.equal(
      summarize(objs),
      '7 files; instrumental-demo: 2 uploaded, 1 rejected (NOT_A_JPEG), 1 failed validation (INVALID_IMAGE), 1 still RETRYING (VENDOR_5XX); 1 unrouted (NO_MATCHING_STREAM); 1 not routed yet',
    );
  });

  test('expectations: status and code must both match, on every record', () => {
    const rejected = record('REJECTED', { lastError: { code: 'NOT_A_JPEG', message: 'not a jpeg' } });
    const ok = tracked('a.jpg', [rejected], { expect: { status: 'REJECTED', code: 'NOT_A_JPEG' } });
    assert.equal(StatusTracker.meetsExpectation(ok), true);
    const otherCode = tracked('a.jpg', [rejected], {
      expect: { status: 'REJECTED', code: 'MISSING_METADATA' },
    });
    assert.equal(StatusTracker.meetsExpectation(otherCode), false);
    const wrong = tracked('a.jpg', [rejected], { expect: { status: 'UPLOADED' } });
    assert.equal(StatusTracker.meetsExpectation(wrong), false);
    assert.equal(
      StatusTracker.describeOutcome(wrong),
      'ended REJECTED (NOT_A_JPEG: not a jpeg); expected UPLOADED',
    );
    const open = tracked('a.jpg', [record('SENDING')], { settled: false, expect: { status: 'UPLOADED' } });
    assert.equal(StatusTracker.meetsExpectation(open), false);
    assert.equal(StatusTracker.describeOutcome(open), 'still SENDING; expected UPLOADED');
  });

  test('detail column: file id, error code and message, HTTP status, attempts', () => {
    const pending = record('PENDING_VALIDATION', { vendorRef: 'abcdefABCDEF' });
    assert.equal(detailOf(pending, 'PENDING_VALIDATION', undefined, true), 'fileId=abcdefABCDEF');
    assert.equal(detailOf(pending, 'QUEUED', undefined, false), '');
    const retrying = record('RETRYING', {
      attempts: 2,
      lastError: {
        code: 'VENDOR_RATE_LIMITED',
        message: '429 from Instrumental',
        httpStatus: 429,
        vendorCode: 'RATE_LIMIT_EXCEEDED',
      },
    });
    assert.equal(
      detailOf(retrying, 'RETRYING', 'VENDOR_RATE_LIMITED', true),
      'VENDOR_RATE_LIMITED: 429 from Instrumental (HTTP 429 RATE_LIMIT_EXCEEDED), attempt 2',
    );
    // An earlier step of the history shows only the code it recorded.
    assert.equal(detailOf(retrying, 'RETRYING', 'VENDOR_5XX', false), 'VENDOR_5XX');
  });

  test('content types by extension', () => {
    assert.equal(contentTypeOf('line-1/a/SN_1.JPG'), 'image/jpeg');
    assert.equal(contentTypeOf('line-1/video/q/SN_1.mp4'), 'video/mp4');
    assert.equal(contentTypeOf('a.jpg.json'), 'application/json');
    assert.equal(contentTypeOf('noext'), 'application/octet-stream');
    assert.equal(contentTypeOf('dir.d/.hidden'), 'application/octet-stream');
  });
});

describe('inbox watcher', () => {
  test('uploads a file once it is stable, sidecars first, changed files again, ignores temp files', async () => {
    const dir = join(tmp, 'watch');
    mkdirSync(join(dir, 'line-1/aoi-top'), { recursive: true });
    let now = 1000;
    const uploads: InboxFile[] = [];
    const w = new InboxWatcher({
      dir,
      now: () => now,
      stableMs: 300,
      isSidecar: (key) => key.endsWith('.jpg.json'),
      upload: async (f) => {
        uploads.push(f);
      },
    });
    writeFileSync(join(dir, 'line-1/aoi-top/SN-1_20260105T090000Z.jpg'), 'jpeg bytes');
    writeFileSync(join(dir, 'line-1/aoi-top/SN-1_20260105T090000Z.jpg.json'), '{}');
    writeFileSync(join(dir, 'line-1/aoi-top/.DS_Store'), 'x');
    writeFileSync(join(dir, 'line-1/aoi-top/big.mp4.part'), 'x');
    await w.scan();
    assert.equal(uploads.length, 0, 'nothing before the file has been stable for 300 ms');
    now += 299;
    await w.scan();
    assert.equal(uploads.length, 0);
    now += 1;
    await w.scan();
    assert.deepEqual(
      uploads.map((u) => [u.key, u.size]),
      [
        ['line-1/aoi-top/SN-1_20260105T090000Z.jpg.json', 2],
        ['line-1/aoi-top/SN-1_20260105T090000Z.jpg', 10],
      ],
    );
    assert.equal(uploads[1]?.path, join(dir, 'line-1/aoi-top/SN-1_20260105T090000Z.jpg'));
    now += 1000;
    await w.scan();
    assert.equal(uploads.length, 2, 'an unchanged file is not uploaded again');

    writeFileSync(join(dir, 'line-1/aoi-top/SN-1_20260105T090000Z.jpg'), 'new jpeg bytes!');
    await w.scan();
    now += 300;
    await w.scan();
    assert.deepEqual(
      uploads.slice(2).map((u) => [u.key, u.size]),
      [['line-1/aoi-top/SN-1_20260105T090000Z.jpg', 15]],
    );
    await w.stop();
  });

  test('a failed upload is tried again on a later scan', async () => {
    const dir = join(tmp, 'watch-retry');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'a.jpg'), 'x');
    let now = 0;
    let calls = 0;
    const errors: string[] = [];
    const w = new InboxWatcher({
      dir,
      now: () => now,
      upload: async () => {
        calls++;
        if (calls === 1) throw new Error('S3 said no');
      },
      onError: (e, f) => errors.push(`${f?.key}: ${(e as Error).message}`),
    });
    await w.scan();
    now += 300;
    await w.scan();
    await w.scan();
    assert.equal(calls, 2);
    assert.deepEqual(errors, ['a.jpg: S3 said no']);
  });

  test('ignored names', () => {
    for (const n of ['.DS_Store', 'a.jpg~', 'a.tmp', 'a.jpg.part', 'a.crdownload', '.a.jpg.swp', 'Thumbs.db'])
      assert.equal(ignoredName(n), true, n);
    for (const n of ['a.jpg', 'SN_1.mp4', 'a.jpg.json']) assert.equal(ignoredName(n), false, n);
  });
});

// Five CLI runs in turn (a second one refused on a data dir in use), each bounded by its child's own deadline.
describe('local CLI', { timeout: 5 * CHILD_TIMEOUT_MS + 10_000 }, () => {
  test('--help prints usage; an unknown command prints usage and exits 2', async () => {
    const help = await runCli(['--help']).exited;
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: node --import tsx local\/cli\.ts <command>/);
    const bad = await runCli(['frobnicate']).exited;
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^unknown command "frobnicate"\n\nUsage:/);
  });

  test('demo: every demo file ends as expected, one summary line, exit 0, nothing left running', async () => {
    const logFile = join(tmp, 'demo.log');
    const res = await runCli(['demo', '--log-file', logFile]).exited;
    const out = res.stdout;
    assert.equal(res.code, 0, `exit code (signal ${res.signal}):\n${out}\n${res.stderr}`);

    const summaries = out.split('\n').filter((l) => l.startsWith('demo: '));
    assert.equal(summaries.length, 1, out);
    assert.match(
      summaries[0]!,
      /^demo: 9 files; edge-impulse-demo: 4 uploaded; instavid-plates: 1 completed; instavid-studio: 2 completed; instrumental-demo: 4 uploaded, 1 rejected \(NOT_A_JPEG\); v7-demo: 5 uploaded; 1 unrouted \(NO_MATCHING_STREAM\) in \d+\.\d s$/,
    );
    // InstaVid360's processed images are in the results bucket, and the demo says where.
    assert.match(out, /^results: 3 processed images in the results bucket$/m);
    for (const where of [
      /s3:\/\/[\w.-]+\/results\/instavid-studio\/studio\/front\/SN-2001_\d{8}T\d{6}Z\.jpg +← studio\/front\/SN-2001_/,
      /s3:\/\/[\w.-]+\/results\/instavid-studio\/studio\/side\/SN-2002_\d{8}T\d{6}Z\.jpg +← studio\/side\/SN-2002_/,
      /s3:\/\/[\w.-]+\/results\/plates-anonymised\/VIN1HGCM82633A004352\/gate-2_\d{8}T\d{6}Z\.jpg +← yard\/gate-2\//,
    ])
      assert.match(out, where);

    // The bad files' failure reasons, as a newcomer sees them.
    assert.match(
      out,
      /line-1\/aoi-top\/SN-1003_\d{8}T\d{6}Z\.jpg +instrumental-demo +REJECTED +NOT_A_JPEG: \.jpg file does not start with JPEG magic bytes \(found png\)/,
    );
    assert.match(
      out,
      /line-1\/IMG_0042\.jpg +- +UNROUTED +NO_MATCHING_STREAM: no stream's key_pattern matches "line-1\/IMG_0042\.jpg"/,
    );
    // Each good file: the path through the relay, with Instrumental's file id.
    for (const key of [
      /line-1\/aoi-top\/SN-1001_\d{8}T\d{6}Z\.jpg/,
      /line-1\/aoi-top\/SN-1002_\d{8}T\d{6}Z\.jpg/,
      /line-1\/aoi-side\/SN-1001_\d{8}T\d{6}Z\.jpg/,
      /line-1\/video\/final-qa\/SN-1001_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}\.mp4/,
    ]) {
      for (const status of ['QUEUED', 'SENDING', 'PENDING_VALIDATION', 'UPLOADED']) {
        const line = new RegExp(
          `${key.source} +instrumental-demo +${status}(?: +fileId=[A-Za-z0-9]{12})?$`,
          'm',
        );
        assert.match(out, line, `${key.source} ${status}`);
      }
    }
    // V7 takes every routed file, the PNG saved as .jpg too (it has no JPEG pre-flight), with V7's item id.
    for (const key of [
      /line-1\/aoi-top\/SN-1001_\d{8}T\d{6}Z\.jpg/,
      /line-1\/aoi-top\/SN-1002_\d{8}T\d{6}Z\.jpg/,
      /line-1\/aoi-top\/SN-1003_\d{8}T\d{6}Z\.jpg/,
      /line-1\/aoi-side\/SN-1001_\d{8}T\d{6}Z\.jpg/,
      /line-1\/video\/final-qa\/SN-1001_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}\.mp4/,
    ]) {
      assert.match(out, new RegExp(`${key.source} +v7-demo +UPLOADED +ref=[0-9a-f-]{36}$`, 'm'), key.source);
    }
    // The stills at Edge Impulse, the PNG under .jpg too (Edge Impulse sniffs content), with sample ids.
    for (const key of [
      /line-1\/aoi-top\/SN-1001_\d{8}T\d{6}Z\.jpg/,
      /line-1\/aoi-top\/SN-1002_\d{8}T\d{6}Z\.jpg/,
      /line-1\/aoi-side\/SN-1001_\d{8}T\d{6}Z\.jpg/,
      /line-1\/aoi-top\/SN-1003_\d{8}T\d{6}Z\.jpg/,
    ]) {
      assert.match(out, new RegExp(`${key.source} +edge-impulse-demo +UPLOADED +sampleId=\\d+$`, 'm'));
    }
    // The banner: simulators with their inspection API and README pointers.
    for (const name of ['instrumental', 'edge-impulse', 'v7-darwin', 'instavid360']) {
      assert.match(out, new RegExp(`knobs +simulators/${name}/README\\.md`));
    }
    assert.match(
      out,
      /inspect http:\/\/127\.0\.0\.1:\d+\/__sim\/requests \| \/__sim\/state \| \/__sim\/faults/,
    );

    // Relay logs went to the log file, not to the terminal.
    assert.equal(
      out.split('\n').some((l) => l.startsWith('{')),
      false,
      'no JSON log line on stdout',
    );
    const log = readFileSync(logFile, 'utf8');
    assert.match(log, /"code":"NOT_A_JPEG"/);
    assert.match(log, /"message":"unrouted object"/);

    const javaPid = javaPidOf(out);
    assert.equal(processExists(javaPid), false, `DynamoDB Local (java pid ${javaPid}) was stopped`);
  });

  test('start: a file dropped into the inbox is uploaded and followed; SIGINT stops cleanly', async () => {
    const inbox = join(tmp, 'inbox');
    const run = runCli([
      'start',
      '--inbox',
      inbox,
      '--log-file',
      join(tmp, 'start.log'),
      '--ephemeral-ports',
    ]);
    try {
      const drop = await run.waitFor(/Drop files into (.+)\/ — /);
      assert.equal(drop[1], inbox);
      const javaPid = javaPidOf(run.output());
      // The rest of the block may come in the next chunk.
      await run.waitFor(
        /aws s3 cp photo\.jpg s3:\/\/factory-relay-ingest\/line-1\/aoi-top\/.+ --endpoint-url http:\/\/127\.0\.0\.1:\d+ --region us-east-1/,
      );

      const key = 'line-1/aoi-top/SN-7001_20260105T090000Z.jpg';
      mkdirSync(join(inbox, 'line-1/aoi-top'), { recursive: true });
      writeFileSync(join(inbox, key), makeJpeg({ width: 320, height: 240, seed: 7 }));
      await run.waitFor(/SN-7001_20260105T090000Z\.jpg +uploaded \d+ KB +from the inbox/);
      const done = await run.waitFor(
        /line-1\/aoi-top\/SN-7001_20260105T090000Z\.jpg +instrumental-demo +(UPLOADED|REJECTED|FAILED_VALIDATION|DEAD)\b.*$/m,
      );
      assert.equal(done[1], 'UPLOADED', done[0]);

      run.child.kill('SIGINT');
      const res = await run.exited;
      assert.equal(res.code, 0, `exit code (signal ${res.signal}):\n${res.stdout}\n${res.stderr}`);
      assert.match(res.stdout, /SIGINT: stopping the simulators and the local stack…\nstopped\.\n$/);
      assert.equal(processExists(javaPid), false, `DynamoDB Local (java pid ${javaPid}) was stopped`);
    } finally {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
    }
  });

  test('start --config: runs that config (no demo files) and sends to its base_url; endpoints.json says where everything is', async () => {
    // "Their" Instrumental: a simulator on a port of its own, with a key only the secrets file knows.
    const key = 'cli-test:own:INST:V1:fake-own-id:not-a-real-secret';
    const theirs = new InstrumentalSimulator({ apiKeys: [key], validationDelayMs: 100 });
    const theirUrl = await theirs.start();
    const dir = join(tmp, 'own');
    mkdirSync(dir, { recursive: true });
    const configFile = join(dir, 'my.yaml');
    writeFileSync(
      configFile,
      [
        'version: 1',
        'data_receiver:',
        '  - data_receiver_name: plant',
        '    protocol: s3',
        '    streams:',
        '      - asset: plant-7',
        '        stream_type: cam',
        '        key_pattern: "plant/{station}/{serial}_{taken_at}.{ext}"',
        '        time_zone: Europe/Berlin',
        'data_transmit:',
        '  - transmit_name: my-inst',
        '    transmit_type: instrumental',
        '    filter_stream: ["plant-7:cam"]',
        `    base_url: ${theirUrl}`,
        '    api_key_secret: my-factory/instrumental',
        '    fields:',
        '      serialNumber: "{serial}"',
        '      stationName: "{station}"',
        '      imageType: Top',
        '      imageTimestamp: { iso8601Time: "{taken_at|iso8601}", ianaTimeZone: "{stream.time_zone}" }',
        '',
      ].join('\n'),
    );
    const secretsFile = join(dir, 'secrets.json');
    writeFileSync(secretsFile, JSON.stringify({ 'my-factory/instrumental': key }));
    const endpointsFile = join(dir, 'endpoints.json');
    const dataDir = join(dir, 'data');
    const options = {
      config: configFile,
      secrets: secretsFile,
      inbox: join(dir, 'inbox'),
      'data-dir': dataDir,
    };
    const run = runCli([
      'start',
      ...flags({ ...options, 'endpoints-file': endpointsFile, 'log-file': join(dir, 'relay.log') }),
      '--ephemeral-ports',
    ]);
    let s3: S3Client | undefined;
    try {
      await run.waitFor(/Drop files into /);
      const banner = run.output();
      assert.doesNotMatch(banner, /demo files/, 'no demo upload with --config');
      assert.doesNotMatch(banner, /replaced/);
      assert.match(banner, new RegExp(`my-inst → instrumental ${theirUrl} +as the config says`));
      assert.match(
        banner,
        /Secrets +http:\/\/127\.0\.0\.1:\d+ +my-factory\/instrumental \(from the secrets file\)/,
      );
      // Their base_url is on 127.0.0.1: no host beyond loopback is let through.
      assert.match(banner, /network +loopback only; every other host is refused/);
      assert.match(banner, /state kept in the data dir/);
      assert.match(banner, new RegExp(`data dir +${dataDir} +new; kept on exit, locked while this runs`));

      const e = JSON.parse(readFileSync(endpointsFile, 'utf8')) as EndpointsFile;
      assert.match(e.s3, /^http:\/\/127\.0\.0\.1:\d+$/);
      for (const url of [e.sqs, e.dynamodb, e.secretsManager, e.httpApi])
        assert.match(url ?? '', /^http:\/\/127\.0\.0\.1:\d+/);
      assert.deepEqual(e.destinations['my-inst'], {
        vendor: 'instrumental',
        baseUrl: theirUrl,
        via: 'as configured',
      });
      assert.notEqual(e.simulators.instrumental, theirUrl);
      assert.equal(e.config, configFile);
      assert.equal(e.table, 'factory-relay-status');
      assert.equal(e.queues.instrumental?.name, 'factory-relay-instrumental');
      assert.equal(e.pid, run.child.pid);
      assert.equal(e.dataDir, dataDir);

      // A second relay on the same data dir is refused, and leaves the running one alone.
      const second = await runCli([
        'demo',
        ...flags({ ...options, 'endpoints-file': join(dir, 'e2.json'), 'log-file': join(dir, 'r2.log') }),
        '--ephemeral-ports',
      ]).exited;
      assert.equal(second.code, 1, second.stdout);
      assert.match(
        second.stdout,
        new RegExp(
          `error: the data dir ${dataDir} is in use by another local stack \\(pid ${run.child.pid} `,
        ),
      );
      assert.doesNotMatch(second.stdout, /stack trace/, 'nothing to debug: the message says what to do');
      assert.equal(JSON.parse(readFileSync(endpointsFile, 'utf8')).pid, run.child.pid);
      assert.match(banner, new RegExp(`S3 \\+ SQS +${e.s3} +ingest bucket ${e.buckets.ingest}`));

      // Upload as a factory sync would, through the endpoint the file names.
      s3 = new S3Client({
        endpoint: e.s3,
        region: e.region,
        forcePathStyle: true,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
      await s3.send(
        new PutObjectCommand({
          Bucket: e.buckets.ingest,
          Key: 'plant/aoi/SN-77_20240315T101530.jpg',
          Body: makeJpeg({ width: 32, height: 24, seed: 77 }),
        }),
      );
      const file = await waitFor(
        'their simulator receives the file',
        () => theirs.files().find((f) => f.fileName === 'SN-77_20240315T101530.jpg'),
        60_000,
        100,
      );
      assert.deepEqual(file.data.imageTimestamp, {
        iso8601Time: '2024-03-15T10:15:30.000+01:00',
        ianaTimeZone: 'Europe/Berlin',
      });
      await run.waitFor(/plant\/aoi\/SN-77_20240315T101530\.jpg +my-inst +PENDING_VALIDATION +fileId=/);

      run.child.kill('SIGINT');
      const res = await run.exited;
      assert.equal(res.code, 0, `exit code (signal ${res.signal}):\n${res.stdout}\n${res.stderr}`);
      assert.equal(existsSync(endpointsFile), false, 'endpoints.json is removed on exit');
    } finally {
      s3?.destroy();
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
      await theirs.stop();
    }
  });
});
