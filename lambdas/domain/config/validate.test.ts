import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAKE_CATALOG } from './testing.ts';
import type { RelayConfig, Violation } from './types.ts';
import { formatJsonPath, validateConfig } from './validate.ts';

/** A valid config; tests mutate a fresh copy. */
function base(): RelayConfig {
  return {
    version: 1,
    data_receiver: [
      {
        data_receiver_name: 'factory-bucket',
        protocol: 's3',
        streams: [
          {
            asset: 'line-1',
            stream_type: 'aoi-camera',
            key_pattern: 'line-1/{station}/{serial}_{taken_at}.{ext}',
            sidecar: { mode: 'append' },
            required: ['serial', 'station'],
            vars: { tz: 'UTC' },
            time_zone: '{sidecar.tz ?? vars.tz}',
          },
          {
            asset: 'line-1',
            stream_type: 'video',
            key_pattern: 'line-1/video/{station}/{serial}.{ext}',
          },
        ],
      },
    ],
    data_transmit: [
      {
        transmit_name: 'inst',
        transmit_type: 'instrumental',
        filter_stream: ['line-1:aoi-camera'],
        base_url: 'https://api.instrumental.ai',
        api_key_secret: 'factory-relay/inst',
        fields: {
          serialNumber: '{serial}',
          stationName: '{station}',
          imageType: 'AOI',
          imageTimestamp: { iso8601Time: '{taken_at|iso8601}', ianaTimeZone: '{stream.time_zone}' },
        },
      },
      {
        transmit_name: 'ei',
        transmit_type: 'edge-impulse',
        filter_stream: ['*'],
        base_url: 'http://127.0.0.1:4811',
        options: { category: 'training' },
        fields: { label: '{station}' },
      },
    ],
  };
}

type Mutable = Record<string, unknown>;
const at = (obj: unknown, ...path: Array<string | number>): Mutable =>
  path.reduce<unknown>((o, k) => (o as Record<string | number, unknown>)[k], obj) as Mutable;

function violationsOf(mutate: (c: RelayConfig) => void, catalog = FAKE_CATALOG): Violation[] {
  const c = base();
  mutate(c);
  return validateConfig(c, catalog).violations;
}

describe('validateConfig', () => {
  it('accepts a valid config with no violations and returns it', () => {
    const c = base();
    const r = validateConfig(c, FAKE_CATALOG);
    assert.deepEqual(r, { ok: true, config: c, violations: [] });
  });

  describe('schema errors', () => {
    it('the root must be an object', () => {
      assert.deepEqual(validateConfig(null, FAKE_CATALOG), {
        ok: false,
        violations: [{ description: 'must be an object (a mapping)', json_path: [], level: 'error' }],
      });
    });

    it('reports missing, unknown and mistyped keys with array indexes as numbers', () => {
      const vs = violationsOf((c) => {
        const t = at(c, 'data_transmit', 0);
        delete t.base_url;
        t.baseurl = 'x';
        t.enabled = 'yes';
        at(c, 'data_receiver', 0, 'streams', 1).asset = 'line:1';
        at(c, 'data_receiver', 0).protocol = 'ftp';
        (c as unknown as Mutable).version = 2;
        (c as unknown as Mutable).data_transmitt = [];
        at(c, 'data_receiver', 0).bucket = 'Bad_Bucket';
        at(c, 'data_receiver', 0, 'streams', 0).key_pattern = '/abs/{x}';
        at(c, 'data_receiver', 0, 'streams', 0, 'sidecar').mode = 'prepend';
        at(c, 'data_transmit', 1).rate_limit = { burst: 0, per_second: 0 };
        at(c, 'data_transmit', 1).filter_stream = [];
      });
      assert.deepEqual(vs, [
        {
          description:
            'unknown key "data_transmitt" (did you mean "data_transmit"?); known: version, relay, data_receiver, data_transmit',
          json_path: ['data_transmitt'],
          level: 'error',
        },
        { description: 'must be 1', json_path: ['version'], level: 'error' },
        { description: 'must be "s3"', json_path: ['data_receiver', 0, 'protocol'], level: 'error' },
        {
          description: 'must be an S3 bucket name (3 to 63 lowercase letters, digits, "." and "-")',
          json_path: ['data_receiver', 0, 'bucket'],
          level: 'error',
        },
        {
          description: 'must not start with "/" (S3 keys have no leading slash)',
          json_path: ['data_receiver', 0, 'streams', 0, 'key_pattern'],
          level: 'error',
        },
        {
          description: 'must be one of: "append", "replace"',
          json_path: ['data_receiver', 0, 'streams', 0, 'sidecar', 'mode'],
          level: 'error',
        },
        {
          description: 'must not contain ":" or "*", nor start or end with whitespace',
          json_path: ['data_receiver', 0, 'streams', 1, 'asset'],
          level: 'error',
        },
        {
          description: '"base_url" is required',
          json_path: ['data_transmit', 0, 'base_url'],
          level: 'error',
        },
        {
          description:
            'unknown key "baseurl" (did you mean "base_url"?); known: transmit_name, transmit_type, filter_stream, ' +
            'base_url, api_key_secret, rate_limit, enabled, skip_duplicate_content, options, fields',
          json_path: ['data_transmit', 0, 'baseurl'],
          level: 'error',
        },
        { description: 'must be true or false', json_path: ['data_transmit', 0, 'enabled'], level: 'error' },
        {
          description: 'must have at least 1 item',
          json_path: ['data_transmit', 1, 'filter_stream'],
          level: 'error',
        },
        {
          description: 'must be >= 1',
          json_path: ['data_transmit', 1, 'rate_limit', 'burst'],
          level: 'error',
        },
        {
          description: 'must be > 0',
          json_path: ['data_transmit', 1, 'rate_limit', 'per_second'],
          level: 'error',
        },
      ]);
    });

    it('reports a section of the wrong type like FactoryTX', () => {
      const vs = violationsOf((c) => {
        (c as unknown as Mutable).data_transmit = { a: 1 };
      });
      assert.deepEqual(vs, [{ description: 'must be a list', json_path: ['data_transmit'], level: 'error' }]);
    });

    it('accepts $schema and top-level x- keys only', () => {
      assert.deepEqual(
        violationsOf((c) => {
          Object.assign(c, { $schema: './relay-config.schema.json', 'x-common': { any: ['thing'] } });
        }),
        [],
      );
      assert.deepEqual(
        violationsOf((c) => {
          at(c, 'data_transmit', 0)['x-note'] = 'n';
        })[0]?.json_path,
        ['data_transmit', 0, 'x-note'],
      );
    });

    it('keeps keys with "/" and "~" intact in json_path', () => {
      const vs = violationsOf((c) => {
        at(c, 'data_receiver', 0)['a/b~c'] = 1;
      });
      assert.deepEqual(vs[0]?.json_path, ['data_receiver', 0, 'a/b~c']);
    });
  });

  describe('semantic checks', () => {
    it('duplicate receiver names, transmit names and streams', () => {
      const vs = violationsOf((c) => {
        const r = c.data_receiver[0];
        if (!r) throw new Error('fixture');
        const stream = {
          ...r.streams[0],
          key_pattern: 'x/{station}/{serial}_{taken_at}.{ext}',
        } as RelayConfig['data_receiver'][number]['streams'][number];
        c.data_receiver.push({ ...r, streams: [stream] });
        c.data_transmit.push({ ...(c.data_transmit[1] as RelayConfig['data_transmit'][number]) });
      });
      assert.deepEqual(vs, [
        {
          description: 'duplicate data_receiver_name "factory-bucket" (also data_receiver[0])',
          json_path: ['data_receiver', 1, 'data_receiver_name'],
          level: 'error',
        },
        {
          description: 'duplicate stream "line-1:aoi-camera" (also data_receiver[0].streams[0])',
          json_path: ['data_receiver', 1, 'streams', 0],
          level: 'error',
        },
        {
          description: 'duplicate transmit_name "ei" (also data_transmit[1])',
          json_path: ['data_transmit', 2, 'transmit_name'],
          level: 'error',
        },
      ]);
    });

    it('key_pattern that does not compile, and a shadowed key_pattern', () => {
      const vs = violationsOf((c) => {
        const streams = c.data_receiver[0]?.streams ?? [];
        at(streams, 1).key_pattern = 'line-1/{serial}/{serial}';
        streams.push({ asset: 'line-1', stream_type: 'copy', key_pattern: streams[0]?.key_pattern ?? '' });
      });
      assert.deepEqual(vs, [
        {
          description: 'duplicate part name "serial" (position 16)',
          json_path: ['data_receiver', 0, 'streams', 1, 'key_pattern'],
          level: 'error',
        },
        {
          description:
            'stream "line-1:copy" can never match: data_receiver[0].streams[0] (stream "line-1:aoi-camera") has the same key_pattern and comes first',
          json_path: ['data_receiver', 0, 'streams', 2, 'key_pattern'],
          level: 'warning',
        },
      ]);
    });

    describe('a stream an earlier stream hides', () => {
      // streams[0] is `line-1/{station}/{serial}_{taken_at}.{ext}`. Only key_pattern findings: the edge-impulse
      // transmit takes every stream and reads {station}, which some of these patterns do not have.
      const patternFindings = (vs: Violation[]) => vs.filter((v) => v.json_path.at(-1) === 'key_pattern');
      const withStream = (key_pattern: string, first = false) =>
        patternFindings(
          violationsOf((c) => {
            const streams = c.data_receiver[0]?.streams ?? [];
            const clip = { asset: 'line-1', stream_type: 'clip', key_pattern };
            if (first) streams.unshift(clip);
            else streams.push(clip);
          }),
        );
      const hidden = (how: string): Violation[] => [
        {
          description: `stream "line-1:clip" can never match: data_receiver[0].streams[0] (stream "line-1:aoi-camera") ${how}`,
          json_path: ['data_receiver', 0, 'streams', 2, 'key_pattern'],
          level: 'warning',
        },
      ];

      it('a general pattern before a specific one takes every key of the specific one', () => {
        assert.deepEqual(
          withStream('line-1/{station}/{serial}_{taken_at}.mp4'),
          hidden('takes every key it would; put the more specific key_pattern first'),
        );
        assert.deepEqual(
          withStream('line-1/{station}/{serial}_2024-*.{ext}'),
          hidden('takes every key it would; put the more specific key_pattern first'),
        );
      });

      it('the same pattern with other part names', () => {
        assert.deepEqual(
          withStream('line-1/{st}/{sn}_{t}.{e}'),
          hidden('has the same key_pattern up to part names and comes first'),
        );
      });

      it('no warning when the specific pattern comes first, or the later one keeps keys of its own', () => {
        assert.deepEqual(withStream('line-1/{station}/{serial}_{taken_at}.mp4', true), []);
        assert.deepEqual(withStream('line-2/{station}/{serial}_{taken_at}.mp4'), []);
        // Keys without `_`, in deeper folders, with an empty segment or a dotted extension stay with "clip".
        assert.deepEqual(withStream('line-1/{station}/{serial}.{ext}'), []);
        assert.deepEqual(withStream('line-1/{station**}/{serial}_{taken_at}.{ext}'), []);
        assert.deepEqual(withStream('line-1/*/{serial}_{taken_at}.{ext}'), []);
        assert.deepEqual(withStream('line-1/{station}/{serial}_{taken_at}.{ext**}'), []);
      });

      it('across receivers: an earlier receiver hides a later one only in the buckets it sees', () => {
        const twoReceivers = (earlier: string | undefined, later: string | undefined) =>
          patternFindings(
            violationsOf((c) => {
              const r = c.data_receiver[0];
              if (!r) throw new Error('fixture');
              if (earlier !== undefined) r.bucket = earlier;
              c.data_receiver.push({
                data_receiver_name: 'later',
                protocol: 's3',
                ...(later === undefined ? {} : { bucket: later }),
                streams: [{ asset: 'line-1', stream_type: 'clip', key_pattern: 'line-1/{a}/{b}_{c}.mp4' }],
              });
            }),
          );
        const warning: Violation[] = [
          {
            description:
              'stream "line-1:clip" can never match: data_receiver[0].streams[0] (stream "line-1:aoi-camera") takes every key it would; put the more specific key_pattern first',
            json_path: ['data_receiver', 1, 'streams', 0, 'key_pattern'],
            level: 'warning',
          },
        ];
        assert.deepEqual(twoReceivers(undefined, undefined), warning);
        assert.deepEqual(twoReceivers(undefined, 'plant-b'), warning);
        assert.deepEqual(twoReceivers('plant-a', 'plant-a'), warning);
        assert.deepEqual(twoReceivers('plant-a', undefined), []);
        assert.deepEqual(twoReceivers('plant-a', 'plant-b'), []);
      });
    });

    it('required entries must be resolvable', () => {
      const vs = violationsOf((c) => {
        at(c, 'data_receiver', 0, 'streams', 1).required = [
          'serial',
          'lot',
          'sidecar.op',
          'meta.op',
          'vars.x',
          'a b',
        ];
      });
      assert.deepEqual(vs, [
        {
          description:
            '"lot" is not a named part of key_pattern "line-1/video/{station}/{serial}.{ext}" (parts: station, serial, ext)',
          json_path: ['data_receiver', 0, 'streams', 1, 'required', 1],
          level: 'error',
        },
        {
          description: '"sidecar.op" needs a sidecar, but this stream has none',
          json_path: ['data_receiver', 0, 'streams', 1, 'required', 2],
          level: 'error',
        },
        {
          description: '"vars.x": required entries are key parts, sidecar.<path> or meta.<name>',
          json_path: ['data_receiver', 0, 'streams', 1, 'required', 4],
          level: 'error',
        },
        {
          description: '"a b": expected a name or a path',
          json_path: ['data_receiver', 0, 'streams', 1, 'required', 5],
          level: 'error',
        },
      ]);
    });

    it('filter_stream entries: malformed, matching nothing; a transmit taking nothing; a stream nobody takes', () => {
      const vs = violationsOf((c) => {
        at(c, 'data_transmit', 0).filter_stream = ['line-1:aoi-camera', 'line-1', 'line-9:*'];
        at(c, 'data_transmit', 1).filter_stream = ['line-1:aoi-camera'];
      });
      assert.deepEqual(vs, [
        {
          description:
            'no data_transmit takes stream "line-1:video": its objects are recorded but not delivered',
          json_path: ['data_receiver', 0, 'streams', 1],
          level: 'warning',
        },
        {
          description: '"line-1" must be "*" or "asset:stream_type" (either side may be "*")',
          json_path: ['data_transmit', 0, 'filter_stream', 1],
          level: 'error',
        },
        {
          description: '"line-9:*" matches no stream; streams: line-1:aoi-camera, line-1:video',
          json_path: ['data_transmit', 0, 'filter_stream', 2],
          level: 'error',
        },
      ]);
      const none = violationsOf((c) => {
        c.data_receiver = [];
        c.data_transmit = c.data_transmit.slice(1);
      });
      assert.deepEqual(none, [
        {
          description: 'no streams: every object will be UNROUTED',
          json_path: ['data_receiver'],
          level: 'warning',
        },
        {
          description: 'matches no stream',
          json_path: ['data_transmit', 0, 'filter_stream'],
          level: 'warning',
        },
      ]);
    });

    it('unknown transmit_type lists the known ones', () => {
      const vs = violationsOf((c) => {
        at(c, 'data_transmit', 1).transmit_type = 'edgeimpulse';
      });
      assert.deepEqual(vs, [
        {
          description: 'unknown transmit_type "edgeimpulse"; known: instrumental, edge-impulse',
          json_path: ['data_transmit', 1, 'transmit_type'],
          level: 'error',
        },
      ]);
      assert.deepEqual(
        violationsOf((c) => {
          c.data_transmit = c.data_transmit.slice(0, 1);
        }, {}),
        [
          {
            description:
              'no data_transmit takes stream "line-1:video": its objects are recorded but not delivered',
            json_path: ['data_receiver', 0, 'streams', 1],
            level: 'warning',
          },
          {
            description: 'unknown transmit_type "instrumental"; known: (none)',
            json_path: ['data_transmit', 0, 'transmit_type'],
            level: 'error',
          },
        ],
      );
      // Inherited properties are not vendors.
      assert.equal(
        violationsOf((c) => {
          at(c, 'data_transmit', 1).transmit_type = 'toString';
        })[0]?.description,
        'unknown transmit_type "toString"; known: instrumental, edge-impulse',
      );
    });

    it('options are checked against the plug-in optionsSchema', () => {
      const vs = violationsOf((c) => {
        at(c, 'data_transmit', 1).options = { category: 'train', batch: 0, extra: true };
        at(c, 'data_transmit', 0).options = { x: 1 };
      });
      assert.deepEqual(vs, [
        {
          description: 'unknown key "x"; known: ',
          json_path: ['data_transmit', 0, 'options', 'x'],
          level: 'error',
        },
        {
          description: 'unknown key "extra"; known: category, batch',
          json_path: ['data_transmit', 1, 'options', 'extra'],
          level: 'error',
        },
        {
          description: 'must be one of: "training", "testing", "split"',
          json_path: ['data_transmit', 1, 'options', 'category'],
          level: 'error',
        },
        { description: 'must be >= 1', json_path: ['data_transmit', 1, 'options', 'batch'], level: 'error' },
      ]);
      assert.deepEqual(
        violationsOf((c) => {
          delete at(c, 'data_transmit', 1).options;
        }),
        [
          {
            description: '"category" is required',
            json_path: ['data_transmit', 1, 'options', 'category'],
            level: 'error',
          },
        ],
      );
    });

    it('understands draft-07 plug-in schemas too', () => {
      const catalog = {
        ...FAKE_CATALOG,
        'edge-impulse': {
          id: 'edge-impulse',
          fieldsSchema: { type: 'object' },
          optionsSchema: {
            $schema: 'http://json-schema.org/draft-07/schema#',
            type: 'object',
            properties: { pair: { type: 'array', items: [{ type: 'string' }, { type: 'number' }] } },
          },
        },
      };
      const vs = violationsOf((c) => {
        at(c, 'data_transmit', 1).options = { pair: ['a', 'b'] };
      }, catalog);
      assert.deepEqual(vs, [
        {
          description: 'must be a number',
          json_path: ['data_transmit', 1, 'options', 'pair', 1],
          level: 'error',
        },
      ]);
    });

    it('required vendor fields need a template; unknown vendor fields are errors', () => {
      const vs = violationsOf((c) => {
        const f = at(c, 'data_transmit', 0, 'fields');
        delete f.stationName;
        delete at(f, 'imageTimestamp').ianaTimeZone;
        f.serialnumber = '{serial}';
        at(c, 'data_transmit', 1).fields = {};
      });
      assert.deepEqual(vs, [
        {
          description: 'vendor field "stationName" is required but has no template',
          json_path: ['data_transmit', 0, 'fields', 'stationName'],
          level: 'error',
        },
        {
          description: 'vendor field "ianaTimeZone" is required but has no template',
          json_path: ['data_transmit', 0, 'fields', 'imageTimestamp', 'ianaTimeZone'],
          level: 'error',
        },
        {
          description:
            'unknown vendor field "serialnumber" (did you mean "serialNumber"?); known: serialNumber, stationName, ' +
            'imageType, imageTimestamp, tags, configName, imageConfigs, fixtureName, fileName, lineName, buildName, ' +
            'parentAssembly, subassemblies',
          json_path: ['data_transmit', 0, 'fields', 'serialnumber'],
          level: 'error',
        },
        {
          description: 'vendor field "label" is required but has no template',
          json_path: ['data_transmit', 1, 'fields', 'label'],
          level: 'error',
        },
      ]);
      // A template producing the whole object cannot be checked deeper: accepted.
      assert.deepEqual(
        violationsOf((c) => {
          at(c, 'data_transmit', 0, 'fields').imageTimestamp = '{sidecar.timestamp}';
        }),
        [],
      );
    });

    it('template syntax errors point into the field', () => {
      const vs = violationsOf((c) => {
        at(c, 'data_transmit', 0, 'fields').tags = ['ok', '{station|shout}'];
      });
      assert.deepEqual(vs, [
        {
          description:
            'unknown filter "shout"; known: upper, lower, trim, number, iso8601, split, default (position 9) in "{station|shout}"',
          json_path: ['data_transmit', 0, 'fields', 'tags', 1],
          level: 'error',
        },
      ]);
    });

    it('time_zone: IANA names, templates whose sources can resolve, and every zone the config writes', () => {
      const tzPath = ['data_receiver', 0, 'streams', 0, 'time_zone'];
      const withZone = (time_zone: string, vars?: Record<string, string>) =>
        violationsOf((c) => {
          const s = at(c, 'data_receiver', 0, 'streams', 0);
          s.time_zone = time_zone;
          if (vars) s.vars = vars;
        });
      const iana = (name: string) =>
        `"${name}" is not an IANA time zone (e.g. "America/Los_Angeles", "Europe/Berlin", "UTC")`;
      assert.deepEqual(withZone('America/Los_Angeles'), []);
      assert.deepEqual(withZone('america/los_angeles'), [], 'any case; canonicalised when used');
      assert.deepEqual(withZone('Mars/Base'), [
        { description: iana('Mars/Base'), json_path: tzPath, level: 'error' },
      ]);
      assert.deepEqual(withZone('+02:00'), [
        {
          description:
            '"+02:00" is a UTC offset, not an IANA time zone (write e.g. "America/Los_Angeles" or "UTC")',
          json_path: tzPath,
          level: 'error',
        },
      ]);
      assert.deepEqual(withZone('{sidecar.tz ?? vars.tz}', { tz: 'Pacific' }), [
        {
          description: `{sidecar.tz ?? vars.tz}: vars.tz: ${iana('Pacific')}`,
          json_path: tzPath,
          level: 'error',
        },
      ]);
      assert.deepEqual(withZone("{sidecar.tz|default:'Berlin'}"), [
        {
          description: `{sidecar.tz|default:'Berlin'}: default:Berlin: ${iana('Berlin')}`,
          json_path: tzPath,
          level: 'error',
        },
      ]);
      assert.deepEqual(withZone("{meta.tz ?? 'Europe/Paris'}"), []);
      assert.deepEqual(withZone('{stream.time_zone}'), [
        {
          description: '{stream.time_zone}: time_zone cannot read stream.time_zone (itself)',
          json_path: tzPath,
          level: 'error',
        },
      ]);
      assert.deepEqual(withZone('{zone}'), [
        {
          description:
            '{zone} can never resolve for stream "line-1:aoi-camera": "zone" is not a named part of key_pattern "line-1/{station}/{serial}_{taken_at}.{ext}" (parts: station, serial, taken_at, ext)',
          json_path: tzPath,
          level: 'error',
        },
      ]);
      assert.deepEqual(withZone('{sidecar.tz'), [
        {
          description: 'unclosed "{" (write "{{" for a literal brace) (position 0) in "{sidecar.tz"',
          json_path: tzPath,
          level: 'error',
        },
      ]);
    });

    it('an iso8601 zone argument must be an IANA zone; a stream without time_zone reading times is a warning', () => {
      const arg = violationsOf((c) => {
        at(c, 'data_transmit', 0, 'fields', 'imageTimestamp').iso8601Time = '{taken_at|iso8601:Europe/Berln}';
      });
      assert.deepEqual(arg, [
        {
          description:
            '{taken_at|iso8601:Europe/Berln}: iso8601:Europe/Berln: "Europe/Berln" is not an IANA time zone (e.g. "America/Los_Angeles", "Europe/Berlin", "UTC")',
          json_path: ['data_transmit', 0, 'fields', 'imageTimestamp', 'iso8601Time'],
          level: 'error',
        },
      ]);
      const noZone = violationsOf((c) => {
        delete at(c, 'data_receiver', 0, 'streams', 0).time_zone;
        at(c, 'data_transmit', 0, 'fields', 'imageTimestamp').ianaTimeZone = 'UTC';
      });
      assert.deepEqual(noZone, [
        {
          description:
            'has no time_zone, so {taken_at|iso8601} reads a time without a UTC offset as UTC; set time_zone to the IANA zone of the clocks that wrote it (or "UTC" to keep this)',
          json_path: ['data_receiver', 0, 'streams', 0],
          level: 'warning',
        },
      ]);
      const explicit = violationsOf((c) => {
        delete at(c, 'data_receiver', 0, 'streams', 0).time_zone;
        const ts = at(c, 'data_transmit', 0, 'fields', 'imageTimestamp');
        ts.iso8601Time = '{taken_at|iso8601:Europe/Berlin}';
        ts.ianaTimeZone = 'Europe/Berlin';
      });
      assert.deepEqual(explicit, [], 'a zone argument says which zone: no warning');
    });

    it('templates are checked against every stream the transmit takes', () => {
      const vs = violationsOf((c) => {
        const t = at(c, 'data_transmit', 0);
        t.filter_stream = ['line-1:*'];
        const f = at(t, 'fields');
        f.fileName = '{lot}';
        f.configName = '{sidecar.cfg}';
        f.lineName = '{sidecar.line ?? vars.line}';
        f.buildName = "{sidecar.build ?? lot | default:'x'}";
        f.fixtureName = '{vars.tz}';
        f.imageTimestamp = { iso8601Time: '{taken_at|iso8601}', ianaTimeZone: '{sidecar.tz ?? vars.tz}' };
        at(c, 'data_receiver', 0, 'streams', 1).time_zone = 'UTC';
      });
      const aoi = 'stream "line-1:aoi-camera" (data_receiver[0].streams[0])';
      const video = 'stream "line-1:video" (data_receiver[0].streams[1])';
      const aoiParts =
        '"lot" is not a named part of key_pattern "line-1/{station}/{serial}_{taken_at}.{ext}" (parts: station, serial, taken_at, ext)';
      const videoParts =
        '"lot" is not a named part of key_pattern "line-1/video/{station}/{serial}.{ext}" (parts: station, serial, ext)';
      const f = (name: string) => ['data_transmit', 0, 'fields', ...name.split('.')];
      assert.deepEqual(vs, [
        {
          description: `{lot} can never resolve for ${aoi}: ${aoiParts}`,
          json_path: f('fileName'),
          level: 'error',
        },
        {
          description: `{sidecar.line ?? vars.line} for ${aoi}: "vars.line" is not set in the stream's vars`,
          json_path: f('lineName'),
          level: 'warning',
        },
        {
          description: `{sidecar.build ?? lot | default:'x'} for ${aoi}: ${aoiParts}`,
          json_path: f('buildName'),
          level: 'warning',
        },
        {
          description: `{taken_at|iso8601} can never resolve for ${video}: "taken_at" is not a named part of key_pattern "line-1/video/{station}/{serial}.{ext}" (parts: station, serial, ext)`,
          json_path: f('imageTimestamp.iso8601Time'),
          level: 'error',
        },
        {
          description: `{sidecar.tz ?? vars.tz} can never resolve for ${video}: "sidecar.tz" needs a sidecar, but the stream has none; "vars.tz" is not set in the stream's vars`,
          json_path: f('imageTimestamp.ianaTimeZone'),
          level: 'error',
        },
        {
          description: `{lot} can never resolve for ${video}: ${videoParts}`,
          json_path: f('fileName'),
          level: 'error',
        },
        {
          description: `{sidecar.cfg} can never resolve for ${video}: "sidecar.cfg" needs a sidecar, but the stream has none`,
          json_path: f('configName'),
          level: 'error',
        },
        {
          description: `{sidecar.line ?? vars.line} can never resolve for ${video}: "sidecar.line" needs a sidecar, but the stream has none; "vars.line" is not set in the stream's vars`,
          json_path: f('lineName'),
          level: 'error',
        },
        {
          description: `{sidecar.build ?? lot | default:'x'} for ${video}: "sidecar.build" needs a sidecar, but the stream has none; ${videoParts}`,
          json_path: f('buildName'),
          level: 'warning',
        },
        {
          description: `{vars.tz} can never resolve for ${video}: "vars.tz" is not set in the stream's vars`,
          json_path: f('fixtureName'),
          level: 'error',
        },
      ]);
    });

    it('base_url must be an http(s) URL; plain http off loopback is a warning', () => {
      const vs = violationsOf((c) => {
        at(c, 'data_transmit', 0).base_url = 'api.instrumental.ai';
        at(c, 'data_transmit', 1).base_url = 'ftp://127.0.0.1';
      });
      assert.deepEqual(vs, [
        {
          description: 'must be an http(s) URL, got "api.instrumental.ai"',
          json_path: ['data_transmit', 0, 'base_url'],
          level: 'error',
        },
        {
          description: 'must be an http(s) URL, got scheme "ftp"',
          json_path: ['data_transmit', 1, 'base_url'],
          level: 'error',
        },
      ]);
      const http = violationsOf((c) => {
        at(c, 'data_transmit', 0).base_url = 'http://proxy.factory.lan:8080';
        at(c, 'data_transmit', 1).base_url = 'https://user:pw@example.com';
      });
      assert.deepEqual(http, [
        {
          description:
            'uses plain http to proxy.factory.lan: the API key would travel unencrypted (use https)',
          json_path: ['data_transmit', 0, 'base_url'],
          level: 'warning',
        },
        {
          description:
            'must not hold credentials: put the API key in Secrets Manager and name it in api_key_secret',
          json_path: ['data_transmit', 1, 'base_url'],
          level: 'error',
        },
      ]);
      for (const loopback of ['http://localhost:1', 'http://127.0.0.2:9', 'http://[::1]:8']) {
        assert.deepEqual(
          violationsOf((c) => {
            at(c, 'data_transmit', 0).base_url = loopback;
          }),
          [],
          loopback,
        );
      }
    });

    it('api_key_secret must be a secret name, not a key', () => {
      const keyLike =
        'looks like an API key: api_key_secret is the NAME of a Secrets Manager secret holding the key';
      for (const [value, description] of [
        ['test-project:ci:INST:V1:fake-id:fake-secret', keyLike],
        ['ei_test_key_local', keyLike],
        ['Bearer sim-token', keyLike],
        ['my secret', 'must be a Secrets Manager secret name (letters, digits and / _ + = . @ -)'],
      ] as const) {
        assert.deepEqual(
          violationsOf((c) => {
            at(c, 'data_transmit', 0).api_key_secret = value;
          }),
          [{ description, json_path: ['data_transmit', 0, 'api_key_secret'], level: 'error' }],
          value,
        );
      }
      assert.deepEqual(
        violationsOf((c) => {
          at(c, 'data_transmit', 0).api_key_secret = 'bearer-token+v2=@x.y_z';
        }),
        [],
      );
    });

    it('warns about backoff settings and an empty transmit list', () => {
      const vs = violationsOf((c) => {
        c.relay = { backoff_base_seconds: 10, backoff_max_seconds: 5 };
        c.data_transmit = [];
      });
      assert.deepEqual(vs, [
        {
          description: 'is larger than backoff_max_seconds: every retry waits the maximum',
          json_path: ['relay', 'backoff_base_seconds'],
          level: 'warning',
        },
        {
          description:
            'no data_transmit takes stream "line-1:aoi-camera": its objects are recorded but not delivered',
          json_path: ['data_receiver', 0, 'streams', 0],
          level: 'warning',
        },
        {
          description:
            'no data_transmit takes stream "line-1:video": its objects are recorded but not delivered',
          json_path: ['data_receiver', 0, 'streams', 1],
          level: 'warning',
        },
        {
          description: 'no destinations: nothing will be delivered',
          json_path: ['data_transmit'],
          level: 'warning',
        },
      ]);
    });

    it('warnings alone keep the config ok', () => {
      const c = base();
      at(c, 'data_transmit', 0).base_url = 'http://10.0.0.5';
      const r = validateConfig(c, FAKE_CATALOG);
      assert.equal(r.ok, true);
      assert.deepEqual(r.config, c, 'the config, with its key patterns in NFC');
      assert.equal(r.violations.length, 1);
      const bad = validateConfig({ ...c, version: 3 }, FAKE_CATALOG);
      assert.equal(bad.ok, false);
      assert.equal(bad.config, undefined);
    });
  });
});

describe('formatJsonPath', () => {
  it('formats paths', () => {
    assert.equal(formatJsonPath([]), '(root)');
    assert.equal(formatJsonPath(['data_transmit', 0, 'base_url']), 'data_transmit[0].base_url');
    assert.equal(formatJsonPath(['a', 'odd key', 'b-c', 2]), 'a["odd key"].b-c[2]');
  });
});

describe('validateConfig: ignore and Unicode', () => {
  it('refuses an ignore glob it would take literally, at its path', () => {
    const v = violationsOf((c) => {
      const r = c.data_receiver[0];
      if (r) r.ignore = ['**/*.tmp', '**/*.{jpg,png}'];
    });
    const found = v.find((x) => formatJsonPath(x.json_path) === 'data_receiver[0].ignore[1]');
    assert.equal(found?.level, 'error');
    assert.match(found?.description ?? '', /not supported/);
  });

  it('returns key patterns in NFC', () => {
    const c = base();
    const s = c.data_receiver[0]?.streams[0];
    if (s) s.key_pattern = 'Pru\u0308fstand/{station}/{serial}_{taken_at}.{ext}';
    const r = validateConfig(c, FAKE_CATALOG);
    assert.equal(
      r.config?.data_receiver[0]?.streams[0]?.key_pattern,
      'Prüfstand/{station}/{serial}_{taken_at}.{ext}',
    );
  });
});
