/**
 * The ops page against the real local stack, as an operator runs it: `npm start`'s CLI (local/cli.ts start)
 * with the demo config (every vendor on its simulator) and the demo files, then headless Chromium on the URL
 * it prints. One stack for every case, in order: the overview's counts (against the records), find, a rejected
 * file's code, a restream dry run, stop/start through the page (a file uploaded while stopped is held), and a
 * failure group restreamed through the page. Saves docs/screenshots/overview.png and find-timeline.png (the
 * README shows them).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Browser, Page } from 'playwright-core';
import { compactUtc, productPhoto } from '../../local/demo/files.ts';
import type { Delivery } from '../../ui/page/types.ts';
import { launchChromium } from '../ui/browser.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHOTS = join(ROOT, 'docs/screenshots');
const DEADLINE_MS = 120_000;

let child: ChildProcess;
let dir: string;
let ui = '';
let api = '';
let browser: Browser;
let endpoints: {
  s3: string;
  region: string;
  buckets: { ingest: string };
  destinations: Record<string, unknown>;
};

async function until<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + DEADLINE_MS;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

async function deliveries(query: string): Promise<Delivery[]> {
  const res = await fetch(`${api}/v1/deliveries?${query}`);
  const env = (await res.json()) as { success: boolean; response: { items: Delivery[] } };
  assert.ok(env.success, `GET /v1/deliveries?${query}`);
  return env.response.items;
}

async function get<T>(path: string): Promise<T> {
  const res = await fetch(`${api}${path}`);
  const env = (await res.json()) as { success: boolean; response: T };
  assert.ok(env.success, `GET ${path}`);
  return env.response;
}

type Counts = Record<string, Record<string, number>>;

/** What the records say: every delivery of every stream (read page by page), counted by destination and status. */
async function countsOfRecords(): Promise<{ counts: Counts; all: Delivery[] }> {
  const { streams } = await get<{ streams: Array<{ id: string }> }>('/v1/streams');
  const all: Delivery[] = [];
  for (const s of streams) {
    let next: string | undefined;
    do {
      const q = new URLSearchParams({ stream: s.id, limit: '500', ...(next ? { next } : {}) });
      const page = await get<{ items: Delivery[]; next?: string }>(`/v1/deliveries?${q}`);
      all.push(...page.items);
      next = page.next;
    } while (next);
  }
  const counts: Counts = {};
  for (const d of all) {
    if (!d.destination) continue;
    const c = counts[d.destination] ?? {};
    c[d.status] = (c[d.status] ?? 0) + 1;
    counts[d.destination] = c;
  }
  return { counts, all };
}

/** The few DOM members the tests read (the test build has no DOM types). */
interface El {
  getAttribute(name: string): string | null;
  querySelectorAll(selector: string): Iterable<El>;
  querySelector(selector: string): El | null;
  textContent: string | null;
  naturalWidth?: number;
}

/**
 * What the overview shows: each card's counts by status. Functions, not strings: the page's CSP (script-src
 * 'self') refuses the eval Playwright uses for a string expression.
 */
async function countsOnPage(page: Page): Promise<Counts> {
  const cards = await page
    .locator('article.card[data-destination]:not(.unrouted)')
    .evaluateAll((els) =>
      (els as unknown as El[]).map(
        (card) =>
          [
            card.getAttribute('data-destination') ?? '',
            [...card.querySelectorAll('li[data-status]')].map(
              (li) =>
                [li.getAttribute('data-status') ?? '', Number(li.querySelector('.n')?.textContent)] as const,
            ),
          ] as const,
      ),
    );
  return Object.fromEntries(cards.map(([name, counts]) => [name, Object.fromEntries(counts)]));
}

const sameCounts = (a: Counts, b: Counts) => {
  try {
    assert.deepEqual(a, b);
    return true;
  } catch {
    return false;
  }
};

const settled = (d: Delivery) =>
  !['RECEIVED', 'QUEUED', 'SENDING', 'RETRYING', 'ACCEPTED', 'PROCESSING', 'PENDING_VALIDATION'].includes(
    d.status,
  );

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-ui-e2e-'));
  const endpointsFile = join(dir, 'endpoints.json');
  child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'local/cli.ts',
      'start',
      '--ephemeral-ports',
      '--endpoints-file',
      endpointsFile,
      '--inbox',
      join(dir, 'inbox'),
      '--log-file',
      join(dir, 'relay.log'),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  const e = await until('endpoints.json', async () =>
    existsSync(endpointsFile)
      ? (JSON.parse(readFileSync(endpointsFile, 'utf8')) as typeof endpoints & {
          ui: string;
          httpApi: string;
        })
      : undefined,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${output}`);
  });
  ui = e.ui;
  api = e.httpApi;
  endpoints = e;
  assert.match(
    output,
    new RegExp(`ops page +${ui.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    'npm start prints the page URL',
  );
  // Every demo delivery of SN-1001 and SN-1003 settled.
  await until('the demo deliveries', async () => {
    const all = [...(await deliveries('serial=SN-1001')), ...(await deliveries('serial=SN-1003'))];
    return all.length >= 6 && all.every(settled) ? all : undefined;
  });
  browser = await launchChromium();
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGINT');
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('ops page on the local stack (demo config, every vendor)', () => {
  test("overview: a card for each of the demo's destinations, with the records' counts", async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    // Reloads every second: the counters follow the records through the status table's stream.
    await page.goto(`${ui}?refresh=1`);
    let last: unknown = 'nothing read';
    const records = await until(
      'the overview to show what the records say, every demo delivery settled',
      async () => {
        const { counts, all } = await countsOfRecords().catch((err: Error) => {
          last = `reading the records: ${err.message}`;
          throw err;
        });
        const waiting = all.filter((d) => !settled(d)).map((d) => `${d.destination} ${d.status} ${d.key}`);
        if (all.length === 0 || waiting.length > 0) {
          last = { waiting };
          return undefined;
        }
        const shown = await countsOnPage(page);
        last = { records: counts, shown };
        return sameCounts(shown, counts) ? counts : undefined;
      },
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(last)}`);
    });
    const names = Object.keys(endpoints.destinations).sort();
    assert.deepEqual(Object.keys(records).sort(), names, 'every demo destination has deliveries');
    const cards = Object.keys(await countsOnPage(page));
    assert.deepEqual([...cards].sort(), names, 'one card per demo destination');
    // The demo's own expectations (local/demo/files.ts), so the comparison above cannot pass on empty data.
    assert.equal(records['instrumental-demo']?.REJECTED, 1, 'SN-1003 rejected at Instrumental');
    // The API the page reads says the same.
    const status = await get<{
      destinations: Array<{ name: string; state: string; counts: Record<string, number> }>;
      unrouted: { count: number };
    }>('/v1/status');
    for (const d of status.destinations) {
      assert.deepEqual(d.counts, records[d.name], `/v1/status counts of ${d.name}`);
      assert.equal(d.state, 'running');
    }
    const unrouted = await get<{ items: Delivery[] }>(
      '/v1/deliveries?destination=(unrouted)&status=UNROUTED',
    );
    assert.equal(unrouted.items.length, 1, 'line-1/IMG_0042.jpg');
    assert.equal(await page.getByTestId('unrouted-count').textContent(), '1 key');
    await page.screenshot({ path: join(SHOTS, 'overview.png'), fullPage: false });
    await page.close();
  });

  test('searching a demo serial shows every delivery of the unit with its timeline and the image', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    await page.goto(ui);
    await page.getByRole('link', { name: 'Find' }).click();
    const box = page.getByLabel('Serial, key, or the start of a key');
    await box.fill('SN-1001');
    await box.press('Enter');
    const summary = await page.getByTestId('find-summary').textContent({ timeout: 60_000 });
    const expected = await deliveries('serial=SN-1001');
    assert.match(summary ?? '', new RegExp(`^${expected.length} deliveries`));
    const inst = page.getByRole('article', { name: 'instrumental-demo: UPLOADED' }).first();
    const steps = inst.getByRole('list', { name: 'timeline of instrumental-demo' }).locator('li');
    await steps.last().waitFor({ timeout: 60_000 });
    const text = (await steps.allTextContents()).join(' | ');
    assert.match(text, /SENDING/);
    assert.match(text, /UPLOADED/);
    await until('the image shown (decoded)', async () => {
      const widths = await page
        .locator('.media img')
        .evaluateAll((els) => (els as unknown as El[]).map((i) => i.naturalWidth ?? 0));
      return widths.some((w) => w > 100) ? true : undefined;
    });
    await page.screenshot({ path: join(SHOTS, 'find-timeline.png'), fullPage: false });
    await page.close();
  });

  test("a rejected file's code is visible: SN-1003 at Instrumental, NOT_A_JPEG", async () => {
    const page = await browser.newPage();
    await page.goto(`${ui}#find?q=SN-1003`);
    const inst = page.getByRole('article', { name: 'instrumental-demo: REJECTED' });
    await inst.getByTestId('error').filter({ hasText: 'NOT_A_JPEG' }).waitFor({ timeout: 60_000 });
    await page.getByRole('article', { name: 'edge-impulse-demo: UPLOADED' }).waitFor();
    await page.close();
  });

  test('a restream dry run counts the failure group and queues nothing', async () => {
    const res = await fetch(`${api}/v1/restream`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        requestId: 'ui-e2e-dry',
        destination: 'instrumental-demo',
        status: 'REJECTED',
        code: 'NOT_A_JPEG',
        dryRun: true,
      }),
    });
    const env = (await res.json()) as {
      success: boolean;
      response: { matched: number; queued: number; dryRun: boolean };
    };
    assert.equal(res.status, 200);
    assert.deepEqual(env.response, {
      requestId: 'ui-e2e-dry',
      matched: 1,
      queued: 0,
      duplicate: false,
      dryRun: true,
    });
    const stored = await fetch(`${api}/v1/restream/ui-e2e-dry`);
    assert.equal(stored.status, 404, 'a dry run stores no request: the id stays free');
  });

  test('stopping a destination on the page holds a new file (no attempt spent); starting it sends the file', async () => {
    const dest = 'instrumental-demo';
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${ui}#actions`);
    await page
      .locator(`tr[data-destination="${dest}"]`)
      .getByRole('button', { name: `Stop ${dest}` })
      .click();
    const stopDialog = page.getByRole('dialog', { name: `Stop ${dest}?` });
    assert.match(
      (await stopDialog.getByTestId('confirm-count').textContent()) ?? '',
      new RegExp(
        `^Stop ${dest}: its 0 deliveries waiting to be sent, and every new file for it, will be held`,
      ),
    );
    await stopDialog.getByRole('button', { name: `Stop ${dest}` }).click();
    await page.locator('#last-action', { hasText: `${dest} is stopped.` }).waitFor({ timeout: 60_000 });

    // The overview shows it stopped, and why.
    await page.goto(`${ui}?refresh=1#overview`);
    const card = page.locator(`article[data-destination="${dest}"]`);
    await card.getByTestId('state').filter({ hasText: 'stopped' }).waitFor({ timeout: 60_000 });
    assert.match((await card.locator('.reason').textContent()) ?? '', /^DESTINATION_STOPPED: /);

    // A file for it arriving now is held; the stream's other destinations take it as usual.
    const s3 = new S3Client({
      endpoint: endpoints.s3,
      region: endpoints.region,
      forcePathStyle: true,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const key = `line-1/aoi-top/SN-1901_${compactUtc(new Date())}.jpg`;
    try {
      await s3.send(
        new PutObjectCommand({
          Bucket: endpoints.buckets.ingest,
          Key: key,
          Body: productPhoto(19, 1280, 960),
          ContentType: 'image/jpeg',
        }),
      );
    } finally {
      s3.destroy();
    }
    const records = await until('SN-1901 held at the stopped destination, settled elsewhere', async () => {
      const all = await deliveries('serial=SN-1901');
      const held = all.find((d) => d.destination === dest);
      const others = all.filter((d) => d.destination !== dest);
      return held?.status === 'HELD' && others.length > 0 && others.every(settled) ? all : undefined;
    });
    const held = records.find((d) => d.destination === dest);
    assert.equal(held?.attempts, 0, 'holding spends no attempt');
    assert.equal(held?.lastError?.code, 'DESTINATION_STOPPED');
    for (const d of records.filter((x) => x.destination !== dest))
      assert.notEqual(d.status, 'HELD', `${d.destination} is not stopped`);
    await page.goto(`${ui}#find?q=SN-1901`);
    await page
      .getByRole('article', { name: `${dest}: HELD` })
      .getByTestId('error')
      .filter({ hasText: 'DESTINATION_STOPPED' })
      .waitFor({ timeout: 60_000 });

    // Start: the confirmation counts the held delivery (once the counters have it), and the file is sent.
    await until('the held delivery counted', async () => {
      const s = await get<{ destinations: Array<{ name: string; counts: Record<string, number> }> }>(
        '/v1/status',
      );
      return s.destinations.find((d) => d.name === dest)?.counts.HELD === 1 ? true : undefined;
    });
    await page.goto(`${ui}#actions`);
    await page
      .locator(`tr[data-destination="${dest}"]`)
      .getByRole('button', { name: `Start ${dest}` })
      .click();
    const startDialog = page.getByRole('dialog', { name: `Start ${dest}?` });
    assert.equal(
      await startDialog.getByTestId('confirm-count').textContent(),
      `Start ${dest}: its 1 held delivery will be queued again and sent.`,
    );
    await startDialog.getByRole('button', { name: `Start ${dest}` }).click();
    await page.locator('#last-action', { hasText: `${dest} is running.` }).waitFor({ timeout: 60_000 });
    const sent = await until('SN-1901 delivered to the started destination', async () => {
      const d = (await deliveries('serial=SN-1901')).find((x) => x.destination === dest);
      return d && settled(d) && d.status !== 'HELD' ? d : undefined;
    });
    assert.equal(sent.status, 'UPLOADED');
    assert.equal(sent.id, held?.id, 'the held delivery itself is sent, not a copy');
    assert.ok(sent.attempts >= 1);
    await page.goto(`${ui}?refresh=1#overview`);
    await card.getByTestId('state').filter({ hasText: 'running' }).waitFor({ timeout: 60_000 });
    await page.close();
  });

  test('restreaming a failure group on the page delivers its files again as new deliveries', async () => {
    const dest = 'instrumental-demo';
    const [original] = (await deliveries('serial=SN-1003')).filter((d) => d.destination === dest);
    assert.equal(original?.status, 'REJECTED');
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${ui}#failures`);
    const group = page.locator(`details[data-group="${dest}|REJECTED|NOT_A_JPEG"]`);
    await group.locator('summary').click();
    await group.getByRole('button', { name: `Restream 1 REJECTED NOT_A_JPEG at ${dest}` }).click();
    const dialog = page.getByRole('dialog', { name: 'Restream?' });
    assert.equal(
      await dialog.getByTestId('confirm-count').textContent(),
      'This sends 1 delivery again as new deliveries.',
    );
    await dialog.getByRole('button', { name: 'Restream 1' }).click();
    const done = page.locator('#last-action', { hasText: /^Restream \S+: 1 matched, 1 queued/ });
    await done.waitFor({ timeout: 60_000 });
    const requestId = /^Restream (\S+):/.exec((await done.textContent()) ?? '')?.[1];
    assert.ok(requestId);
    const again = await until('the restream delivery settled', async () => {
      const d = (await deliveries('serial=SN-1003')).find((x) => x.restreamOf === requestId);
      return d && settled(d) ? d : undefined;
    });
    assert.equal(again.destination, dest);
    assert.equal(again.key, original.key);
    assert.notEqual(again.id, original.id, 'a new delivery beside the earlier one');
    // Sent through the forwarder again: the same file fails the same way, now recorded on the new delivery.
    assert.equal(again.status, 'REJECTED');
    assert.equal(again.lastError?.code, 'NOT_A_JPEG');
    const detail = await get<{ restream?: { requestId: string }; history: Array<{ status: string }> }>(
      `/v1/deliveries/${encodeURIComponent(again.id)}`,
    );
    assert.equal(detail.restream?.requestId, requestId);
    assert.ok(detail.history.some((e) => e.status === 'REJECTED'));
    const before = (await deliveries('serial=SN-1003')).find((x) => x.id === original.id);
    assert.equal(before?.status, 'REJECTED', 'the earlier record stays as it was');
    assert.equal(before?.updatedAt, original.updatedAt);
    await page.close();
  });
});
