// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these tests post configs with ${VAR} references
/**
 * The relay ops commands against a stand-in API on loopback (what they send, how they print what comes back),
 * and against nothing at all: ids and keys are printed whole, `where` follows `next`, config files go with
 * their ${VAR} filled from the operator's environment (YAML as text/yaml), and ordinary failures are one line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { Command } from '#cli/command.ts';
import { opsCommands } from '#cli/commands/ops.ts';
import { main } from '#cli/main.ts';

interface Seen {
  method: string;
  url: string;
  contentType: string;
  body: string;
}

type Answer = { status: number; body: string; contentType?: string };
let answer: (req: Seen) => Answer;
const seen: Seen[] = [];
let server: Server;
let dir: string;
let endpoints: string;

const envelope = (response: unknown, status = 200): Answer => ({
  status,
  body: JSON.stringify({ success: true, response, error: null }),
});

before(async () => {
  server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8');
    });
    req.on('end', () => {
      const s = {
        method: req.method ?? '',
        url: req.url ?? '',
        contentType: String(req.headers['content-type'] ?? ''),
        body,
      };
      seen.push(s);
      const a = answer(s);
      res.writeHead(a.status, { 'content-type': a.contentType ?? 'application/json' }).end(a.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  dir = mkdtempSync(join(tmpdir(), 'relay-ops-cli-'));
  endpoints = join(dir, 'endpoints.json');
  writeFileSync(
    endpoints,
    JSON.stringify({ httpApi: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
  );
});
after(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs `relay …args` in `dir` with `--endpoints-file file` (null: none, and `dir` has no .relay/endpoints.json),
 * through the given commands (default: the real ones).
 */
async function run(
  args: string[],
  env: Record<string, string> = {},
  file: string | null = endpoints,
  commands?: readonly Command[],
) {
  const out: string[] = [];
  const err: string[] = [];
  seen.length = 0;
  const io = { out: (t: string) => out.push(t), err: (t: string) => err.push(t), cwd: dir, env };
  const argv = file === null ? args : [...args, '--endpoints-file', file];
  const code = await (commands ? main(argv, io, commands) : main(argv, io));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const delivery = (i: number, extra: Record<string, unknown> = {}) => ({
  id: `${'x'.repeat(90)}${i}`,
  bucket: 'ingest',
  key: `line-1/a-station-with-a-long-name/SN-1001_20260105T081500Z_${'k'.repeat(40)}_${i}.jpg`,
  destination: 'inst',
  status: 'UPLOADED',
  attempts: 1,
  createdAt: '2026-01-05T08:15:00.000Z',
  updatedAt: '2026-01-05T08:15:01.000Z',
  ...extra,
});

describe('relay where', () => {
  it('prints ids and keys whole (a copied id works in relay show)', async () => {
    answer = () => envelope({ items: [delivery(1)] });
    const r = await run(['where', 'SN-1001']);
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.includes(delivery(1).id), r.out);
    assert.ok(r.out.includes(delivery(1).key), r.out);
  });

  it('follows next, then says how to read on', async () => {
    answer = (s) => {
      const page = Number(new URL(s.url, 'http://x').searchParams.get('next') ?? '0');
      return envelope({ items: [delivery(page)], next: String(page + 1) });
    };
    const r = await run(['where', 'SN-1001']);
    assert.equal(r.code, 0, r.err);
    assert.equal(seen.length, 10, 'ten pages');
    for (let i = 0; i < 10; i++) assert.ok(r.out.includes(delivery(i).id), `page ${i}`);
    assert.match(r.out, /more: 10 shown; relay where SN-1001 --next 10 reads on/);
    const on = await run(['where', 'SN-1001', '--next', '10']);
    assert.ok(on.out.includes(delivery(10).id));
    answer = (s) =>
      envelope(
        new URL(s.url, 'http://x').searchParams.get('next')
          ? { items: [delivery(2)] }
          : { items: [delivery(1)], next: 'p2' },
      );
    const two = await run(['where', 'SN-1001']);
    assert.equal(seen.length, 2);
    assert.ok(!/more:/.test(two.out), two.out);
  });
});

describe('relay streams', () => {
  it('a row per stream with its markers, then the unrouted keys with their marker', async () => {
    const stream = {
      stream: 'line-1:aoi',
      data_receiver: 'factory-bucket',
      id: 'line-1:aoi',
      receiver: 'factory-bucket',
      asset: 'line-1',
      stream_type: 'aoi',
      destinations: ['inst'],
      markers: [
        {
          component: 'inst',
          component_type: 'Transmit',
          category: 'error_rate',
          level: 'error',
          message: 'error rate 40%',
          timestamp: '2026-01-05T08:15:00.000Z',
        },
      ],
    };
    const unroutedMarker = {
      component: 'factory-bucket',
      component_type: 'Receiver',
      category: 'unrouted',
      level: 'warning',
      message: '3 keys matched no stream',
      timestamp: '2026-01-05T08:15:00.000Z',
    };
    answer = () => envelope({ streams: [stream], unrouted: { count: 3, marker: unroutedMarker } });
    const r = await run(['streams']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /line-1:aoi .*error: error rate 40%/);
    assert.match(r.out, /^unrouted: 3 \(warning: 3 keys matched no stream\)$/m);
    answer = () => envelope({ streams: [stream], unrouted: { count: 0 } });
    assert.match((await run(['streams'])).out, /^unrouted: 0$/m);
  });
});

describe('relay config get', () => {
  it('says when a deploy superseded the saved versions', async () => {
    const note = 'saved version 3 was saved on another deploy: the config baked in at this deploy is in use';
    answer = () =>
      envelope({ version: 0, source: 'baked', supersededByDeploy: true, note, config: { version: 1 } });
    const r = await run(['config', 'get']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.split('\n').slice(0, 2).join('\n'), `# version 0 (baked)\n# ${note}`);
  });
});

describe('relay config validate|save FILE', () => {
  it('sends YAML as text/yaml with ${VAR} filled from the operator environment, literals kept', async () => {
    answer = () => envelope({ status: 'passed', violations: [] });
    const file = join(dir, 'relay.yaml');
    writeFileSync(
      file,
      [
        '# a comment the saved text keeps',
        'version: 1',
        'data_transmit:',
        '  - transmit_name: inst',
        '    base_url: "${SIM_URL}"',
        '    port: ${PORT}',
        '    note: "cost $${AMOUNT}"',
        '    other: ${UNSET:-fallback}',
      ].join('\n'),
    );
    const r = await run(['config', 'validate', 'relay.yaml'], { SIM_URL: 'http://sim:4810', PORT: '8080' });
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, 'relay.yaml: valid');
    const sent = seen[0];
    assert.equal(sent?.url, '/v1/config/validate');
    assert.equal(sent?.contentType, 'text/yaml');
    assert.match(sent?.body ?? '', /# a comment the saved text keeps/);
    assert.deepEqual(parseYaml(sent?.body ?? ''), {
      version: 1,
      data_transmit: [
        {
          transmit_name: 'inst',
          base_url: 'http://sim:4810',
          port: '8080',
          note: 'cost $${AMOUNT}',
          other: 'fallback',
        },
      ],
    });
  });

  it('an unset ${VAR} is a violation here and nothing is sent', async () => {
    answer = () => assert.fail('nothing may be posted');
    writeFileSync(join(dir, 'unset.json'), JSON.stringify({ version: 1, base_url: '${NOT_SET_HERE}' }));
    const r = await run(['config', 'save', 'unset.json']);
    assert.equal(r.code, 1);
    assert.match(r.out, /error {2}base_url {2}environment variable NOT_SET_HERE is not set/);
    assert.match(r.out, /unset.json: invalid \(nothing was sent\)/);
    assert.equal(seen.length, 0);
  });

  it('a JSON file goes as JSON; the violations the API answers are printed', async () => {
    answer = () =>
      envelope({
        status: 'failed',
        violations: [{ level: 'error', json_path: ['x', 0], description: 'bad' }],
      });
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ version: 1 }));
    const first = await run(['config', 'validate', 'c.json']);
    assert.equal(seen[0]?.contentType, 'application/json');
    assert.deepEqual(JSON.parse(seen[0]?.body ?? ''), { version: 1 });
    assert.equal(first.code, 0);
  });
});

describe('ordinary failures: one line, exit 1', () => {
  it('an answer that is not the envelope prints HTTP <status>: <message>, never "FILE: invalid"', async () => {
    answer = () => ({ status: 403, body: '{"message":"Forbidden"}' });
    writeFileSync(join(dir, 'ok.yaml'), 'version: 1\n');
    const r = await run(['config', 'validate', 'ok.yaml']);
    assert.equal(r.code, 1);
    assert.equal(r.err, 'relay config: HTTP 403: Forbidden');
    assert.ok(!/invalid/.test(r.out), r.out);
    answer = () => ({ status: 502, body: '<html>Bad Gateway</html>', contentType: 'text/html' });
    const html = await run(['status']);
    assert.equal(html.code, 1);
    assert.equal(html.err, 'relay status: HTTP 502: <html>Bad Gateway</html>');
  });

  it('no stack running: one line naming it', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const file = join(dir, 'gone.json');
    writeFileSync(file, JSON.stringify({ httpApi: `http://127.0.0.1:${port}` }));
    const r = await run(['status'], {}, file);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /^relay status: cannot reach local stack http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED \(is npm start running\?\)$/,
    );
  });

  it('a missing file: one line', async () => {
    const r = await run(['config', 'save', 'nope.yaml']);
    assert.equal(r.code, 1);
    assert.match(r.err, /^relay config: cannot read nope\.yaml: ENOENT/);
    assert.equal(r.err.split('\n').length, 1);
  });

  it('--per-second that is not a number is a usage error (exit 2), nothing sent', async () => {
    answer = () => assert.fail('nothing may be posted');
    const restream = await run(['restream', '--id', 'r1', '--serial', 'SN-1', '--per-second', 'fast']);
    assert.equal(restream.code, 2);
    assert.match(restream.err, /--per-second fast: give a number above 0/);
    const redrive = await run(['dlq', 'redrive', 'ingest', '--per-second', '0']);
    assert.equal(redrive.code, 2);
    assert.equal(seen.length, 0);
  });
});

describe('usage errors: exit 2 before the target is resolved or anything is sent', () => {
  const cases: Array<{ args: string[]; message: RegExp }> = [
    {
      args: ['restream', '--id', 'x', '--per-second', '0'],
      message: /--per-second 0: give a number above 0/,
    },
    { args: ['where'], message: /name a serial or a key/ },
    { args: ['config', 'bogus'], message: /config get \| validate FILE \| save FILE/ },
    { args: ['status', 'extra'], message: /unexpected argument "extra"/ },
    { args: ['where', 'SN-1', 'SN-2'], message: /unexpected argument "SN-2"/ },
    { args: ['stop', 'inst', 'now'], message: /unexpected argument "now"/ },
    { args: ['dlq', 'bogus'], message: /unknown dlq subcommand "bogus"/ },
  ];
  /** Ops commands whose --stack resolution is recorded and never reaches AWS. */
  const standIn = () => {
    const made: Array<string | undefined> = [];
    const commands = opsCommands({
      cloudFormation: (region) => {
        made.push(region);
        throw new Error('stand-in: no CloudFormation here');
      },
    });
    return { made, commands };
  };
  const usageOf = (args: string[]) => new RegExp(`Usage: relay ${args[0]} `);

  for (const { args, message } of cases) {
    it(`relay ${args.join(' ')}: with the local stack's endpoints, nothing reaches it`, async () => {
      answer = () => assert.fail('nothing may be sent');
      const r = await run(args);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, message);
      assert.match(r.err, usageOf(args));
      assert.equal(seen.length, 0);
    });

    it(`relay ${args.join(' ')}: without an endpoints file, still 2 (not "no local stack")`, async () => {
      const r = await run(args, {}, null);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, message);
      assert.match(r.err, usageOf(args));
      assert.ok(!/no local stack/.test(r.err), r.err);
    });

    it(`relay ${args.join(' ')} --stack X: no CloudFormation client made, nothing asked of AWS`, async () => {
      const { made, commands } = standIn();
      const r = await run([...args, '--stack', 'X', '--region', 'eu-west-1'], {}, null, commands);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, message);
      assert.match(r.err, usageOf(args));
      assert.deepEqual(made, []);
    });
  }

  it('a valid command line with --stack X does resolve the stack (the stand-in above is the one used)', async () => {
    const { made, commands } = standIn();
    const r = await run(['status', '--stack', 'X', '--region', 'eu-west-1'], {}, null, commands);
    assert.equal(r.code, 1);
    assert.equal(r.err, 'relay status: stand-in: no CloudFormation here');
    assert.deepEqual(made, ['eu-west-1']);
  });
});
