import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RelayConfig } from '#domain/config/types.ts';
import { type DeliveryRecord, objectPk } from '#domain/delivery.ts';
import { type Delivery, listDeliveries, prefixForms } from './deliveries.ts';
import type { IndexQuery, ObjectVersion, OpsDeps, OpsRequest } from './types.ts';

const BUCKET = 'ingest';
const config: RelayConfig = { version: 1, data_receiver: [], data_transmit: [] };

/** One record per key, as the router writes them: `key` is the real (possibly NFD) key, serials are NFC. */
function fakeDeps(records: Array<{ key: string; serial?: string }>) {
  const versions: ObjectVersion[] = records.map((r) => ({
    key: r.key,
    etag: 'e',
    size: 1,
    lastModified: '2026-01-01T00:00:00.000Z',
    isLatest: true,
  }));
  const stored: DeliveryRecord[] = records.map((r) => ({
    pk: objectPk({ bucket: BUCKET, key: r.key, etag: 'e' }),
    sk: 'destination#inst',
    bucket: BUCKET,
    key: r.key,
    etag: 'e',
    size: 1,
    status: 'UPLOADED',
    ...(r.serial ? { serialNumber: r.serial } : {}),
    attempts: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    history: [],
  }));
  const listings: string[] = [];
  const deps = {
    config: () => ({ config, version: 0 }),
    ingestBucket: BUCKET,
    objects: {
      // S3 lists bytes: a prefix finds only keys spelled the same way. One key per page, to page through.
      listLatest: async (_b: string, prefix: string, _max: number, next?: string) => {
        listings.push(prefix);
        const all = versions.filter((v) => v.key.startsWith(prefix));
        const at = next ? Number(next) : 0;
        return { versions: all.slice(at, at + 1), ...(at + 1 < all.length ? { next: String(at + 1) } : {}) };
      },
    },
    table: {
      forObject: async (pk: string) => stored.filter((r) => r.pk === pk),
      query: async (q: IndexQuery) => ({
        items: q.index === 'bySerial' ? stored.filter((r) => r.serialNumber === q.value) : [],
      }),
    },
  } as unknown as OpsDeps;
  return { deps, listings };
}

const request = (query: Record<string, string>): OpsRequest => ({
  method: 'GET',
  routeKey: 'GET /v1/deliveries',
  by: 'local:test',
  path: {},
  query,
});

async function list(deps: OpsDeps, query: Record<string, string>) {
  const res = await listDeliveries(request(query), deps);
  return res.body.response as { items: Delivery[]; next?: string };
}

describe('GET /v1/deliveries: Unicode forms', () => {
  const nfd = 'Pru\u0308fstand/Mu\u0308ller-1_2024.jpg';
  const nfc = 'Prüfstand/Müller-1_2024.jpg';

  it('finds by serial typed NFC or pasted NFD', async () => {
    const { deps } = fakeDeps([{ key: nfd, serial: 'Müller-1' }]);
    for (const serial of ['Müller-1', 'Mu\u0308ller-1']) {
      const page = await list(deps, { serial });
      assert.deepEqual(
        page.items.map((d) => d.key),
        [nfd],
        serial,
      );
    }
  });

  it('a key prefix typed NFC finds keys stored NFD and NFC, paging through both spellings', async () => {
    const { deps, listings } = fakeDeps([{ key: nfd }, { key: nfc }]);
    const keys: string[] = [];
    let next: string | undefined;
    do {
      const page = await list(deps, { key: 'Prüfstand/', ...(next ? { next } : {}) });
      keys.push(...page.items.map((d) => d.key));
      next = page.next;
    } while (next);
    assert.deepEqual(keys.sort(), [nfc, nfd].sort());
    assert.deepEqual([...new Set(listings)], ['Prüfstand/', 'Pru\u0308fstand/']);
  });

  it('an ASCII prefix is listed once', () => {
    assert.deepEqual(prefixForms('line-1/aoi/'), ['line-1/aoi/']);
    assert.deepEqual(prefixForms('Pru\u0308f'), ['Prüf', 'Pru\u0308f']);
  });
});

describe('GET /v1/deliveries: a prefix whose keys are all NFD', () => {
  it('answers them on the first page, not after an empty one', async () => {
    const nfd = 'Pru\u0308fstand/S1_2024.jpg';
    const { deps } = fakeDeps([{ key: nfd }]);
    const page = await list(deps, { key: 'Prüfstand/' });
    assert.deepEqual(
      page.items.map((d) => d.key),
      [nfd],
    );
    assert.equal(page.next, undefined);
  });
});
