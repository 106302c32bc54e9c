/**
 * The relay config, in the shape of Sight Machine FactoryTX's: receivers with streams (asset + stream_type)
 * and transmits (data_transmit) that take streams through `filter_stream`. Field names use FactoryTX's
 * snake_case; the JSON Schema in schema.ts is the reference, this is its TypeScript view.
 */
import type { JsonObject, JsonValue } from '#vendors/types.ts';

export interface RelayConfig {
  version: 1;
  relay?: RelaySettings;
  data_receiver: DataReceiver[];
  data_transmit: DataTransmit[];
}

export interface RelaySettings {
  /** Sends per delivery before it is DEAD (default 8). */
  max_attempts?: number;
  /** First retry delay in seconds; doubles per attempt with full jitter (default 2). */
  backoff_base_seconds?: number;
  /** Ceiling of one retry delay in seconds (default 900). */
  backoff_max_seconds?: number;
  /** Seconds a destination stays paused after a refused API key before one probe send (default 300). */
  pause_probe_seconds?: number;
  /** 5xx / network failures in a row after which the destination pauses as VENDOR_OUTAGE (default 10; 0: off). */
  outage_threshold?: number;
  /** Where processed results are written back (InstaVid360): key prefix in the results bucket. */
  results_prefix?: string;
}

export interface DataReceiver {
  data_receiver_name: string;
  /** Always `s3` here: files arrive through the ingest bucket. */
  protocol: 's3';
  /** Only objects of this bucket (default: the ingest bucket, any). */
  bucket?: string;
  /**
   * Globs of keys this receiver never routes (sync-tool and editor leftovers): recorded SKIPPED / IGNORED_KEY,
   * never sent. Absent: DEFAULT_IGNORE (ignore.ts); `[]`: none; a list replaces the defaults, and the entry
   * `@defaults` brings them back in.
   */
  ignore?: string[];
  streams: StreamConfig[];
}

export interface StreamConfig {
  asset: string;
  stream_type: string;
  /**
   * Object keys this stream takes. `{name}` is a named part matching one path segment piece (no `/`),
   * `{name**}` matches across `/`; `*` is a glob within a segment and `**` across segments.
   * Example: `images/{line}/{station}/{serial}_{taken_at}.{ext}`.
   */
  key_pattern: string;
  /** A JSON file beside each object whose values templates can use as `{sidecar.path}`. */
  sidecar?: SidecarConfig;
  /** Names (key parts, `sidecar.x`, `meta.x`) that must resolve, else the delivery is REJECTED. */
  required?: string[];
  /** Constant values available to templates as `{vars.x}`. */
  vars?: Record<string, JsonValue>;
  /**
   * The IANA time zone of the clocks that wrote this stream's times: a zone name or a template resolved per
   * object before the fields (`"{sidecar.tz ?? meta.tz ?? vars.tz}"`). `iso8601` reads a time without a UTC
   * offset as a wall-clock time in it; templates read it as `{stream.time_zone}`. Default `UTC`.
   */
  time_zone?: string;
  /**
   * How often this stream normally gets an object: seconds, or `90s`, `15m`, `2h`, `1d`. Optional; when set,
   * `/v1/streams` marks the stream (a warning) once it has been silent longer than this.
   */
  expected_interval?: number | string;
}

export interface SidecarConfig {
  /** `append`: `<key><suffix>` (default `.json`); `replace`: the key with its extension replaced by suffix. */
  mode?: 'append' | 'replace';
  suffix?: string;
  /** When true, an object without its sidecar is REJECTED (MISSING_SIDECAR); otherwise templates see none. */
  required?: boolean;
  /** Seconds after the object's arrival to wait for a sidecar not there yet (default 5, 30 when required). */
  wait_seconds?: number;
}

export interface DataTransmit {
  transmit_name: string;
  /** The vendor plug-in id: instrumental | edge-impulse | v7-darwin | instavid360. */
  transmit_type: string;
  /** `*` or `asset:stream_type` entries (either side may be `*`). */
  filter_stream: string[];
  /** Vendor API base URL: the real vendor, a proxy, or a local simulator. */
  base_url: string;
  /** Secrets Manager secret name holding the API key (never the key). */
  api_key_secret?: string;
  /** Overrides the vendor's default shared rate limit. */
  rate_limit?: { burst: number; per_second: number };
  /** When false the destination takes no new deliveries (FactoryTX stop/start). Default true. */
  enabled?: boolean;
  /** Skip an object version whose content (ETag + size) was already delivered here: SKIPPED. Default false. */
  skip_duplicate_content?: boolean;
  /** Vendor-specific settings, validated by the plug-in's optionsSchema. */
  options?: JsonObject;
  /** Vendor field → template. Strings may hold `{placeholders}`; objects and arrays nest. */
  fields: Record<string, JsonValue>;
}

/** A FactoryTX-style validation finding. */
export interface Violation {
  description: string;
  json_path: Array<string | number>;
  level: 'error' | 'warning';
}
