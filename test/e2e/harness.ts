/**
 * End-to-end harness: the local stack (emulators + the real handlers) and an Instrumental simulator, with
 * helpers to upload like a factory sync and to wait for delivery records. One harness per test file
 * (node's runner gives each file its own process).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataTransmit, RelayConfig, StreamConfig } from '#domain/config/types.ts';
import type { DeliveryRecord } from '#domain/delivery.ts';
import type { DeliveryStatus } from '#domain/status.ts';
import { putObject, recordsOf } from '#local/ingest.ts';
import { s3EventRecord } from '#local/notifier.ts';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '#local/stack.ts';
import { InstrumentalSimulator, type InstrumentalSimulatorOptions } from '#simulators/instrumental/index.ts';

/** Obviously fake keys, in Instrumental's documented format. */
export const TEST_KEYS = {
  main: 'relay-tests:ci:INST:V1:fake-key-id:not-a-real-secret',
  burst: 'relay-tests:burst:INST:V1:fake-key-id-2:not-a-real-secret',
};

export const STREAM_PATTERN = 'line-1/{station}/{serial}_{taken_at}.{ext}';

export function instrumentalTransmit(
  name: string,
  baseUrl: string,
  secret: string,
  extra: Partial<DataTransmit> = {},
): DataTransmit {
  return {
    transmit_name: name,
    transmit_type: 'instrumental',
    filter_stream: ['line-1:aoi-camera'],
    base_url: baseUrl,
    api_key_secret: secret,
    fields: {
      serialNumber: '{serial}',
      stationName: '{station}',
      imageType: "{sidecar.view ?? meta.view ?? 'Top'}",
      imageTimestamp: { iso8601Time: '{taken_at|iso8601}', ianaTimeZone: "{sidecar.tz ?? meta.tz ?? 'UTC'}" },
      tags: '{sidecar.tags}',
      configName: '{sidecar.config}',
      imageConfigs: { configs: { lens: '{sidecar.lens}' } },
      fixtureName: '{sidecar.fixture}',
      fileName: '{object.basename}',
      lineName: '{stream.asset}',
      buildName: '{sidecar.build}',
      parentAssembly: { unitSerial: '{sidecar.parent}', relationshipName: '{sidecar.parent_rel}' },
      subassemblies: '{sidecar.subassemblies}',
    },
    ...extra,
  };
}

export function testConfig(
  transmits: DataTransmit[],
  relay: RelayConfig['relay'] = {},
  stream: Partial<StreamConfig> = {},
): RelayConfig {
  return {
    version: 1,
    relay: { max_attempts: 6, backoff_base_seconds: 0.2, backoff_max_seconds: 1, ...relay },
    data_receiver: [
      {
        data_receiver_name: 'factory-bucket',
        protocol: 's3',
        streams: [
          {
            asset: 'line-1',
            stream_type: 'aoi-camera',
            key_pattern: STREAM_PATTERN,
            sidecar: { mode: 'append', suffix: '.json', required: false },
            required: ['serial', 'station'],
            ...stream,
          },
        ],
      },
    ],
    data_transmit: transmits,
  };
}

/** An ObjectCreated:Put event record as S3 would send it for this object (tests send crafted or extra ones). */
export function objectCreated(
  region: string,
  obj: { bucket: string; key: string; size: number; etag: string; versionId?: string },
): ReturnType<typeof s3EventRecord> {
  return s3EventRecord({
    region,
    eventTime: new Date(),
    eventName: 'ObjectCreated:Put',
    principalId: 'AWS:EXAMPLE',
    sourceIPAddress: '127.0.0.1',
    requestId: 'REQ',
    hostId: 'HOST',
    configurationId: 'relay',
    bucket: obj.bucket,
    bucketOwnerPrincipalId: 'OWNER',
    key: obj.key,
    size: obj.size,
    eTag: obj.etag,
    ...(obj.versionId ? { versionId: obj.versionId } : {}),
    sequencer: '00000000000000000A',
  });
}

export interface Uploaded {
  key: string;
  versionId?: string;
  etag: string;
}

/** Uploading like a factory sync and waiting for delivery records, on any local stack. */
export interface StackHelpers {
  /** Puts an object as a factory sync would (the local notifier then emits the S3 event). */
  upload(key: string, body: Buffer, metadata?: Record<string, string>): Promise<Uploaded>;
  /** Every record of one object version: one per destination, or its `route` record. */
  records(obj: Uploaded): Promise<DeliveryRecord[]>;
  waitFor(
    obj: Uploaded,
    done: (recs: DeliveryRecord[]) => boolean,
    timeoutMs?: number,
  ): Promise<DeliveryRecord[]>;
  /** Waits until the object has records and all are in one of `statuses`; answers the first. */
  waitForStatus(obj: Uploaded, statuses: DeliveryStatus[], timeoutMs?: number): Promise<DeliveryRecord>;
}

export interface Harness extends StackHelpers {
  stack: LocalStack;
  sim: InstrumentalSimulator;
  stop(): Promise<void>;
}

export function stackHelpers(stack: LocalStack): StackHelpers {
  const { s3, ddb } = stack.clients;

  const records = (obj: Uploaded): Promise<DeliveryRecord[]> =>
    recordsOf(ddb, stack.tableName, { bucket: stack.buckets.ingest, ...obj });

  const waitFor = async (obj: Uploaded, done: (recs: DeliveryRecord[]) => boolean, timeoutMs = 180_000) => {
    const until = Date.now() + timeoutMs;
    let last: DeliveryRecord[] = [];
    while (Date.now() < until) {
      last = await records(obj);
      if (done(last)) return last;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${obj.key}; records: ${JSON.stringify(last, null, 1)}`);
  };

  return {
    async upload(key, body, metadata) {
      const put = await putObject(s3, stack.buckets.ingest, key, body, undefined, metadata);
      return { key, etag: put.etag, ...(put.versionId ? { versionId: put.versionId } : {}) };
    },
    records,
    waitFor,
    async waitForStatus(obj, statuses, timeoutMs) {
      const recs = await waitFor(
        obj,
        (r) => r.length > 0 && r.every((x) => statuses.includes(x.status)),
        timeoutMs,
      );
      return recs[0] as DeliveryRecord;
    },
  };
}

export async function startHarness(
  options: {
    sim?: InstrumentalSimulatorOptions;
    transmits?: (simUrl: string) => DataTransmit[];
    relay?: RelayConfig['relay'];
    /** Settings of the one stream (line-1:aoi-camera) over the defaults. */
    stream?: Partial<StreamConfig>;
    stack?: LocalStackOptions;
  } = {},
): Promise<Harness> {
  const sim = new InstrumentalSimulator({
    apiKeys: [TEST_KEYS.main, TEST_KEYS.burst],
    validationDelayMs: 100,
    ...options.sim,
  });
  const simUrl = await sim.start();
  const transmits = options.transmits?.(simUrl) ?? [
    instrumentalTransmit('instrumental-main', simUrl, 'relay-tests/instrumental'),
  ];
  const stack = await startLocalStack({
    config: testConfig(transmits, options.relay, options.stream),
    secrets: {
      'relay-tests/instrumental': TEST_KEYS.main,
      'relay-tests/instrumental-burst': TEST_KEYS.burst,
    },
    pollEveryMs: 250,
    logLevel: 'warn',
    ...options.stack,
  });
  return {
    stack,
    sim,
    ...stackHelpers(stack),
    async stop() {
      await stack.stop();
      await sim.stop();
    },
  };
}
