/**
 * The `relay` command line (cli/): the dispatcher and `relay validate`, in process through main() and as users
 * run it — `npx relay …` in the project, and from another folder with a PATH whose `node` may be older.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CommandIo } from '#cli/command.ts';
import { main } from '#cli/main.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const tmp = mkdtempSync(join(tmpdir(), 'relay-cli-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function run(argv: string[], cwd = ROOT, env: Record<string, string | undefined> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandIo = { out: (t) => out.push(t), err: (t) => err.push(t), cwd, env };
  const code = await main(argv, io);
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

/** A config with two errors and a warning. */
const BROKEN = `version: 1
data_receiver:
  - data_receiver_name: r
    protocol: s3
    streams:
      - asset: line-1
        stream_type: cam
        key_pattern: "line-1/{serial}_{taken_at}.jpg"
        time_zone: Pacific/Nowhere
data_transmit:
  - transmit_name: inst
    transmit_type: instrumental
    filter_stream: ["line-1:cam"]
    base_url: http://vendor.example.com
    fields:
      serialNumber: "{serial}"
      stationName: "{station}"
      imageType: Top
      imageTimestamp: { iso8601Time: "{taken_at|iso8601}", ianaTimeZone: "{stream.time_zone}" }
`;

describe('relay (dispatcher)', () => {
  it('--help lists the commands; an unknown command is a usage error (exit 2)', async () => {
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: relay <command>/);
    assert.match(help.stdout, /\n {2}validate +check a relay config file/);
    const none = await run([]);
    assert.equal(none.code, 0);
    assert.equal(none.stdout, help.stdout);
    const topic = await run(['help', 'validate']);
    assert.match(topic.stdout, /^Usage: relay validate FILE \[--json\]/);
    const bad = await run(['frobnicate']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^relay: unknown command "frobnicate"\n\nUsage: relay <command>/);
  });
});

describe('relay validate', () => {
  it('config/example.yaml is valid: exit 0', async () => {
    const r = await run(['validate', 'config/example.yaml']);
    assert.deepEqual(r, { code: 0, stdout: 'config/example.yaml: valid', stderr: '' });
  });

  it('a broken config: exit 1, one line per violation (level, json_path, description)', async () => {
    const file = join(tmp, 'broken.yaml');
    writeFileSync(file, BROKEN);
    const r = await run(['validate', 'broken.yaml'], tmp);
    assert.equal(r.code, 1);
    assert.equal(
      r.stdout,
      [
        'error  data_receiver[0].streams[0].time_zone  "Pacific/Nowhere" is not an IANA time zone (e.g. "America/Los_Angeles", "Europe/Berlin", "UTC")',
        'warning  data_transmit[0].base_url  uses plain http to vendor.example.com: the API key would travel unencrypted (use https)',
        'error  data_transmit[0].fields.stationName  {station} can never resolve for stream "line-1:cam" (data_receiver[0].streams[0]): "station" is not a named part of key_pattern "line-1/{serial}_{taken_at}.jpg" (parts: serial, taken_at)',
        'broken.yaml: invalid (2 errors, 1 warning)',
      ].join('\n'),
    );
  });

  it('--json prints the FactoryTX envelope', async () => {
    const r = await run(['validate', '--json', join(tmp, 'broken.yaml')]);
    assert.equal(r.code, 1);
    const body = JSON.parse(r.stdout) as {
      response: {
        status: string;
        violations: Array<{ description: string; json_path: unknown[]; level: string }>;
      };
      success: boolean;
    };
    assert.equal(body.success, false);
    assert.equal(body.response.status, 'failed');
    assert.deepEqual(
      body.response.violations.map((v) => [v.level, v.json_path]),
      [
        ['error', ['data_receiver', 0, 'streams', 0, 'time_zone']],
        ['warning', ['data_transmit', 0, 'base_url']],
        ['error', ['data_transmit', 0, 'fields', 'stationName']],
      ],
    );
    const ok = await run(['validate', '--json', 'config/example.yaml']);
    assert.equal(ok.code, 0);
    assert.deepEqual(JSON.parse(ok.stdout), {
      response: { status: 'passed', violations: [] },
      success: true,
    });
  });

  it('warnings alone are valid (exit 0); a $VAR reference comes from the environment', async () => {
    const file = join(tmp, 'warn.yaml');
    writeFileSync(
      file,
      BROKEN.replace('time_zone: Pacific/Nowhere', 'time_zone: Pacific/Auckland')
        .replace('"{station}"', '"{serial}"')
        .replace('http://vendor.example.com', `\${VENDOR_URL}`),
    );
    const unset = await run(['validate', file]);
    assert.equal(unset.code, 1);
    assert.match(
      unset.stdout,
      /error {2}data_transmit\[0\]\.base_url {2}environment variable VENDOR_URL is not set/,
    );
    const r = await run(['validate', file], ROOT, { VENDOR_URL: 'http://vendor.example.com' });
    assert.equal(r.code, 0);
    assert.match(
      r.stdout,
      /^warning {2}data_transmit\[0\]\.base_url {2}uses plain http.*\n.*warn\.yaml: valid \(1 warning\)$/,
    );
  });

  it('a stream an earlier, more general stream hides is a warning (exit 0)', async () => {
    const file = join(tmp, 'hidden.yaml');
    writeFileSync(
      file,
      `version: 1
data_receiver:
  - data_receiver_name: r
    protocol: s3
    streams:
      - { asset: line-1, stream_type: cam, key_pattern: "line-1/{station}/{serial}_{taken_at}.{ext}" }
      - { asset: line-1, stream_type: video, key_pattern: "line-1/{station}/{serial}_{taken_at}.mp4" }
data_transmit:
  - transmit_name: images
    transmit_type: edge-impulse
    filter_stream: ["line-1:cam"]
    base_url: http://127.0.0.1:4811
    fields: { label: "{station}" }
  - transmit_name: videos
    transmit_type: edge-impulse
    filter_stream: ["line-1:video"]
    base_url: http://127.0.0.1:4811
    fields: { label: "{station}" }
`,
    );
    const r = await run(['validate', 'hidden.yaml'], tmp);
    assert.deepEqual(r, {
      code: 0,
      stdout: [
        'warning  data_receiver[0].streams[1].key_pattern  stream "line-1:video" can never match: data_receiver[0].streams[0] (stream "line-1:cam") takes every key it would; put the more specific key_pattern first',
        'hidden.yaml: valid (1 warning)',
      ].join('\n'),
      stderr: '',
    });
  });

  it('usage errors exit 2; a file that cannot be read is an error (exit 1)', async () => {
    assert.equal((await run(['validate'])).code, 2);
    assert.equal((await run(['validate', 'a.yaml', 'b.yaml'])).code, 2);
    const unknown = await run(['validate', '--strict', 'a.yaml']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^relay validate: Unknown option '--strict'/);
    const missing = await run(['validate', 'no-such.yaml'], tmp);
    assert.equal(missing.code, 1);
    assert.match(missing.stdout, /^error {2}\(root\) {2}cannot read the config file: ENOENT/);
  });
});

/** The environment of a user's shell: no npm run variables, no node_modules/.bin on PATH. */
function shellEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.toLowerCase().startsWith('npm_')) env[k] = v;
  env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((p) => !/node_modules[\\/](\.bin|node[\\/]bin)/.test(p) && !p.includes('node-gyp-bin'))
    .join(delimiter);
  return env;
}

function spawnExit(cmd: string, args: string[], cwd: string) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((done, fail) => {
    const child = spawn(cmd, args, { cwd, env: shellEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    child.once('error', fail);
    child.once('exit', (code) => done({ code, stdout, stderr }));
  });
}

describe('relay as an executable', { timeout: 120_000 }, () => {
  it('npx relay in the project runs on Node 22 and validates', async () => {
    const v = await spawnExit('npx', ['--no', '--', 'relay', '--version'], ROOT);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^relay \d+\.\d+\.\d+ \(node v(\d+)\./);
    assert.ok(Number(v.stdout.match(/node v(\d+)/)?.[1]) >= 22, v.stdout);
    const r = await spawnExit('npx', ['--no', 'relay', 'validate', 'config/example.yaml'], ROOT);
    assert.deepEqual([r.code, r.stdout], [0, 'config/example.yaml: valid\n'], r.stderr);
  });

  it('from another folder (npx --prefix, and the file itself) it still finds Node 22 and tsx', async () => {
    writeFileSync(join(tmp, 'mine.yaml'), BROKEN);
    const viaNpx = await spawnExit('npx', ['--no', '--prefix', ROOT, 'relay', 'validate', 'mine.yaml'], tmp);
    assert.equal(viaNpx.code, 1, viaNpx.stderr);
    assert.match(viaNpx.stdout, /mine\.yaml: invalid \(2 errors, 1 warning\)\n$/);
    const direct = await spawnExit(join(ROOT, 'cli/relay.mjs'), ['--version'], tmp);
    assert.equal(direct.code, 0, direct.stderr);
    assert.ok(Number(direct.stdout.match(/node v(\d+)/)?.[1]) >= 22, direct.stdout);
  });
});
