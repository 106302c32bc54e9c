// biome-ignore-all lint/suspicious/noTemplateCurlyInString: these strings test the ${VAR} syntax itself
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { VENDORS } from '#vendors/registry.ts';
import {
  ConfigError,
  formatViolations,
  interpolateEnv,
  loadConfig,
  loadConfigFile,
  parseConfigText,
} from './load.ts';
import { destinationsFor, isSidecarKey, matchStream, sidecarKeyFor } from './match.ts';
import { RELAY_CONFIG_SCHEMA, relayConfigSchemaText } from './schema.ts';
import { renderTemplates, resolveTimeZone, type TemplateContext } from './template.ts';
import { ctxFor, FAKE_CATALOG } from './testing.ts';
import type { StreamConfig } from './types.ts';

const CONFIG_DIR = fileURLToPath(new URL('../../../config/', import.meta.url));
const EXAMPLE = join(CONFIG_DIR, 'example.yaml');

const tmp = mkdtempSync(join(tmpdir(), 'relay-config-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const MINIMAL = `
version: 1
data_receiver:
  - data_receiver_name: r
    protocol: s3
    streams:
      - { asset: a, stream_type: t, key_pattern: 'in/{serial}.{ext}' }
data_transmit:
  - transmit_name: d
    transmit_type: instrumental
    filter_stream: ['*']
    base_url: \${BASE_URL:-http://127.0.0.1:4810}
    api_key_secret: \${SECRET}
    fields:
      serialNumber: '{serial}'
      stationName: st
      imageType: '{ext|upper}'
      imageTimestamp: { iso8601Time: '{object.last_modified}', ianaTimeZone: UTC }
`;

describe('parseConfigText', () => {
  it('parses YAML, and JSON as YAML or strict JSON', () => {
    assert.deepEqual(parseConfigText('a: 1\nb: [x, "y"]\n'), { a: 1, b: ['x', 'y'] });
    assert.deepEqual(parseConfigText('{"a": {"b": null}}'), { a: { b: null } });
    assert.deepEqual(parseConfigText('{"a": 1}', 'json'), { a: 1 });
    assert.deepEqual(parseConfigText('on: yes\nn: 012\n'), { on: 'yes', n: 12 });
  });

  it('supports anchors and merge keys', () => {
    assert.deepEqual(parseConfigText('x-base: &b { k: 1 }\nv: { <<: *b, j: 2 }\n'), {
      'x-base': { k: 1 },
      v: { k: 1, j: 2 },
    });
  });

  it('reports syntax errors, duplicate keys and empty documents as violations', () => {
    const fails = (text: string, format?: 'yaml' | 'json') => {
      try {
        parseConfigText(text, format);
      } catch (e) {
        assert.ok(e instanceof ConfigError);
        return e.violations;
      }
      assert.fail('expected a ConfigError');
    };
    assert.deepEqual(fails('a: 1\na: 2\n'), [
      { description: 'YAML: Map keys must be unique at line 2, column 1', json_path: [], level: 'error' },
    ]);
    assert.match(fails('a: [1, 2\n')[0]?.description ?? '', /^YAML: .*line \d+, column \d+$/);
    assert.match(fails('{"a": }', 'json')[0]?.description ?? '', /^not valid JSON: /);
    assert.deepEqual(fails('# only a comment\n'), [
      { description: 'the config is empty', json_path: [], level: 'error' },
    ]);
  });
});

describe('interpolateEnv', () => {
  const env = { HOST: 'h.example', EMPTY: '', PORT: '8080' };

  it('replaces ${VAR} and ${VAR:-default} in string values only', () => {
    const tree = {
      url: 'https://${HOST}:${PORT}/x',
      d: '${NOPE:-fallback}',
      e: '${EMPTY:-used-when-empty}',
      plain: '${EMPTY}',
      dollars: '$HOST $${HOST} ${HOST}$',
      list: ['${HOST}', 3, true, null],
      '${HOST}': 'key untouched',
      colon: '${NOPE:-http://a:1/b}',
    };
    assert.deepEqual(interpolateEnv(tree, env), {
      value: {
        url: 'https://h.example:8080/x',
        d: 'fallback',
        e: 'used-when-empty',
        plain: '',
        dollars: '$HOST ${HOST} h.example$',
        list: ['h.example', 3, true, null],
        '${HOST}': 'key untouched',
        colon: 'http://a:1/b',
      },
      violations: [],
    });
  });

  it('reports unset variables and malformed references at the value', () => {
    const r = interpolateEnv({ a: [{ b: 'x-${MISSING}' }], c: '${1BAD}', d: 'tail ${OPEN' }, env);
    assert.deepEqual(r.violations, [
      {
        description: 'environment variable MISSING is not set (write ${MISSING:-default} to give a default)',
        json_path: ['a', 0, 'b'],
        level: 'error',
      },
      {
        description:
          '"${1BAD}" is not a valid reference: use ${NAME} or ${NAME:-default} ($${ for a literal)',
        json_path: ['c'],
        level: 'error',
      },
      { description: 'unclosed "${" in "tail ${OPEN"', json_path: ['d'], level: 'error' },
    ]);
    assert.deepEqual(r.value, { a: [{ b: 'x-${MISSING}' }], c: '${1BAD}', d: 'tail ${OPEN' });
  });
});

describe('loadConfig', () => {
  it('loads, interpolating the environment, and returns warnings and the text', () => {
    const loaded = loadConfig(MINIMAL, FAKE_CATALOG, { SECRET: 'relay/d', BASE_URL: 'http://10.1.2.3:9' });
    assert.equal(loaded.text, MINIMAL);
    assert.equal(loaded.config.data_transmit[0]?.base_url, 'http://10.1.2.3:9');
    assert.equal(loaded.config.data_transmit[0]?.api_key_secret, 'relay/d');
    assert.deepEqual(loaded.violations, [
      {
        description: 'uses plain http to 10.1.2.3: the API key would travel unencrypted (use https)',
        json_path: ['data_transmit', 0, 'base_url'],
        level: 'warning',
      },
    ]);
    assert.equal(
      loadConfig(MINIMAL, FAKE_CATALOG, { SECRET: 's' }).config.data_transmit[0]?.base_url,
      'http://127.0.0.1:4810',
    );
  });

  it('throws ConfigError with every violation and a readable message', () => {
    assert.throws(
      () => loadConfig(MINIMAL, FAKE_CATALOG, {}),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.deepEqual(e.violations, [
          {
            description:
              'environment variable SECRET is not set (write ${SECRET:-default} to give a default)',
            json_path: ['data_transmit', 0, 'api_key_secret'],
            level: 'error',
          },
        ]);
        assert.equal(
          e.message,
          'invalid relay config:\nerror  data_transmit[0].api_key_secret  environment variable SECRET is not set ' +
            '(write ${SECRET:-default} to give a default)',
        );
        return true;
      },
    );
    const bad = MINIMAL.replace('base_url: ${BASE_URL:-http://127.0.0.1:4810}', 'base_url: ftp://x');
    assert.throws(
      () => loadConfig(bad, FAKE_CATALOG, { SECRET: 's' }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message ===
          'invalid relay config:\nerror  data_transmit[0].base_url  must be an http(s) URL, got scheme "ftp"',
    );
  });

  it('formatViolations writes one line per violation', () => {
    assert.equal(
      formatViolations([
        { description: 'must be a URL', json_path: ['data_transmit', 0, 'base_url'], level: 'error' },
        { description: 'no streams', json_path: [], level: 'warning' },
      ]),
      'error  data_transmit[0].base_url  must be a URL\nwarning  (root)  no streams',
    );
    assert.equal(formatViolations([]), '');
  });
});

describe('loadConfigFile', () => {
  const yamlPath = join(tmp, 'relay.yaml');
  const jsonPath = join(tmp, 'relay.json');
  writeFileSync(yamlPath, MINIMAL);
  const asJson = JSON.stringify(parseConfigText(MINIMAL));
  writeFileSync(jsonPath, asJson);

  it('reads YAML and JSON files', () => {
    const y = loadConfigFile(yamlPath, FAKE_CATALOG, { SECRET: 's' });
    const j = loadConfigFile(jsonPath, FAKE_CATALOG, { SECRET: 's' });
    assert.deepEqual(j.config, y.config);
    assert.equal(j.text, asJson);
  });

  it('names the file in errors', () => {
    const missing = join(tmp, 'nope.yaml');
    assert.throws(
      () => loadConfigFile(missing, FAKE_CATALOG, {}),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.source === missing &&
        e.message.startsWith(
          `invalid relay config ${missing}:\nerror  (root)  cannot read the config file: ENOENT`,
        ),
    );
    const broken = join(tmp, 'broken.json');
    writeFileSync(broken, '{ "version": 1, }');
    assert.throws(
      () => loadConfigFile(broken, FAKE_CATALOG, {}),
      (e: unknown) => e instanceof ConfigError && e.source === broken && /not valid JSON/.test(e.message),
    );
  });
});

describe('config/ files', () => {
  it('relay-config.schema.json is the schema of schema.ts', () => {
    const file = readFileSync(join(CONFIG_DIR, 'relay-config.schema.json'), 'utf8');
    assert.deepEqual(JSON.parse(file), RELAY_CONFIG_SCHEMA);
    assert.deepEqual(JSON.parse(relayConfigSchemaText()), RELAY_CONFIG_SCHEMA);
  });

  it('example.yaml loads with no violations against the registered plug-ins', () => {
    const loaded = loadConfigFile(EXAMPLE, VENDORS, {});
    assert.deepEqual(loaded.violations, []);
    assert.equal(loaded.config.data_transmit[0]?.base_url, 'http://127.0.0.1:4810');
    assert.equal(loaded.config.data_transmit[1]?.base_url, 'http://127.0.0.1:4811');
    const env = {
      INSTRUMENTAL_URL: 'https://api.instrumental.ai',
      EDGE_IMPULSE_URL: 'https://ingestion.edgeimpulse.com',
    };
    const real = loadConfigFile(EXAMPLE, VENDORS, env).config.data_transmit;
    assert.deepEqual(
      real.slice(0, 2).map((t) => t.base_url),
      ['https://api.instrumental.ai', 'https://ingestion.edgeimpulse.com'],
    );
    const v7 = (env: Record<string, string>) =>
      loadConfigFile(EXAMPLE, VENDORS, env).config.data_transmit.find((t) => t.transmit_type === 'v7-darwin');
    assert.equal(v7({})?.base_url, 'http://127.0.0.1:4812');
    assert.equal(v7({ V7_URL: 'https://darwin.v7labs.com' })?.base_url, 'https://darwin.v7labs.com');
  });

  it('example.yaml routes and renders every Instrumental, Edge Impulse and V7 field', () => {
    const { config } = loadConfigFile(EXAMPLE, VENDORS, {});
    const key = 'line-1/aoi-top/SN1234_20240315T101530.jpg';
    assert.equal(isSidecarKey(config, key), false);
    const m = matchStream(config, 'factory-ingest', key);
    assert.ok(m);
    assert.equal(m.stream.stream_type, 'aoi-camera');
    const sidecarKey = sidecarKeyFor(m.stream, key);
    assert.equal(sidecarKey, `${key}.json`);
    assert.equal(isSidecarKey(config, sidecarKey ?? ''), true);
    const dests = destinationsFor(config, m.stream);
    assert.deepEqual(
      dests.map((d) => d.transmit_name),
      ['instrumental-demo', 'edge-impulse-demo', 'v7-demo'],
    );
    const [dest, ei, v7] = dests;
    assert.ok(dest && ei && v7);
    const sidecar = {
      tz: 'Europe/Berlin',
      tags: ['night-shift'],
      image_type: 'AOI top',
      config_name: 'recipe-7',
      configs: { camera: 'cam-7', exposure_ms: '12' },
      fixture: 'FX-2',
      build: 'EVT',
      parent: { unit_serial: 'PCBA-99', relationship: 'main board' },
      subassemblies: [{ unitSerial: 'BAT-1', relationshipName: 'battery' }],
      verdict: 'scratch',
      boxes: [{ label: 'scratch', x: 120, y: 80, width: 64, height: 18 }],
    };
    // The sample in example.yaml's comment is this sidecar.
    const comment = readFileSync(EXAMPLE, 'utf8').match(/e\.g\.\n((?:\s+#.*\n)+?)\s+# Sidecar keys/)?.[1];
    assert.ok(comment, 'example.yaml shows a sidecar sample');
    assert.deepEqual(JSON.parse(comment.replace(/^\s*#/gm, '')), sidecar);
    // As the router does: the stream's time_zone is resolved for the object before its fields.
    const withZone = (c: TemplateContext): TemplateContext => ({
      ...c,
      timeZone: resolveTimeZone((c.stream as StreamConfig).time_zone, c),
    });
    const ctx = withZone(
      ctxFor({
        parts: m.parts,
        sidecar,
        object: { bucket: 'factory-ingest', key, size: 10 },
        stream: m.stream,
        vars: m.stream.vars ?? {},
      }),
    );
    assert.deepEqual(renderTemplates(dest.fields, ctx), {
      value: {
        serialNumber: 'SN1234',
        stationName: 'aoi-top',
        imageType: 'AOI top',
        // 10:15:30 on the camera's clock in Berlin (CET in March) is 09:15:30 UTC.
        imageTimestamp: { iso8601Time: '2024-03-15T10:15:30.000+01:00', ianaTimeZone: 'Europe/Berlin' },
        tags: ['night-shift'],
        configName: 'recipe-7',
        imageConfigs: { configs: { camera: 'cam-7', exposure_ms: '12' } },
        fixtureName: 'FX-2',
        fileName: 'SN1234_20240315T101530.jpg',
        lineName: 'line-1',
        buildName: 'EVT',
        parentAssembly: { unitSerial: 'PCBA-99', relationshipName: 'main board' },
        subassemblies: [{ unitSerial: 'BAT-1', relationshipName: 'battery' }],
      },
      missing: [],
    });
    assert.deepEqual(renderTemplates(v7.fields, ctx).value, {
      name: 'SN1234_20240315T101530.jpg',
      path: '/line-1/aoi-top',
      tags: ['night-shift'],
    });
    assert.deepEqual(renderTemplates(ei.fields, ctx), {
      value: {
        label: 'scratch',
        metadata: { station: 'aoi-top', line: 'line-1', build: 'EVT' },
        boundingBoxes: [{ label: 'scratch', x: 120, y: 80, width: 64, height: 18 }],
      },
      missing: [],
    });
    // Without a sidecar verdict the label is vars.verdict, false: no label.
    const bare = renderTemplates(ei.fields, { ...ctx, sidecar: undefined });
    assert.equal(bare.value.label, false);
    assert.equal(bare.value.boundingBoxes, undefined);

    // A video without sidecar: required fields come from the key and vars; optional ones are left out.
    const videoKey = 'line-1/video/final-qa/SN1234_2024-03-15_10-15-30.mp4';
    const v = matchStream(config, 'factory-ingest', videoKey);
    assert.equal(v?.stream.stream_type, 'inspection-video');
    const rendered = renderTemplates(
      dest.fields,
      withZone(
        ctxFor({
          parts: v?.parts,
          object: { bucket: 'b', key: videoKey },
          stream: v?.stream,
          vars: v?.stream.vars,
        }),
      ),
    );
    assert.deepEqual(rendered.value, {
      serialNumber: 'SN1234',
      stationName: 'final-qa',
      imageType: 'Inspection video',
      // vars.tz: 10:15:30 Pacific Daylight Time (since 10 March) is 17:15:30 UTC.
      imageTimestamp: { iso8601Time: '2024-03-15T10:15:30.000-07:00', ianaTimeZone: 'America/Los_Angeles' },
      fileName: 'SN1234_2024-03-15_10-15-30.mp4',
      lineName: 'line-1',
      buildName: 'DVT',
    });
    assert.deepEqual(
      rendered.missing.map((x) => x.json_path.join('.')),
      [
        'tags',
        'configName',
        'imageConfigs.configs.camera',
        'imageConfigs.configs.exposure_ms',
        'fixtureName',
        'parentAssembly.unitSerial',
        'parentAssembly.relationshipName',
        'subassemblies',
      ],
    );
  });
});
