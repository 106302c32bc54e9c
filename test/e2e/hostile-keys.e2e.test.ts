/**
 * No stranded record, whatever the key: generated keys from every class of code point an S3 key may hold (and
 * `+`, `%`, `%2B`, spaces, 1024-byte keys) go through the whole local pipeline; each ends with a record in a
 * final or vendor-pending status, and a failure carries a code. A delivered one reached the vendor with its exact
 * name in the data JSON. A macOS export's NFD key is routed and found by a serial typed NFC; its
 * AppleDouble companion is recorded IGNORED_KEY and never sent.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SUCCESS, TERMINAL } from '#domain/status.ts';
import { makeJpeg } from '#simulators/media/index.ts';
import { type Harness, startHarness, type Uploaded } from './harness.ts';

const SLOW = { timeout: 900_000 };
let h: Harness;

before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.stop();
});

/** A small deterministic PRNG (mulberry32), so a failing key can be reproduced from the seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Code point classes: what S3 allows in a key (any UTF-8 but lone surrogates), weighted toward trouble. */
const CLASSES: Array<[number, number]> = [
  [0x20, 0x7e], // printable ASCII, including + % " ' \ and space
  [0x01, 0x1f], // C0 controls: tab, LF, CR …
  [0x7f, 0x9f], // DEL and C1 controls
  [0xa0, 0x7ff], // Latin-1 … two-byte UTF-8
  [0x800, 0xd7ff], // three-byte UTF-8 below the surrogates
  [0xe000, 0xf8ff], // private use
  [0xfdd0, 0xffff], // noncharacters, U+FFFE, U+FFFF (SQS refuses U+FFFE/U+FFFF in a body)
  [0x10000, 0x10ffff], // astral (emoji …): the local SQS refuses them in a body
];

function piece(rand: () => number, length: number): string {
  let s = '';
  for (let i = 0; i < length; i++) {
    const [lo, hi] = CLASSES[Math.floor(rand() * CLASSES.length)] as [number, number];
    const cp = lo + Math.floor(rand() * (hi - lo + 1));
    s += String.fromCodePoint(cp).replace('/', '_');
  }
  return s;
}

function generatedKeys(seed: number, count: number): string[] {
  const rand = prng(seed);
  const keys = [
    'line-1/A B/SN+1 %2B%25_20260105T100000Z.jpg',
    'line-1/%41/SN%2B_20260105T100000Z.jpg',
    `line-1/LONG/SN-${'\u{1f600}'.repeat(240)}_20260105T100000Z.jpg`,
    `line-1/${'x'.repeat(990)}/SN-L_20260105T100000Z.jpg`,
    'line-1/UFFFF\uffff/SN-\ufffe_20260105T100000Z.jpg',
    `unrouted/${piece(rand, 12)}.jpg`,
  ];
  while (keys.length < count) {
    // Most keys match the stream (so they are sent); the station and serial are what is hostile.
    const station = piece(rand, 1 + Math.floor(rand() * 8)).replace(/_/g, '-');
    const serial = piece(rand, 1 + Math.floor(rand() * 8)).replace(/_/g, '-');
    keys.push(`line-1/${station}/SN${serial}_20260105T100000Z.jpg`);
  }
  return keys.filter((k) => Buffer.byteLength(k, 'utf8') <= 1024);
}

describe('hostile keys', () => {
  it(
    'every generated key ends in a recorded final (or vendor-pending) status, failures with a code',
    SLOW,
    async () => {
      const seed = 20261130;
      const keys = generatedKeys(seed, 40);
      const uploaded: Uploaded[] = [];
      for (const [i, key] of keys.entries())
        uploaded.push(await h.upload(key, makeJpeg({ width: 8, height: 8, seed: i })));
      const done = [...TERMINAL, 'PENDING_VALIDATION'];
      for (const obj of uploaded) {
        const recs = await h.waitFor(
          obj,
          (r) => r.length > 0 && r.every((x) => done.includes(x.status)),
          300_000,
        );
        for (const rec of recs) {
          const ctx = `seed ${seed}, key ${JSON.stringify(obj.key)}: ${rec.status} ${JSON.stringify(rec.lastError)}`;
          assert.equal(rec.key, obj.key, `the record holds the exact key (${ctx})`);
          if (!SUCCESS.includes(rec.status) && rec.status !== 'PENDING_VALIDATION')
            assert.ok(rec.lastError?.code && rec.lastError.message, `a failure says why (${ctx})`);
          if (rec.status === 'PENDING_VALIDATION' || rec.status === 'UPLOADED') {
            const stored = h.sim.files().find((f) => f.fileId === rec.vendorRef);
            // {object.basename} is the real name, byte for byte (key parts, sidecar and metadata are NFC).
            assert.equal(
              stored?.data.fileName,
              obj.key.slice(obj.key.lastIndexOf('/') + 1),
              `exact name (${ctx})`,
            );
          }
        }
      }
      const statuses = new Set(
        (await Promise.all(uploaded.map((o) => h.records(o)))).flat().map((r) => r.status),
      );
      assert.ok(statuses.has('UNROUTED'), 'an unrouted key among them');
      assert.ok(statuses.has('PENDING_VALIDATION') || statuses.has('UPLOADED'), 'delivered keys among them');
    },
  );

  it(
    'an NFD key is routed and found by its serial typed NFC; its AppleDouble ._ file is recorded, never sent',
    SLOW,
    async () => {
      const ingests = () => h.sim.requestsTo('ingestImage').length;
      const before = { ingests: ingests(), files: h.sim.files().length };
      // Written as macOS does: "Prüfstand" and "Müller" decomposed (u + U+0308).
      const apple = await h.upload(
        'line-1/Pru\u0308fstand/._SNMu\u0308ller-e2e_20260105T100000Z.jpg',
        Buffer.from('AppleDouble'),
      );
      const skipped = await h.waitForStatus(apple, ['SKIPPED'], 120_000);
      assert.equal(skipped.key, apple.key);
      assert.equal(skipped.sk, 'route');
      assert.equal(skipped.notice?.code, 'IGNORED_KEY', JSON.stringify(skipped));

      const nfd = await h.upload(
        'line-1/Pru\u0308fstand/SNMu\u0308ller-e2e_20260105T100000Z.jpg',
        makeJpeg({ width: 8, height: 8, seed: 7 }),
      );
      const rec = await h.waitForStatus(nfd, ['PENDING_VALIDATION', 'UPLOADED'], 120_000);
      assert.equal(rec.key, nfd.key, 'the record names the real object');
      assert.equal(rec.serialNumber, 'SNMüller-e2e');

      const api = async (query: string) => {
        const res = await fetch(`${h.stack.apiUrl}/v1/deliveries?${query}`, {
          headers: { 'x-relay-user': 'tester' },
        });
        const body = (await res.json()) as {
          response: { items: Array<{ key: string; status: string; notice?: { code: string } }> };
        };
        return body.response.items;
      };
      const bySerial = await api(`serial=${encodeURIComponent('SNMüller-e2e')}`);
      assert.deepEqual(
        bySerial.map((d) => d.key),
        [nfd.key],
        'found by the serial typed in NFC',
      );
      const byKey = await api(`key=${encodeURIComponent('line-1/Prüfstand/')}`);
      assert.deepEqual(
        byKey.map((d) => [d.key, d.notice?.code ?? d.status === 'SKIPPED']).sort(),
        [
          [apple.key, 'IGNORED_KEY'],
          [nfd.key, false],
        ].sort(),
        'both found by a key prefix typed in NFC',
      );

      const stored = h.sim.files().slice(before.files);
      assert.deepEqual(
        stored.map((f) => f.data.fileName),
        ['SNMu\u0308ller-e2e_20260105T100000Z.jpg'],
        'only the real file reached the vendor, under its own (NFD) name',
      );
      assert.equal(ingests() - before.ingests, 1, 'the vendor saw no request for the ._ file');
    },
  );
});
