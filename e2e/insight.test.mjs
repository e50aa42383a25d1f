// Browser check of the dashboards (数据看板) on the demo data: the city
// dashboard draws its charts, drill-down goes city → district → school →
// class, and a figure exports. Run through e2e/run, which starts a demo
// server and sets JNEDU_BASE_URL.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.JNEDU_BASE_URL;
const SHOTS = process.env.JNEDU_SCREENSHOTS || new URL('./screenshots', import.meta.url).pathname;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
if (!BASE) throw new Error('JNEDU_BASE_URL is not set: run the tests with e2e/run');
mkdirSync(SHOTS, { recursive: true });

let browser;
let page;
let failed = '';
const problems = [];

function step(name, fn) {
  it(name, async (t) => {
    if (failed) {
      t.skip(`skipped: "${failed}" failed`);
      return;
    }
    try {
      await fn();
    } catch (err) {
      failed = name;
      await page?.screenshot({ path: join(SHOTS, `FAIL-insight-${name.replace(/[^\w-]+/g, '_')}.png`), fullPage: true }).catch(() => {});
      throw err;
    }
  });
}

const url = (path) => new URL(path, BASE).href;

async function go(path) {
  const res = await page.goto(url(path), { waitUntil: 'load' });
  assert.ok(res, `no response for ${path}`);
  return res;
}

async function charts() {
  await page.waitForFunction(() => [...document.querySelectorAll('[data-chart]')].every((e) => e.getAttribute('data-rendered') === '1'));
  return page.locator('[data-testid="trend-chart"] canvas').count();
}

describe('dashboards: city → district → school → class', () => {
  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'zh-CN', timezoneId: 'Asia/Shanghai' });
    context.setDefaultTimeout(15_000);
    page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  });

  after(async () => {
    await browser?.close();
  });

  step('the administrator signs in and the demo records are counted', async () => {
    await go('/login');
    const form = page.locator('form[action="/login"]');
    await form.locator('#username').fill('admin');
    await form.locator('#password').fill('Demo2026jn');
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), form.locator('button[type="submit"]').click()]);
    // The demo's records are stored while the server runs and reach the
    // indicators through the event relay, in order: the exam's scores come
    // last, so once they are counted everything is. Wait generously.
    const deadline = Date.now() + 240_000;
    let total = null;
    while (Date.now() < deadline) {
      const res = await page.request.get(url('/api/v1/insight/indicators/exam_participants'));
      assert.equal(res.status(), 200);
      total = (await res.json()).total.value;
      if (total >= 240) break;
      await page.waitForTimeout(2000);
    }
    assert.ok(total >= 240, `the demo exam's candidates are not all counted (total ${total})`);
  });

  step('the city dashboard draws its charts', async () => {
    const res = await go('/insight');
    assert.equal(res.status(), 200);
    assert.match(new URL(page.url()).pathname, /^\/insight\/orgs\/\d+$/);
    assert.match(await page.locator('main h1').innerText(), /数据看板 · 济南市教育局/);
    assert.equal(await charts(), 1, 'the trend chart has a canvas');
    assert.ok(await page.locator('.insight-card .spark canvas').count() >= 10, 'the overview cards have sparklines');
    assert.equal(await page.locator('[data-testid="district-chart"] canvas').count(), 1, 'the district breakdown is drawn');
    assert.match(await page.locator('[data-testid="focus"]').innerText(), /指标定义/);
    await page.screenshot({ path: join(SHOTS, 'insight-01-city.png'), fullPage: true });
  });

  step('drill down to a district, a school and a class', async () => {
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }),
      page.locator('[data-testid="parts"] a[data-testid="drill"]', { hasText: '历下区' }).click()]);
    assert.match(await page.locator('main h1').innerText(), /历下区/);
    await charts();
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }),
      page.locator('[data-testid="parts"] a[data-testid="drill"]').first().click()]);
    const h1 = await page.locator('main h1').innerText();
    assert.match(h1, /学校/, `a school dashboard (${h1})`);
    assert.match(await page.locator('[data-testid="parts"] h2').innerText(), /班级排名/);
    assert.equal(await page.locator('.insight-crumbs a').count(), 3, 'city › district › school');
    await charts();
    await page.screenshot({ path: join(SHOTS, 'insight-02-school.png'), fullPage: true });
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }),
      page.locator('[data-testid="parts"] a[data-testid="drill"]').first().click()]);
    assert.match(new URL(page.url()).search, /class=/);
    // The city's administrator sees the class's figures, not its students.
    assert.equal(await page.locator('[data-testid="students"]').count(), 0);
  });

  step('a figure exports as CSV', async () => {
    const href = await page.locator('[data-testid="focus"] a.button', { hasText: 'CSV' }).getAttribute('href');
    const res = await page.request.get(url(href));
    assert.equal(res.status(), 200);
    assert.match(res.headers()['content-type'], /text\/csv/);
    assert.match(await res.text(), /周（周一）/);
  });

  step('no script errors (the CSP allows the charts)', async () => {
    assert.deepEqual(problems, []);
  });
});
