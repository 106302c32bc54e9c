/**
 * The ops page against the real local stack, as an operator runs it: `npm start`'s CLI (local/cli.ts start)
 * with the demo config (every vendor on its simulator) and the demo files, then headless Chromium on the URL
 * it prints. Saves docs/screenshots/find-timeline.png (the README shows it).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
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

const settled = (d: Delivery) =>
  !['RECEIVED', 'QUEUED', 'SENDING', 'RETRYING', 'ACCEPTED', 'PROCESSING', 'PENDING_VALIDATION'].includes(
    d.status,
  );

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'relay-ui-e2e-'));
  const endpoints = join(dir, 'endpoints.json');
  child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'local/cli.ts',
      'start',
      '--ephemeral-ports',
      '--endpoints-file',
      endpoints,
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
    existsSync(endpoints)
      ? (JSON.parse(readFileSync(endpoints, 'utf8')) as { ui: string; httpApi: string })
      : undefined,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${output}`);
  });
  ui = e.ui;
  api = e.httpApi;
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
    await page.waitForFunction(
      '[...document.querySelectorAll(".media img")].some((i) => i.naturalWidth > 100)',
      null,
      {
        timeout: 60_000,
      },
    );
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
});
