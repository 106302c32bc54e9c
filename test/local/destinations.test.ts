/** Where `npm start --config` sends each destination, with which key, and which hosts it lets through. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { DataTransmit, RelayConfig } from '#domain/config/types.ts';
import {
  destinationHosts,
  movedSimulatorWarnings,
  planDestinations,
  readSecretsFile,
  resolveSecrets,
  secretEnvName,
} from '#local/demo/destinations.ts';
import { endpointsOf, removeEndpointsFile, writeEndpointsFile } from '#local/demo/endpoints.ts';
import type { RunningSimulator } from '#local/demo/simulators.ts';
import type { LocalStack } from '#local/stack.ts';
import type { Simulator } from '#simulators/framework/index.ts';

const tmp = mkdtempSync(join(tmpdir(), 'relay-destinations-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function sim(name: string, url: string, preferredPort: number): RunningSimulator {
  return {
    name,
    sim: {} as Simulator,
    url,
    preferredPort,
    apiKey: `fake-${name}-key`,
    credentials: '',
    readme: '',
  };
}

const SIMS = [
  sim('instrumental', 'http://127.0.0.1:4810', 4810),
  sim('edge-impulse', 'http://127.0.0.1:51234', 4811),
];

function dest(name: string, base_url: string, extra: Partial<DataTransmit> = {}): DataTransmit {
  return {
    transmit_name: name,
    transmit_type: 'instrumental',
    filter_stream: ['*'],
    base_url,
    api_key_secret: `factory/${name}`,
    fields: {},
    ...extra,
  };
}

const config = (transmits: DataTransmit[]): RelayConfig => ({
  version: 1,
  data_receiver: [],
  data_transmit: transmits,
});

describe('destinations of a config run locally', () => {
  test('a base_url that is a running simulator uses it; anything else is used as written', () => {
    const plans = planDestinations(
      config([
        dest('sim', 'http://127.0.0.1:4810'),
        dest('sim-localhost', 'http://localhost:4810/'),
        dest('proxy-path', 'http://127.0.0.1:4810/proxy'),
        dest('moved', 'http://127.0.0.1:4811'),
        dest('real', 'https://API.instrumental.ai'),
        dest('other-port', 'http://127.0.0.1:9999'),
      ]),
      SIMS,
    );
    assert.deepEqual(
      plans.map((p) => [p.transmit.transmit_name, p.simulator?.name ?? 'as configured', p.host]),
      [
        ['sim', 'instrumental', '127.0.0.1'],
        ['sim-localhost', 'instrumental', 'localhost'],
        ['proxy-path', 'as configured', '127.0.0.1'],
        ['moved', 'as configured', '127.0.0.1'],
        ['real', 'as configured', 'api.instrumental.ai'],
        ['other-port', 'as configured', '127.0.0.1'],
      ],
    );
    assert.deepEqual(destinationHosts(plans), ['api.instrumental.ai'], 'loopback needs no allowance');
    assert.deepEqual(movedSimulatorWarnings(plans, SIMS), [
      'moved: http://127.0.0.1:4811 is where the edge-impulse simulator usually listens, but port 4811 was taken; it runs on http://127.0.0.1:51234 now',
    ]);
  });

  test('secret names map to environment variables', () => {
    assert.equal(
      secretEnvName('factory-relay/instrumental-main'),
      'RELAY_SECRET_FACTORY_RELAY_INSTRUMENTAL_MAIN',
    );
    assert.equal(secretEnvName('/a.b@c+d=e_f/'), 'RELAY_SECRET_A_B_C_D_E_F');
  });

  test('keys: the simulator fake key, else the environment, else the secrets file; a missing one stops the start', () => {
    const plans = planDestinations(
      config([
        dest('sim', 'http://127.0.0.1:4810'),
        dest('from-env', 'https://a.example.com'),
        dest('from-file', 'https://b.example.com'),
        dest('both', 'https://c.example.com'),
        dest('none', 'https://d.example.com'),
        dest('off', 'https://e.example.com', { enabled: false }),
        dest('keyless', 'https://f.example.com', { api_key_secret: undefined }),
      ]),
      SIMS,
    );
    const r = resolveSecrets(
      plans,
      { RELAY_SECRET_FACTORY_FROM_ENV: 'env-value', RELAY_SECRET_FACTORY_BOTH: 'env-wins' },
      {
        'factory/from-file': 'file-value',
        'factory/both': 'file-loses',
        'factory/sim': 'not-for-a-simulator',
      },
      '.relay/secrets.json',
    );
    assert.deepEqual(r.values, {
      'factory/sim': 'fake-instrumental-key',
      'factory/from-env': 'env-value',
      'factory/from-file': 'file-value',
      'factory/both': 'env-wins',
    });
    assert.deepEqual(r.sources, {
      'factory/sim': 'simulator',
      'factory/from-env': 'environment',
      'factory/from-file': 'secrets file',
      'factory/both': 'environment',
    });
    assert.deepEqual(r.problems, [
      'data_transmit[4] none → https://d.example.com: no value for secret "factory/none"; set RELAY_SECRET_FACTORY_NONE or add "factory/none" to .relay/secrets.json',
    ]);
  });

  test('one secret name for a simulator and a real vendor is refused', () => {
    const plans = planDestinations(
      config([
        dest('sim', 'http://127.0.0.1:4810', { api_key_secret: 'shared' }),
        dest('real', 'https://a.example.com', { api_key_secret: 'shared' }),
      ]),
      SIMS,
    );
    const r = resolveSecrets(plans, { RELAY_SECRET_SHARED: 'x' }, {}, 's.json');
    assert.equal(r.problems.length, 1);
    assert.match(r.problems[0] ?? '', /secret "shared" is also a simulator destination's/);
  });

  test('the secrets file: absent is empty, anything but an object of strings is refused', () => {
    assert.deepEqual(readSecretsFile(join(tmp, 'none.json')), {});
    const write = (name: string, text: string) => {
      const p = join(tmp, name);
      writeFileSync(p, text);
      return p;
    };
    assert.deepEqual(readSecretsFile(write('ok.json', '{"a/b": "v"}')), { 'a/b': 'v' });
    assert.throws(() => readSecretsFile(write('bad.json', '{')), /is not JSON/);
    assert.throws(() => readSecretsFile(write('list.json', '["v"]')), /must be a JSON object/);
    assert.throws(() => readSecretsFile(write('num.json', '{"a": 1}')), /"a" must be a non-empty string/);
  });
});

describe('the endpoints file', () => {
  const queue = (name: string) => ({
    name,
    url: `http://127.0.0.1:51000/000000000000/${name}`,
    arn: `arn:aws:sqs:us-east-1:000000000000:${name}`,
    dlq: { name: `${name}-dlq`, url: `http://127.0.0.1:51000/000000000000/${name}-dlq`, arn: '' },
  });
  // The parts of a running stack the file reads.
  const stack = {
    region: 'us-east-1',
    endpoints: {
      s3: 'http://127.0.0.1:51000',
      sqs: 'http://127.0.0.1:51000',
      dynamodb: 'http://127.0.0.1:51001',
      secretsManager: 'http://127.0.0.1:51002',
    },
    apiUrl: 'http://127.0.0.1:51003',
    tableName: 'factory-relay-status',
    buckets: { ingest: 'factory-relay-ingest', results: 'factory-relay-results' },
    queues: {
      ingest: queue('factory-relay-ingest'),
      vendors: { instrumental: queue('factory-relay-instrumental') },
    },
  } as unknown as LocalStack;

  test('names every endpoint, the ports that moved, destinations, table, buckets and queues', () => {
    const plans = planDestinations(
      config([dest('sim', 'http://127.0.0.1:4810'), dest('real', 'https://api.instrumental.ai')]),
      SIMS,
    );
    const e = endpointsOf({
      stack,
      sims: SIMS,
      plans,
      allowedHosts: destinationHosts(plans),
      configFile: '/x/my.yaml',
      preferredS3Port: 4800,
      inbox: '/x/inbox',
      logFile: '/x/relay.log',
      now: new Date('2026-01-05T08:00:00Z'),
    });
    assert.deepEqual(e, {
      pid: process.pid,
      startedAt: '2026-01-05T08:00:00.000Z',
      config: '/x/my.yaml',
      region: 'us-east-1',
      s3: 'http://127.0.0.1:51000',
      sqs: 'http://127.0.0.1:51000',
      dynamodb: 'http://127.0.0.1:51001',
      secretsManager: 'http://127.0.0.1:51002',
      httpApi: 'http://127.0.0.1:51003',
      ui: 'http://127.0.0.1:51003/ui/',
      movedPorts: { s3: { preferred: 4800, used: 51000 }, 'edge-impulse': { preferred: 4811, used: 51234 } },
      simulators: { instrumental: 'http://127.0.0.1:4810', 'edge-impulse': 'http://127.0.0.1:51234' },
      destinations: {
        sim: { vendor: 'instrumental', baseUrl: 'http://127.0.0.1:4810', via: 'simulator instrumental' },
        real: { vendor: 'instrumental', baseUrl: 'https://api.instrumental.ai', via: 'as configured' },
      },
      allowedHosts: ['api.instrumental.ai'],
      table: 'factory-relay-status',
      buckets: { ingest: 'factory-relay-ingest', results: 'factory-relay-results' },
      queues: {
        ingest: {
          name: 'factory-relay-ingest',
          url: 'http://127.0.0.1:51000/000000000000/factory-relay-ingest',
          dlq: 'http://127.0.0.1:51000/000000000000/factory-relay-ingest-dlq',
        },
        instrumental: {
          name: 'factory-relay-instrumental',
          url: 'http://127.0.0.1:51000/000000000000/factory-relay-instrumental',
          dlq: 'http://127.0.0.1:51000/000000000000/factory-relay-instrumental-dlq',
        },
      },
      inbox: '/x/inbox',
      logFile: '/x/relay.log',
      dataDir: null,
    });
    const kept = endpointsOf({
      stack: { ...stack, dataDir: '/x/data' },
      sims: SIMS,
      plans,
      allowedHosts: [],
      configFile: '/x/my.yaml',
      preferredS3Port: 0,
      inbox: '/x/inbox',
      logFile: '/x/relay.log',
    });
    assert.equal(kept.dataDir, '/x/data', 'where the state is kept, with --data-dir');
    const path = join(tmp, 'sub', 'endpoints.json');
    writeEndpointsFile(path, e);
    assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), e);
    removeEndpointsFile(path);
    assert.equal(existsSync(path), false);
  });
});
