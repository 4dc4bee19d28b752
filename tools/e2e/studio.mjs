// Drives `cargo xtask studio` in headless Chromium (Debian's /usr/bin/chromium, or $CHROMIUM)
// through a seeded database, as a user would, and prints what it saw as one line of JSON:
//
//   node studio.mjs 'http://127.0.0.1:PORT/?token=…' SCREENSHOT.png
//
// 1. opens the printed URL (the token becomes a cookie; the page moves on to the table list);
// 2. opens `pages`; 3. filters slug = about; 4. opens that row and edits its name;
// 5. follows its site_id foreign key; 6. deletes the page `contact` after the confirmation;
// 7. runs a query in the SQL console; 8. takes a screenshot of the pages grid.
//
// Exit status 0 when every step ran (the caller judges what was seen), 1 when a step failed
// (the step and the reason on stderr).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NEW_NAME = 'About us <edited>';

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error('usage: node studio.mjs URL SCREENSHOT.png');
  process.exit(2);
}
const base = new URL(url).origin;

const profile = mkdtempSync(join(tmpdir(), 'cms-e2e-studio-'));
let context;
let step = 'launch';
const seen = { problems: [] };
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    chromiumSandbox: false,
    timeout: 60_000,
    viewport: { width: 1280, height: 800 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  // Script errors and content-security-policy violations are problems.
  page.on('pageerror', (e) => seen.problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') seen.problems.push(`console: ${m.text()}`); });
  const go = async (action) => { await Promise.all([page.waitForNavigation(), action()]); };

  step = 'open the printed URL';
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForURL((u) => u.pathname === '/' && !u.search.includes('token'));
  await page.waitForSelector('#tables');
  seen.signedInUrl = page.url();
  seen.tables = await page.$$eval('#tables tbody tr', (rows) => rows.map((r) => ({
    name: r.children[0].textContent.trim(), rows: r.children[2].textContent.trim(),
  })));

  step = 'open pages';
  await go(() => page.click('#tables a >> text="pages"'));
  await page.waitForSelector('#grid');
  seen.pagesRows = await page.$$eval('#grid tbody tr', (rows) => rows.length);

  step = 'filter';
  const bar = page.locator('form.filters .filter').last();
  await bar.locator('select[name=fc]').selectOption('slug');
  await bar.locator('select[name=fo]').selectOption('eq');
  await bar.locator('input[name=fv]').fill('about');
  await go(() => page.click('form.filters button[type=submit]'));
  seen.filteredSlugs = await page.$$eval('#grid tbody td[data-column=slug]', (tds) => tds.map((t) => t.textContent.trim()));

  step = 'edit a cell';
  await go(() => page.click('#grid tbody a.open'));
  await go(() => page.click('#record tr[data-column=name] td.edit a'));
  await page.fill('#edit [name=value]', NEW_NAME);
  await go(() => page.click('#edit button[type=submit]'));
  seen.savedNotice = (await page.textContent('p.notice')).trim();
  seen.savedName = (await page.textContent('#record tr[data-column=name] td.value')).trim();

  step = 'follow a foreign key';
  await go(() => page.click('#record tr[data-column=site_id] a.fk'));
  seen.fkUrl = page.url();
  seen.fkCrumbs = (await page.textContent('p.crumbs')).trim();
  seen.fkReferencing = await page.$$eval('#referencing li', (lis) => lis.map((li) => ({
    child: li.dataset.child, count: li.querySelector('.count').textContent.trim(),
  })));

  step = 'delete a row after the confirmation';
  await page.goto(`${base}/t/pages?fc=slug&fo=eq&fv=contact`);
  await page.check('#grid tbody input[name=k]');
  await go(() => page.click('#rows button.danger'));
  seen.confirmTitle = (await page.textContent('h1')).trim();
  seen.cascadeTotal = (await page.textContent('#cascade-total')).trim();
  seen.cascade = await page.$$eval('#consequences li', (lis) => lis.map((li) => ({
    table: li.dataset.table, rows: Number(li.dataset.rows), text: li.textContent.trim(),
  })));
  await go(() => page.click('#confirm button.danger'));
  seen.deletedNotice = (await page.textContent('p.notice')).trim();
  seen.afterDeleteUrl = page.url();

  step = 'run a query in the console';
  await go(() => page.click('header nav a >> text="SQL console"'));
  await page.fill('#console textarea[name=sql]', 'SELECT slug, name FROM pages ORDER BY slug');
  await go(() => page.click('#console button[type=submit]:not(.secondary)'));
  seen.timing = (await page.textContent('#timing')).trim();
  seen.consoleColumns = await page.$$eval('.result-grid thead th', (ths) => ths.map((t) => t.textContent.trim()));
  seen.consoleRows = await page.$$eval('.result-grid tbody tr', (rows) => rows.map((r) => [...r.children].map((td) => td.textContent.trim())));

  step = 'screenshot the pages grid';
  await page.goto(`${base}/t/pages`);
  await page.waitForSelector('#grid');
  await page.screenshot({ path: screenshot, fullPage: true });
  seen.screenshot = screenshot;

  console.log(JSON.stringify(seen));
} catch (e) {
  console.error(`studio end-to-end: step "${step}" failed: ${e.message}`);
  console.error(JSON.stringify(seen));
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
