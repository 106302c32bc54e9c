/**
 * From a relay config to what the infrastructure needs: which vendors get a queue and a forwarder, which
 * secrets each function may read, how the DLQ redrive is sized. Pure (no CDK), so the stack and its tests
 * share one derivation and the constructs carry no business logic.
 */
import { destinationDimension } from '../lambdas/commons/metric-dimension.ts';
import type { RelayConfig } from '../lambdas/domain/config/types.ts';
import { VENDORS } from '../lambdas/vendors/registry.ts';
import type { VendorPlugin } from '../lambdas/vendors/types.ts';
import { MAX_CONCURRENCY_RANGE } from './defaults.ts';
import { type ForwarderSettings, forwarderSettings, vendorMaxReceiveCount } from './settings.ts';

/** Deploy-time overrides of one vendor's forwarder (its plug-in's `infra` gives the defaults). */
export interface VendorInfraSettings {
  /** Most concurrent forwarder invocations on the vendor's queue (Lambda allows 2..1000). */
  readonly maxConcurrency?: number;
  /** Whether the vendor's results are written back to the results bucket (by its forwarder and the poller). */
  readonly writesResults?: boolean;
  /** Messages per forwarder invocation (1..10000; above 10 needs a batching window of at least 1 s). */
  readonly batchSize?: number;
  /** Seconds the event source gathers messages before invoking (0..300); the visibility timeout grows with it. */
  readonly batchingWindowSeconds?: number;
}

export interface VendorPlan {
  /** The `transmit_type`. */
  readonly vendor: string;
  /** Construct-id form of the vendor id, e.g. `EdgeImpulse`. */
  readonly idPart: string;
  /** `transmit_name`s of the destinations this forwarder serves. */
  readonly destinations: readonly string[];
  /** Secrets Manager names (without prefix) of those destinations' API keys. */
  readonly secretNames: readonly string[];
  readonly maxConcurrency: number;
  readonly maxReceiveCount: number;
  readonly writesResults: boolean;
  /** S3 objects (`bucket/key`) the destinations' options name for the forwarder to read (plug-in `objectsRead`). */
  readonly objectsRead: readonly string[];
  /** Function timeout, memory, batch size and batching window (lib/settings.ts + the plug-in's `infra`). */
  readonly settings: ForwarderSettings;
}

/** What the dashboard and alarms of one destination need. */
export interface DestinationPlan {
  /** The `transmit_name`, as written (alarm descriptions, dashboard titles). */
  readonly name: string;
  /** Its `Destination` dimension value: what the functions' EMF metrics carry (lambdas/commons/metric-dimension.ts). */
  readonly dimension: string;
  /**
   * Construct-id form of the name: keyed by the name, not the destination's position, so reordering the
   * config keeps each alarm (and its state and history). Unique per name.
   */
  readonly idPart: string;
}

export interface RelayPlan {
  /** One entry per distinct `transmit_type`, in order of first appearance in the config. */
  readonly vendors: readonly VendorPlan[];
  /** One entry per `data_transmit`, in config order. */
  readonly destinations: readonly DestinationPlan[];
  /** Every distinct secret name in the config (without prefix), sorted. */
  readonly secretNames: readonly string[];
  /** True when any configured vendor writes results. */
  readonly writesResults: boolean;
}

export interface PlanOptions {
  /** Per-vendor overrides of the plug-ins' `infra`, by vendor id. */
  readonly vendorSettings?: Readonly<Record<string, VendorInfraSettings>>;
  /** The plug-ins (default: the registry). */
  readonly vendors?: Readonly<Record<string, Pick<VendorPlugin, 'infra' | 'objectsRead'>>>;
}

export class PlanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlanError';
  }
}

const VENDOR_ID = /^[a-z0-9][a-z0-9-]{0,47}$/;
/** Characters Secrets Manager allows in a secret name. */
const SECRET_NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;

export function toIdPart(vendor: string): string {
  return vendor
    .split('-')
    .filter((s) => s !== '')
    .map((s) => s[0]?.toUpperCase() + s.slice(1))
    .join('');
}

/**
 * A destination name as a construct id part. A construct id turns "/" (and a newline) into "--", which could
 * make two names one id; escaping "%", "/" and newlines as %XX first keeps the mapping one-to-one. The logical
 * id CDK derives drops the rest of the punctuation and adds a hash of the path, so it stays unique too.
 */
export function destinationIdPart(name: string): string {
  return name.replace(/[%/\n]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

export function planRelay(config: RelayConfig, options: PlanOptions = {}): RelayPlan {
  const byVendor = new Map<string, { destinations: string[]; secrets: Set<string>; objects: Set<string> }>();
  const plugins = options.vendors ?? VENDORS;
  for (const t of config.data_transmit) {
    if (!VENDOR_ID.test(t.transmit_type))
      throw new PlanError(
        `data_transmit "${t.transmit_name}": transmit_type "${t.transmit_type}" is not a vendor id (lowercase letters, digits, "-")`,
      );
    if (t.api_key_secret !== undefined && !SECRET_NAME.test(t.api_key_secret))
      throw new PlanError(
        `data_transmit "${t.transmit_name}": api_key_secret "${t.api_key_secret}" is not a Secrets Manager name`,
      );
    const entry = byVendor.get(t.transmit_type) ?? {
      destinations: [],
      secrets: new Set<string>(),
      objects: new Set<string>(),
    };
    entry.destinations.push(t.transmit_name);
    if (t.api_key_secret !== undefined) entry.secrets.add(t.api_key_secret);
    const reads = Object.hasOwn(plugins, t.transmit_type) ? plugins[t.transmit_type]?.objectsRead : undefined;
    for (const o of reads?.(t.options ?? {}) ?? []) entry.objects.add(`${o.bucket}/${o.key}`);
    byVendor.set(t.transmit_type, entry);
  }

  const unknownOverrides = Object.keys(options.vendorSettings ?? {}).filter((v) => !byVendor.has(v));
  if (unknownOverrides.length > 0)
    throw new PlanError(
      `vendor settings for vendors the config does not use: ${unknownOverrides.join(', ')}`,
    );

  const maxReceiveCount = vendorMaxReceiveCount(config.relay?.max_attempts);
  const vendors: VendorPlan[] = [];
  for (const [vendor, entry] of byVendor) {
    const base = forwarderSettings(plugins[vendor]);
    const settings = { ...base, ...options.vendorSettings?.[vendor] };
    const maxConcurrency = settings.maxConcurrency;
    if (
      !Number.isInteger(maxConcurrency) ||
      maxConcurrency < MAX_CONCURRENCY_RANGE.min ||
      maxConcurrency > MAX_CONCURRENCY_RANGE.max
    )
      throw new PlanError(
        `vendor "${vendor}": maxConcurrency ${maxConcurrency} is outside ${MAX_CONCURRENCY_RANGE.min}..${MAX_CONCURRENCY_RANGE.max}`,
      );
    const { batchSize, batchingWindowSeconds: window } = settings;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10_000)
      throw new PlanError(`vendor "${vendor}": batchSize ${batchSize} is outside 1..10000`);
    if (!Number.isInteger(window) || window < 0 || window > 300)
      throw new PlanError(`vendor "${vendor}": batchingWindowSeconds ${window} is outside 0..300`);
    if (batchSize > 10 && window < 1)
      throw new PlanError(`vendor "${vendor}": a batchSize above 10 needs a batching window of at least 1 s`);
    vendors.push({
      vendor,
      idPart: toIdPart(vendor),
      destinations: entry.destinations,
      secretNames: [...entry.secrets].sort(),
      maxConcurrency,
      maxReceiveCount,
      writesResults: settings.writesResults,
      objectsRead: [...entry.objects].sort(),
      settings: { ...settings, maxConcurrency },
    });
  }

  const idParts = new Set(vendors.map((v) => v.idPart));
  if (idParts.size !== vendors.length)
    throw new PlanError(
      `vendor ids collide once made construct ids: ${vendors.map((v) => v.vendor).join(', ')}`,
    );

  return {
    vendors,
    destinations: config.data_transmit.map((t) => ({
      name: t.transmit_name,
      dimension: destinationDimension(t.transmit_name),
      idPart: destinationIdPart(t.transmit_name),
    })),
    secretNames: [...new Set(vendors.flatMap((v) => v.secretNames))].sort(),
    writesResults: vendors.some((v) => v.writesResults),
  };
}

/** What synth says about the config's receiver buckets (`data_receiver[].bucket`). */
export interface ReceiverBucketCheck {
  /** One line per receiver whose bucket is not, or cannot be known to be, the ingest bucket. */
  readonly warnings: readonly string[];
  /** Set when no receiver can ever match: every one names a bucket, and none is the ingest bucket. */
  readonly error?: string;
}

/**
 * The router (and a restream) only ever sees objects of the ingest bucket, so a receiver whose `bucket` is
 * another one routes nothing, silently. `ingestBucketName` is the deployed bucket's name when known at synth
 * (`ingestBucketName`, or the bucket of `existingIngestBucketArn`); undefined when CloudFormation generates it.
 * A receiver naming another bucket is a warning (one config may serve stacks on different buckets); when no
 * receiver at all can match, the stack would route nothing: an error. A generated name cannot be compared:
 * a warning only (it may already be the generated name, put in the config after a first deploy).
 */
export function checkReceiverBuckets(
  config: RelayConfig,
  ingestBucketName: string | undefined,
): ReceiverBucketCheck {
  const warnings: string[] = [];
  let canMatch = false;
  for (const r of config.data_receiver) {
    if (r.bucket === undefined || r.bucket === ingestBucketName) {
      canMatch = true;
      continue;
    }
    if (ingestBucketName === undefined) {
      canMatch = true;
      warnings.push(
        `data_receiver "${r.data_receiver_name}": bucket "${r.bucket}" cannot be checked, the ingest bucket's name is generated by CloudFormation: unless it is that generated name, this receiver routes nothing. Set ingestBucketName, or leave out bucket (any object of the ingest bucket)`,
      );
    } else {
      warnings.push(
        `data_receiver "${r.data_receiver_name}": bucket "${r.bucket}" is not the ingest bucket "${ingestBucketName}": the relay only sees objects of the ingest bucket, so this receiver routes nothing. Leave out bucket, or name "${ingestBucketName}"`,
      );
    }
  }
  if (canMatch || config.data_receiver.length === 0) return { warnings };
  return {
    warnings,
    error: `no data_receiver can match: each names a bucket other than the ingest bucket "${ingestBucketName}", so the relay would route nothing`,
  };
}
