// Browser walk through the identity pages, as the bureau's administrator and
// then as a teacher they create. Run through e2e/run, which starts a demo
// server and sets JNEDU_BASE_URL.
//
// The steps share one browser and one signed-in page and run in order; once
// a step fails the later ones are skipped (they depend on it) and a
// screenshot of the failing page is saved as FAIL-portal-<step>.png (see
// steps in lib.mjs).
import { after, before, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEMO_PASSWORD, PHONE, go, launchBrowser, newContext, pathOf, requireEnv, runSuffix, shot, signIn, steps, submit,
} from './lib.mjs';

requireEnv('JNEDU_BASE_URL');

const suffix = runSuffix().toUpperCase();
const school = {
  code: `E2E-${suffix}`,
  name: `济南市测试实验学校${suffix}`,
  nameEN: `Jinan Test School ${suffix}`,
};
const teacher = {
  // No "_" in it: see the todo step about searching for "_" below.
  username: `e2e-${suffix.toLowerCase()}`,
  name: '韩梅梅',
  email: `e2e-${suffix.toLowerCase()}@example.edu.cn`,
  phone: '13800138000',
  initial: 'Chushi2026x',
  changed: 'Xinmima-2026q',
};

let browser;
let context;
let page;
const { step, watch } = steps('portal');

async function text(selector) {
  return (await page.locator(selector).innerText()).trim();
}

async function tiles() {
  return page.locator('a.tile').evaluateAll((els) => els.map((e) => e.getAttribute('data-tile')));
}

describe('portal: admin creates a school and a teacher; the teacher signs in', () => {
  before(async () => {
    browser = await launchBrowser();
    context = await newContext(browser);
    page = watch(await context.newPage());
  });

  after(async () => {
    await browser?.close();
  });

  step('the login page is in Chinese and refuses a wrong password', async () => {
    const res = await go(page, '/');
    assert.equal(res.status(), 200);
    assert.equal(pathOf(page), '/login', 'a visitor is sent to the login page');
    assert.equal(await page.getAttribute('html', 'lang'), 'zh-CN');
    assert.equal(await text('main h1'), '登录济南教育信息化平台');
    await shot(page, '01-login.png');

    const form = page.locator('form[action="/login"]');
    await form.locator('#username').fill('admin');
    await form.locator('#password').fill('Wrong-password-1');
    await submit(form);
    assert.equal(pathOf(page), '/login');
    assert.match(await text('.alert'), /用户名或密码不正确/);
    assert.equal(await form.locator('#username').inputValue(), 'admin', 'the user name is kept');
    assert.equal(await form.locator('#password').inputValue(), '', 'the password is not echoed');
    await shot(page, '02-login-wrong-password.png');
  });

  step('admin signs in and sees the Chinese portal', async () => {
    await signIn(page, 'admin', DEMO_PASSWORD);
    assert.equal(pathOf(page), '/');
    assert.match(await text('main h1'), /您好，王建国/);
    assert.match(await text('[data-testid="me"]'), /王建国/);
    assert.equal(await text('a.tile[data-tile="/orgs"] h3'), '组织机构');
    assert.equal(await text('a.tile[data-tile="/users"] h3'), '用户管理');
    const have = await tiles();
    for (const t of ['/orgs', '/users', '/users/import', '/audit', '/account', '/account/tokens']) {
      assert.ok(have.includes(t), `admin has the ${t} tile (has ${have})`);
    }
    assert.ok((await page.locator('[data-testid="role"]').allInnerTexts()).includes('平台管理员'));
    await shot(page, '03-admin-portal.png');
  });

  let orgID;
  step('admin creates a school under 济南市教育局', async () => {
    const res = await go(page, '/orgs/new');
    assert.equal(res.status(), 200);
    const form = page.locator('form[action="/orgs"]');
    const parent = await form.locator('#parent_id option').evaluateAll((opts) => {
      const o = opts.find((x) => x.textContent.includes('济南市教育局'));
      return o && o.value;
    });
    assert.ok(parent, '济南市教育局 is offered as a parent');
    await form.locator('#parent_id').selectOption(parent);
    await form.locator('#kind').selectOption('school');
    await form.locator('#code').fill(school.code);
    await form.locator('#name').fill(school.name);
    await form.locator('#name_en').fill(school.nameEN);
    await shot(page, '04-org-new.png');
    await submit(form);

    const m = pathOf(page).match(/^\/orgs\/(\d+)$/);
    assert.ok(m, `after creating, the org page is shown (at ${page.url()})`);
    orgID = m[1];
    assert.match(await text('.flash[role="status"]'), /机构已创建/);
    const body = await text('main');
    assert.ok(body.includes(school.name), 'the page shows the name');
    assert.ok(body.includes(school.code), 'the page shows the code');
    await shot(page, '05-org-created.png');
  });

  step('admin creates a teacher in that school', async () => {
    await go(page, '/users/new');
    const form = page.locator('form[action="/users"]');
    await form.locator('#username').fill(teacher.username);
    await form.locator('#display_name').fill(teacher.name);
    await form.locator('#org_id').selectOption(orgID);
    await form.locator('input[name="roles"][value="teacher"]').check();
    await form.locator('#email').fill(teacher.email);
    await form.locator('#phone').fill(teacher.phone);
    await form.locator('#locale').selectOption('zh-CN');
    await form.locator('#password').fill(teacher.initial);
    await shot(page, '06-user-new.png');
    await submit(form);

    assert.match(pathOf(page), /^\/users\/\d+$/, `after creating, the user page is shown (at ${page.url()})`);
    assert.match(await text('.flash[role="status"]'), /用户已创建/);
    assert.equal(await page.locator('#display_name').inputValue(), teacher.name);
    await shot(page, '07-user-created.png');
  });

  step('the new teacher appears in /users', async () => {
    await go(page, `/users?q=${encodeURIComponent(teacher.username)}`);
    const row = page.locator('table[data-testid="users"] tbody tr', { hasText: teacher.username });
    await row.waitFor();
    const cells = await row.locator('td').allInnerTexts();
    assert.equal(cells[0].trim(), teacher.name);
    assert.equal(cells[1].trim(), teacher.username);
    assert.equal(cells[2].trim(), school.name);
    assert.match(cells[3], /教师/);
    assert.match(cells[4], /待改密码/, 'the status says the password must be changed');
    await shot(page, '08-users-list.png');
  });

  // "_" and "%" in a search are literal characters, not wildcards.
  step('searching /users for a user name with "_" finds exactly it', async () => {
    await go(page, '/users?q=school_admin');
    const names = (await page.locator('table[data-testid="users"] tbody tr td:nth-child(2)').allInnerTexts()).map((s) => s.trim());
    assert.deepEqual(names, ['school_admin']);
    await go(page, '/users?q=' + encodeURIComponent('%'));
    assert.equal(await page.locator('table[data-testid="users"]').count(), 0, '"%" matched users: it was taken as a wildcard');
  });

  step('admin signs out', async () => {
    const form = page.locator('header form[action="/logout"]');
    assert.equal((await form.locator('button').innerText()).trim(), '退出登录');
    await submit(form);
    assert.equal(pathOf(page), '/login');
    assert.match(await text('.flash[role="status"]'), /您已安全退出/);
    await shot(page, '09-signed-out.png');
    // The session is gone: the portal sends us back to the login page.
    await go(page, '/');
    assert.equal(pathOf(page), '/login');
  });

  step('the teacher must change the initial password first', async () => {
    await signIn(page, teacher.username, teacher.initial);
    assert.equal(pathOf(page), '/account/password', 'sent to the password change page');
    assert.match(await text('[data-testid="must-change"]'), /请先设置新密码/);
    await shot(page, '10-password-forced.png');

    // Until then, other pages send the teacher back here.
    await go(page, '/');
    assert.equal(pathOf(page), '/account/password', 'the portal is closed before the change');

    const form = page.locator('form[action="/account/password"]');
    await form.locator('#old_password').fill(teacher.initial);
    await form.locator('#password').fill(teacher.changed);
    await form.locator('#password2').fill(teacher.changed);
    await submit(form);
    assert.equal(pathOf(page), '/', `after the change, the portal is shown (at ${page.url()})`);
    assert.match(await text('.flash[role="status"]'), /密码已修改/);
  });

  step('the teacher portal shows only what a teacher may use', async () => {
    assert.match(await text('main h1'), new RegExp(`您好，${teacher.name}`));
    assert.match(await text('[data-testid="me"]'), new RegExp(`${teacher.name}.*${school.name}`));
    assert.deepEqual(await page.locator('[data-testid="role"]').allInnerTexts(), ['教师']);
    const have = await tiles();
    assert.ok(have.includes('/account'), `the /account tile is shown (has ${have})`);
    assert.ok(have.includes('/account/tokens'), `the /account/tokens tile is shown (has ${have})`);
    for (const t of ['/users', '/orgs', '/audit', '/users/import']) {
      assert.ok(!have.includes(t), `no ${t} tile for a teacher (has ${have})`);
    }
    assert.equal(await text('a.tile[data-tile="/account"] h3'), '个人资料');
    await shot(page, '11-teacher-portal.png');

    // The same portal on a phone, with the same session.
    const phone = await newContext(browser, {
      viewport: PHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 2, storageState: await context.storageState(),
    });
    try {
      const p = await phone.newPage();
      await go(p, '/');
      assert.equal(pathOf(p), '/');
      await p.locator('a.tile[data-tile="/account"]').waitFor();
      const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `no sideways scrolling on a phone (page is ${overflow}px too wide)`);
      await shot(p, '12-teacher-portal-phone.png');
    } finally {
      await phone.close();
    }
  });

  step('the teacher gets the 403 page at /users', async () => {
    const res = await go(page, '/users');
    assert.equal(res.status(), 403);
    assert.equal(pathOf(page), '/users');
    assert.equal(await text('[data-testid="error-message"]'), '您没有权限进行此操作。');
    assert.match(await text('main h1'), /出错了/);
    await shot(page, '13-forbidden.png');
  });

  step('the teacher switches to English', async () => {
    await go(page, '/?lang=en');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.match(await page.title(), /^Home\b/);
    assert.match(await text('main h1'), new RegExp(`Hello, ${teacher.name}`));
    assert.equal(await text('a.tile[data-tile="/account"] h3'), 'My profile');
    assert.ok((await page.locator('.sidenav a').allInnerTexts()).map((s) => s.trim()).includes('Home'), 'the menu has Home');
    assert.equal(await text('header a.lang'), '中文', 'the switch now offers Chinese');
    assert.equal((await page.locator('header form[action="/logout"] button').innerText()).trim(), 'Sign out');
    await shot(page, '14-teacher-portal-en.png');

    // The choice sticks without ?lang.
    await go(page, '/account');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.match(await page.title(), /^My profile\b/);
  });
});
