/**
 * The `flow serve` page in a real headless browser (Debian's chromium driven by playwright-core;
 * scripts/setup.sh installs it): load the page, pick a pipeline and a test image, draw a mask
 * with the mouse, run a small pipeline on the tiny LDM, see previews and the loss curve arrive
 * and the final grid with its metrics appear, then cancel a long run from the queue.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { initBackend } from '../../src/runtime/backend.js';
import type { RunRecord } from '../../src/serve/run-queue.js';
import type { RunSummary } from '../../src/runtime/events.js';
import { startServer, writeTinyPipelines, type TestServer } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing (scripts/setup.sh installs Debian's chromium)`;

let server: TestServer | undefined;
let browser: Browser | undefined;
after(async () => {
  await browser?.close();
  await server?.app.close();
});

test(
  'the page: draw a mask, run, watch previews, see the grid; cancel a run',
  { skip, timeout: 120_000 },
  async () => {
    await initBackend('wasm');
    server = await startServer(await writeTinyPipelines(), { previewEvery: 1 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));

    await page.goto(`${server.base}/`);
    await page.waitForSelector('body[data-ready=true]');
    await page.selectOption('#pipeline', 'tiny-vipaint.yaml');
    await page.waitForSelector('[data-key=iterations]');
    await page.selectOption('#test-image', 'fashion/test-0005.png');
    // Draw a stroke across the image: the drawn region becomes the mask.
    const box = await page.locator('#mask-canvas').boundingBox();
    assert.ok(box);
    await page.mouse.move(box.x + 40, box.y + 60);
    await page.mouse.down();
    for (let i = 1; i <= 15; i++) await page.mouse.move(box.x + 40 + i * 10, box.y + 60 + i * 8);
    await page.mouse.up();
    assert.equal(await page.isChecked('input[name=mask-kind][value=draw]'), true);
    await page.fill('[data-key=iterations]', '4');
    await page.click('#run');

    await page.waitForSelector('#previews figure img', { timeout: 60_000 });
    await page.waitForSelector('#curves canvas');
    await page.waitForSelector('#results img.result-grid', { timeout: 60_000 });
    // (a string: this file is type-checked without the DOM library)
    await page.waitForFunction(
      "(() => { const i = document.querySelector('#results img.result-grid'); return i && i.complete && i.naturalWidth > 0; })()",
    );
    assert.equal(await page.textContent('#run-status'), 'done');
    assert.ok((await page.locator('#results table.metrics').count()) >= 1, 'metrics tables shown');
    assert.match((await page.textContent('#results')) ?? '', /psnr_mean/);
    const previewNodes = await page.locator('#previews figcaption').allTextContents();
    assert.ok(
      previewNodes.some((t) => t.startsWith('fit ')) && previewNodes.some((t) => t.startsWith('refine ')),
    );
    // The run used the drawn mask and the chosen image.
    const runs = (await (await fetch(`${server.base}/api/runs`)).json()) as RunRecord[];
    const done = runs[0] as RunRecord;
    const summary = JSON.parse(
      await readFile(path.join(server.outDir, done.folder as string, 'run.json'), 'utf8'),
    ) as RunSummary;
    assert.equal(summary.nodeParams.measure?.mask, 'file');
    assert.equal(summary.nodeParams.fit?.iterations, 4);
    assert.match(String(summary.nodeParams.images?.path), /test-0005\.png$/);
    assert.ok(
      await page.locator('#history li', { hasText: done.folder as string }).count(),
      'listed as a past run',
    );

    // A long run, cancelled from the queue.
    await page.selectOption('#pipeline', 'baselines/tiny-dps.yaml');
    await page.waitForSelector('#node-params summary:has-text("solver")');
    await page.fill('[data-key=iterations]', '500');
    await page.click('input[name=mask-kind][value=random]');
    await page.click('#run');
    await page.waitForSelector('#nodes tr[data-node=solver].running', { timeout: 30_000 });
    await page.click('#queue li:first-child button.cancel');
    await page.waitForSelector('#queue li:first-child .badge.cancelled', { timeout: 30_000 });
    assert.equal(await page.textContent('#run-status'), 'cancelled');
    // After a reload the page shows the server's runs again, with their final states.
    await page.reload();
    await page.waitForSelector('body[data-ready=true]');
    await page.waitForSelector('#queue li .badge.done');
    assert.deepEqual(await page.locator('#queue .badge').allTextContents(), ['cancelled', 'done']);
    assert.deepEqual(errors, [], 'no errors in the page');
  },
);
