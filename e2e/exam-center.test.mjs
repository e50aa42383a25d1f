// Browser walk through the exam center's paper pages: the administrator
// writes a paper from the example template in the structured editor, sees
// a validation problem next to its field, then previews the published demo
// paper as a candidate takes it, answering one spoken item with a fake
// microphone (the recording stays in the browser). Run through e2e/run.
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  follow, go, launchBrowser, newContext, pathOf, requireEnv, runSuffix, shot, signIn, speechWav, steps, submit,
} from './lib.mjs';

requireEnv('JNEDU_BASE_URL');
const code = `E2E-${runSuffix().toUpperCase()}`;

let browser;
let page;
let tmp;
const { step, watch } = steps('exam-center');

describe('exam center: author a paper and preview one item', () => {
  before(async () => {
    // A spoken answer for the fake microphone (16-bit PCM WAV).
    tmp = mkdtempSync(join(tmpdir(), 'exam-e2e-'));
    const speech = speechWav(tmp, 'I usually go to school by bike with my friends.');
    browser = await launchBrowser({ microphone: speech });
    const context = await newContext(browser, { viewport: { width: 1280, height: 900 } });
    page = watch(await context.newPage());
  });
  after(async () => {
    await browser?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  step('sign in as the administrator', async () => {
    await signIn(page, 'admin');
    await go(page, '/exam/papers');
    assert.match(await page.locator('[data-testid="papers"]').innerText(), /2027-ZK-DEMO-A/);
  });

  step('create a paper from the example and edit it in the structured editor', async () => {
    const form = page.locator('form[action="/exam/papers"]');
    await form.locator('#code').fill(code);
    await form.locator('#title').fill('端到端测试试卷');
    await form.locator('#variant').fill('A');
    await form.locator('#template').selectOption('example');
    await submit(form);
    assert.match(pathOf(page), /^\/exam\/papers\/\d+$/);
    // The editor replaced the JSON textarea with fields.
    await page.locator('#editor [data-path="sections[0].items[0].prompt.text"]').waitFor();
    assert.equal(await page.locator('textarea#doc').isVisible(), false);
    await page.locator('#editor input[data-path="title"]').fill('端到端测试试卷（改）');
    // Remove the correct option of the first item: saved as a draft with a problem.
    await page.locator('#editor input[data-path="sections[0].items[0].answer"]').fill('');
    await submit(page.locator('#paper-form'));
    assert.match(await page.locator('h1').innerText(), /端到端测试试卷（改）/);
    assert.match(await page.locator('[data-testid="problems"]').innerText(), /sections\[0\]\.items\[0\]\.answer/);
    const err = page.locator('#editor .ed-field.bad input[data-path="sections[0].items[0].answer"]');
    assert.equal(await err.count(), 1, 'the problem is shown at its field');
    await shot(page, 'exam-editor.png');
    // Fix it, save, and the problem is gone.
    await page.locator('#editor input[data-path="sections[0].items[0].answer"]').fill('2');
    await submit(page.locator('#paper-form'));
    assert.equal(await page.locator('[data-testid="problems"]').count(), 0);
  });

  step('preview the demo paper: a spoken item with recording, no going back', async () => {
    await go(page, '/exam/papers');
    await follow(page.locator('[data-testid="papers"] tr', { hasText: '2027-ZK-DEMO-A' }).getByRole('link', { name: '预览' }));
    await page.locator('[data-testid="pv-start"]').click();
    // Skip ahead to the listen-and-answer item (section 2, no going back).
    for (let i = 0; i < 30; i++) {
      const item = page.locator('[data-testid="pv-item"]');
      if (await item.count() && /s2i1/.test(await item.innerText())) break;
      await page.locator('[data-testid="pv-next"]').click();
    }
    assert.match(await page.locator('[data-testid="pv-item"]').innerText(), /s2i1/);
    assert.equal(await page.locator('[data-testid="pv-back"]').isDisabled(), true, 'no going back in a no_back section');
    // Listening (the prompt audio plays), then preparation, then the answer.
    assert.match(await page.locator('[data-testid="pv-phase"]').innerText(), /正在播放/);
    await page.locator('[data-testid="pv-next"]').click();
    assert.match(await page.locator('[data-testid="pv-phase"]').innerText(), /准备/);
    await page.locator('[data-testid="pv-next"]').click();
    await page.locator('.rec').waitFor();
    assert.match(await page.locator('[data-testid="pv-phase"]').innerText(), /作答/);
    await page.waitForTimeout(2500);
    await page.locator('[data-testid="pv-next"]').click();
    const rec = page.locator('[data-testid="pv-recording"]');
    await rec.waitFor();
    const blobURL = await rec.getAttribute('src');
    assert.match(blobURL, /^blob:/, 'the recording stays in the browser');
    const size = Number(await rec.getAttribute('data-bytes'));
    assert.ok(size > 1000, `recording of ${size} bytes`);
    await shot(page, 'exam-preview.png');
  });
});
