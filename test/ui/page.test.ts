/**
 * The ops page in headless Chromium against a fixture ops API (fake-api.ts, the contract's shapes): what each
 * view shows, that every action asks first with the count the API gave, and that the keyboard reaches it all.
 * The same page against the real local stack: test/e2e/ui.e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './browser.ts';
import { type FakeApi, startFakeApi } from './fake-api.ts';

let api: FakeApi;
let browser: Browser;

before(async () => {
  api = await startFakeApi();
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await api?.stop();
});

async function open(hash = ''): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes('404')) errors.push(m.text());
  });
  await page.goto(`${api.url}/ui/${hash}`);
  page.once('close', () => assert.deepEqual(errors, [], 'no script errors on the page'));
  return page;
}

describe('ops page (fixture API)', () => {
  test('/ui redirects to /ui/; the page is three small files with a same-origin CSP', async () => {
    const res = await fetch(`${api.url}/ui`, { redirect: 'manual' });
    assert.equal(res.status, 308);
    assert.equal(res.headers.get('location'), '/ui/');
    const js = await fetch(`${api.url}/ui/app.js`);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /javascript/);
    assert.match(js.headers.get('content-security-policy') ?? '', /connect-src 'self'/);
    assert.ok((await js.arrayBuffer()).byteLength < 100_000, 'the script stays small');
    assert.equal((await fetch(`${api.url}/ui/../package.json`)).status, 404);
  });

  test('overview: a card per destination with its counts, last error, DLQ depth, a chart; streams with markers', async () => {
    const page = await open();
    const inst = page.getByRole('article', { name: 'instrumental-demo' });
    await inst.waitFor();
    assert.equal(await inst.locator('[data-status="UPLOADED"] .n').textContent(), '4');
    assert.equal(await inst.locator('[data-status="QUEUED"] .n').textContent(), '2');
    assert.equal(await inst.getByTestId('state').textContent(), 'running');
    const ei = page.getByRole('article', { name: 'edge-impulse-demo' });
    assert.equal(await ei.locator('[data-status="REJECTED"] .n').textContent(), '2');
    assert.match((await ei.getByTestId('last-error').textContent()) ?? '', /LABEL_MISSING/);
    assert.equal(await ei.getByTestId('dlq').textContent(), '3');
    const chart = ei.getByRole('img');
    assert.match((await chart.getAttribute('aria-label')) ?? '', /2 delivered, 2 failed/);
    assert.equal(await page.getByTestId('unrouted-count').textContent(), '1 key');
    const unrouted = page.getByTestId('unrouted-marker');
    assert.match((await unrouted.textContent()) ?? '', /warning.*1 key matched no stream/);
    assert.equal(await unrouted.locator('li').getAttribute('data-category'), 'unrouted');
    const row = page.locator('tr[data-stream="line-1:aoi-camera"]');
    assert.match((await row.textContent()) ?? '', /warning.*error rate 50%/);
    assert.equal(await row.locator('li.marker').getAttribute('data-category'), 'error_rate');
  });

  test('overview refreshes by itself', async () => {
    const page = await browser.newPage();
    await page.goto(`${api.url}/ui/?refresh=1`);
    await page.getByRole('article', { name: 'instrumental-demo' }).waitFor();
    const dest = api.state.status.destinations[0]!;
    dest.counts.UPLOADED = 5;
    await page
      .locator('article[data-destination="instrumental-demo"] [data-status="UPLOADED"] .n', { hasText: '5' })
      .waitFor({ timeout: 60_000 });
    dest.counts.UPLOADED = 4;
    await page.close();
  });

  test('find: a serial shows every delivery of the unit with its timeline, vendor reference, error and image', async () => {
    const page = await open();
    await page.getByRole('article', { name: 'instrumental-demo' }).waitFor();
    await page.keyboard.press('/');
    const box = page.getByLabel('Serial, key, or the start of a key');
    await box.waitFor();
    assert.equal(await page.evaluate('document.activeElement?.id'), 'find-q', '/ focuses the search box');
    await box.fill('SN-1001');
    await box.press('Enter');
    await page.getByTestId('find-summary').filter({ hasText: '2 deliveries of 1 object' }).waitFor();
    const inst = page.getByRole('article', { name: 'instrumental-demo: UPLOADED' });
    await inst.getByTestId('vendor-ref').filter({ hasText: 'inst-img-42' }).waitFor();
    const steps = await inst
      .getByRole('list', { name: 'timeline of instrumental-demo' })
      .locator('li')
      .allTextContents();
    assert.equal(steps.length, 4);
    assert.match(steps[2]!, /ACCEPTED.*HTTP 201/);
    const ei = page.getByRole('article', { name: 'edge-impulse-demo: REJECTED' });
    await ei.getByTestId('error').filter({ hasText: 'LABEL_MISSING' }).waitFor();
    const img = page.getByRole('img', { name: 'line-1/aoi-top/SN-1001_20260105T081500Z.jpg' });
    // The image came through the proxied read and decoded (a 1×1 PNG).
    await img.waitFor();
    await page.waitForFunction('document.querySelector(".media img")?.naturalWidth === 1');
    assert.match(page.url(), /#find\?q=SN-1001$/, 'the search is in the URL');
    await page.close();
  });

  test('failures: grouped by code with counts; a group restreams after a confirmation that states the dry run count', async () => {
    const page = await open('#failures');
    const group = page.locator('details[data-group="edge-impulse-demo|REJECTED|LABEL_MISSING"]');
    await group.waitFor();
    assert.match(
      (await group.locator('summary').textContent()) ?? '',
      /^2 REJECTED LABEL_MISSING at edge-impulse-demo/,
    );
    await page.locator('details[data-group="(unrouted)|UNROUTED|NO_MATCHING_STREAM"]').waitFor();
    await group.locator('summary').focus();
    await page.keyboard.press('Enter');
    await group.getByRole('button', { name: /Restream 2 REJECTED LABEL_MISSING/ }).click();
    const dialog = page.getByRole('dialog', { name: 'Restream?' });
    await dialog.waitFor();
    assert.match((await dialog.getByTestId('confirm-count').textContent()) ?? '', /sends 2 deliveries again/);
    const before = api.calls.filter((c) => c.path === '/v1/restream').length;
    await page.keyboard.press('Escape');
    await page.locator('#last-action', { hasText: 'Restream cancelled.' }).waitFor();
    assert.equal(
      api.calls.filter((c) => c.path === '/v1/restream').length,
      before,
      'cancel sends nothing more',
    );
    await group.getByRole('button', { name: /Restream 2/ }).click();
    await dialog.getByRole('button', { name: 'Restream 2' }).click();
    await page.locator('#last-action', { hasText: /2 matched, 2 queued/ }).waitFor();
    const sent = api.calls
      .filter((c) => c.path === '/v1/restream')
      .map((c) => c.body as Record<string, unknown>);
    assert.equal(sent.at(-2)?.dryRun, true, 'the count came from a dry run');
    assert.deepEqual(
      { ...sent.at(-1), requestId: undefined },
      { requestId: undefined, destination: 'edge-impulse-demo', status: 'REJECTED', code: 'LABEL_MISSING' },
    );
    await page.close();
  });

  test('actions: stop asks with the waiting count, then shows the destination stopped; start brings it back', async () => {
    const page = await open('#actions');
    const row = page.locator('tr[data-destination="instrumental-demo"]');
    await row.waitFor();
    await row.getByRole('button', { name: 'Stop instrumental-demo' }).click();
    const dialog = page.getByRole('dialog', { name: 'Stop instrumental-demo?' });
    assert.match((await dialog.getByTestId('confirm-count').textContent()) ?? '', /its 2 deliveries waiting/);
    await dialog.getByRole('button', { name: 'Stop instrumental-demo' }).click();
    await page
      .locator('tr[data-destination="instrumental-demo"] [data-testid="state"]', { hasText: 'stopped' })
      .waitFor();
    await page
      .locator('tr[data-destination="instrumental-demo"]')
      .getByRole('button', { name: 'Start instrumental-demo' })
      .click();
    await page.getByRole('dialog').getByRole('button', { name: 'Start instrumental-demo' }).click();
    await page
      .locator('tr[data-destination="instrumental-demo"] [data-testid="state"]', { hasText: 'running' })
      .waitFor();
    await page.close();
  });

  test('actions: redrive states the queue depth; a stream restream asks the dry run first', async () => {
    const page = await open('#actions');
    await page.getByRole('button', { name: 'Redrive edge-impulse' }).click();
    const dialog = page.getByRole('dialog', { name: 'Redrive edge-impulse?' });
    assert.match((await dialog.getByTestId('confirm-count').textContent()) ?? '', /Moves 3 messages/);
    await dialog.getByRole('button', { name: 'Redrive 3' }).click();
    await page.locator('#last-action', { hasText: 'Redrive r-1: 3 moved.' }).waitFor();
    assert.ok(
      await page.getByRole('button', { name: 'Redrive ingest' }).isDisabled(),
      'an empty queue has nothing to redrive',
    );
    await page
      .getByLabel('Stream', { exact: true })
      .selectOption({ label: 'line-1:aoi-camera (factory-bucket)' });
    await page.getByRole('button', { name: 'Restream…' }).click();
    await page
      .locator('#last-action', { hasText: /Nothing to restream: stream line-1:aoi-camera/ })
      .waitFor();
    const last = api.calls.filter((c) => c.path === '/v1/restream').at(-1)?.body as Record<string, unknown>;
    assert.deepEqual(last['factory-bucket'], [{ asset: 'line-1', stream_type: 'aoi-camera' }]);
    assert.equal(last.dryRun, true);
    await page.close();
  });

  test('number keys switch views; the current one is marked for screen readers', async () => {
    const page = await open();
    await page.getByRole('article', { name: 'instrumental-demo' }).waitFor();
    await page.keyboard.press('3');
    await page.locator('main[data-view="failures"]').waitFor();
    assert.equal(await page.getByRole('link', { name: 'Failures' }).getAttribute('aria-current'), 'page');
    await page.close();
  });
});
