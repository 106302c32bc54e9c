/**
 * The JSON Schema (draft-07, which ajv's default export and YAML/JSON editors understand) of the relay
 * config. It mirrors types.ts and is the reference for the config's shape; validate.ts adds the checks a
 * schema cannot express. config/relay-config.schema.json is this object written out for editors (a test
 * keeps them equal); regenerate it with:
 *
 *   node --import tsx -e "import('./lambdas/domain/config/schema.ts').then((m) => process.stdout.write(m.relayConfigSchemaText()))" > config/relay-config.schema.json
 */
import type { JsonSchema } from '#vendors/types.ts';

/** Patterns used below, with the message validate.ts shows when a value does not match. */
export const PATTERNS = {
  name: {
    pattern: '^\\S(?:.*\\S)?$',
    message: 'must not be empty or start or end with whitespace',
  },
  streamName: {
    pattern: '^[^:*\\s](?:[^:*]*[^:*\\s])?$',
    message: 'must not contain ":" or "*", nor start or end with whitespace',
  },
  bucket: {
    pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
    message: 'must be an S3 bucket name (3 to 63 lowercase letters, digits, "." and "-")',
  },
  keyPattern: {
    pattern: '^[^/]',
    message: 'must not start with "/" (S3 keys have no leading slash)',
  },
} as const;

const str = (description: string, extra: JsonSchema = {}): JsonSchema => ({
  type: 'string',
  description,
  ...extra,
});

const sidecarSchema: JsonSchema = {
  type: 'object',
  description:
    'A JSON file stored beside each object. Its values are available to templates as {sidecar.path}. ' +
    'The router does not route sidecar keys as files.',
  additionalProperties: false,
  properties: {
    mode: {
      type: 'string',
      enum: ['append', 'replace'],
      default: 'append',
      description:
        'append: the sidecar key is the object key + suffix (a.jpg → a.jpg.json). replace: the object key ' +
        'with its last extension replaced by suffix (a.jpg → a.json).',
    },
    suffix: str('Sidecar suffix (default ".json").', { minLength: 1, default: '.json' }),
    required: {
      type: 'boolean',
      default: false,
      description:
        'When true an object whose sidecar is missing is REJECTED (MISSING_SIDECAR); otherwise templates see ' +
        'no sidecar and sidecar.* placeholders are missing.',
    },
    wait_seconds: {
      type: 'number',
      minimum: 0,
      maximum: 900,
      description:
        'How long after the object arrived the router waits for a sidecar that is not there yet (a sync ' +
        'uploads in its own order). Default 5 (30 when required). A sidecar that arrives later is recorded on ' +
        'the delivery as SIDECAR_LATE.',
    },
  },
};

const streamSchema: JsonSchema = {
  type: 'object',
  description: 'A stream: objects whose key matches key_pattern, identified by asset:stream_type.',
  additionalProperties: false,
  required: ['asset', 'stream_type', 'key_pattern'],
  properties: {
    asset: str('Asset name (e.g. a production line). With stream_type it identifies the stream.', {
      minLength: 1,
      pattern: PATTERNS.streamName.pattern,
    }),
    stream_type: str('Kind of data from the asset (e.g. aoi-camera).', {
      minLength: 1,
      pattern: PATTERNS.streamName.pattern,
    }),
    key_pattern: str(
      'Object keys this stream takes. {name} is a named part within one segment, {name**} may span "/", ' +
        '* is any text within a segment, ** any text across segments. ' +
        'Example: line-1/{station}/{serial}_{taken_at}.{ext}',
      { minLength: 1, pattern: PATTERNS.keyPattern.pattern },
    ),
    sidecar: sidecarSchema,
    required: {
      type: 'array',
      description:
        'Names that must resolve for a delivery to be made: key parts, sidecar.<path> or meta.<name>. ' +
        'An object where one does not resolve is REJECTED.',
      items: { type: 'string', minLength: 1 },
      uniqueItems: true,
    },
    vars: {
      type: 'object',
      description: 'Constants available to templates as {vars.<name>}.',
    },
    time_zone: str(
      'IANA time zone of the clocks that wrote this stream\'s times, e.g. "America/Los_Angeles", or a template ' +
        'resolved per object, e.g. "{sidecar.tz ?? meta.tz ?? vars.tz}". iso8601 reads a time without a UTC ' +
        'offset as a wall-clock time in this zone; templates read it as {stream.time_zone}. Default "UTC".',
      { minLength: 1, default: 'UTC' },
    ),
    expected_interval: {
      description:
        'How often this stream normally gets an object: a number of seconds, or "90s", "15m", "2h", "1d". ' +
        'Optional; when set, GET /v1/streams marks the stream with a warning once it has been silent longer.',
      oneOf: [
        { type: 'number', exclusiveMinimum: 0 },
        { type: 'string', pattern: '^\\s*[0-9]+\\s*(s|m|h|d)\\s*$' },
      ],
    },
  },
};

const receiverSchema: JsonSchema = {
  type: 'object',
  description: 'Where files arrive: the ingest bucket, split into streams by key pattern.',
  additionalProperties: false,
  required: ['data_receiver_name', 'protocol', 'streams'],
  properties: {
    data_receiver_name: str('Unique name of the receiver.', { minLength: 1, pattern: PATTERNS.name.pattern }),
    protocol: { const: 's3', description: 'Always "s3": files arrive through the ingest bucket.' },
    bucket: str('Only objects of this bucket (default: any bucket that notifies the router).', {
      pattern: PATTERNS.bucket.pattern,
    }),
    ignore: {
      type: 'array',
      description:
        'Globs of keys this receiver never routes (matched against the whole key in Unicode NFC; * within a ' +
        'segment, ** across segments, ? one character). A matching key is recorded SKIPPED / IGNORED_KEY and ' +
        'never sent. Absent: the defaults (**/.DS_Store, **/._*, **/Thumbs.db, **/desktop.ini, **/~$*, ' +
        '**/*.tmp, **/.*.??????, **/.~lock.*#). [] ignores nothing; a list replaces the defaults, and the ' +
        'entry "@defaults" includes them.',
      items: { type: 'string', minLength: 1 },
      uniqueItems: true,
    },
    streams: {
      type: 'array',
      description: 'Streams in match order: an object goes to the first stream whose key_pattern matches.',
      minItems: 1,
      items: streamSchema,
    },
  },
};

const transmitSchema: JsonSchema = {
  type: 'object',
  description: 'A destination: a vendor API that receives the objects of the streams it filters.',
  additionalProperties: false,
  required: ['transmit_name', 'transmit_type', 'filter_stream', 'base_url', 'fields'],
  properties: {
    transmit_name: str('Unique name of the destination (appears in delivery records).', {
      minLength: 1,
      pattern: PATTERNS.name.pattern,
    }),
    transmit_type: str('Vendor plug-in id, e.g. instrumental, edge-impulse, v7-darwin, instavid360.', {
      minLength: 1,
    }),
    filter_stream: {
      type: 'array',
      description: 'Streams this destination takes: "*" or "asset:stream_type" (either side may be "*").',
      minItems: 1,
      items: { type: 'string', minLength: 1 },
      uniqueItems: true,
    },
    base_url: str('Vendor API base URL (http or https): the vendor, a proxy or a local simulator.', {
      minLength: 1,
    }),
    api_key_secret: str('Name of the Secrets Manager secret holding the API key (never the key itself).', {
      minLength: 1,
    }),
    rate_limit: {
      type: 'object',
      description: "Overrides the vendor's default shared rate limit (token bucket).",
      additionalProperties: false,
      required: ['burst', 'per_second'],
      properties: {
        burst: { type: 'integer', minimum: 1, description: 'Bucket size: requests that may go at once.' },
        per_second: {
          type: 'number',
          exclusiveMinimum: 0,
          description: 'Refill rate in requests per second.',
        },
      },
    },
    enabled: {
      type: 'boolean',
      default: true,
      description: 'When false the destination takes no new deliveries (FactoryTX stop/start).',
    },
    skip_duplicate_content: {
      type: 'boolean',
      default: false,
      description:
        'When true, an object version whose content (its S3 ETag and size) this destination already received ' +
        'under another version or key is not sent again: recorded SKIPPED / DUPLICATE_CONTENT.',
    },
    options: {
      type: 'object',
      description: "Vendor-specific settings, checked against the plug-in's schema.",
    },
    fields: {
      type: 'object',
      description:
        'Vendor field → template. Strings may hold {placeholders}; objects and arrays nest. See config/README.md.',
    },
  },
};

const relaySchema: JsonSchema = {
  type: 'object',
  description: 'Relay-wide delivery settings.',
  additionalProperties: false,
  properties: {
    max_attempts: {
      type: 'integer',
      minimum: 1,
      maximum: 100,
      default: 8,
      description: 'Sends per delivery before it is DEAD.',
    },
    backoff_base_seconds: {
      type: 'number',
      exclusiveMinimum: 0,
      default: 2,
      description: 'First retry delay in seconds; doubles per attempt with full jitter.',
    },
    backoff_max_seconds: {
      type: 'number',
      exclusiveMinimum: 0,
      default: 900,
      description: 'Ceiling of one retry delay in seconds.',
    },
    pause_probe_seconds: {
      type: 'number',
      exclusiveMinimum: 0,
      default: 300,
      description:
        'A paused destination (credentials refused or unusable, a quota, an outage) sends one probe delivery after this many seconds; its answer resumes it.',
    },
    outage_threshold: {
      type: 'integer',
      minimum: 0,
      default: 10,
      description:
        'After this many failed requests in a row (5xx or no answer; no success between, within one forwarder; a batch request that carried many files counts once), the vendor counts as down: the destination pauses (VENDOR_OUTAGE) and its deliveries wait instead of spending their attempts. 0 turns it off.',
    },
    results_prefix: str('Key prefix in the results bucket for processed results written back (InstaVid360).'),
  },
};

/** The relay config schema (draft-07). */
export const RELAY_CONFIG_SCHEMA: JsonSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'factory-relay config',
  description:
    'Routes objects landing in an S3 bucket to vendor APIs. Receivers hold streams (asset + stream_type, ' +
    'matched by key pattern); transmits (destinations) take streams through filter_stream. ' +
    // biome-ignore lint/suspicious/noTemplateCurlyInString: documents the ${VAR} syntax
    'Strings may use ${VAR} and ${VAR:-default} (environment, substituted when loaded).',
  type: 'object',
  additionalProperties: false,
  required: ['version', 'data_receiver', 'data_transmit'],
  properties: {
    $schema: { type: 'string', description: 'The schema this file follows (for editors); ignored.' },
    version: { const: 1, description: 'Config format version: 1.' },
    relay: relaySchema,
    data_receiver: { type: 'array', description: 'Receivers, in match order.', items: receiverSchema },
    data_transmit: { type: 'array', description: 'Destinations.', items: transmitSchema },
  },
  patternProperties: {
    '^x-': { description: 'Free for YAML anchors and notes; ignored.' },
  },
};

/** The schema as the text of config/relay-config.schema.json. */
export function relayConfigSchemaText(): string {
  return `${JSON.stringify(RELAY_CONFIG_SCHEMA, null, 2)}\n`;
}
