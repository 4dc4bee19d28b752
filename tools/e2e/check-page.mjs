// Loads one page of the CMS server in headless Chromium (Debian's /usr/bin/chromium, or
// $CHROMIUM) and prints, as one line of JSON, what a visitor would see of its hero section:
//
//   node check-page.mjs URL [SCREENSHOT.png]
//   {"status":200,"title":"…","h1":"…","image":{"src":"…","complete":true,"naturalWidth":1600,…}}
//
// Exit status 0 when the page loaded (whatever it shows: the caller judges), 1 when the browser
// could not load it at all (the reason on stderr).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [url, screenshot] = process.argv.slice(2);
if (!url) {
  console.error('usage: node check-page.mjs URL [SCREENSHOT.png]');
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), 'cms-e2e-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    chromiumSandbox: false,
    timeout: 60_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const response = await page.goto(url, { waitUntil: 'load', timeout: 30_000 });
  const seen = await page.evaluate(async () => {
    const hero = document.querySelector('section.hero');
    const h1 = hero?.querySelector('h1') ?? document.querySelector('h1');
    const img = hero?.querySelector('img');
    if (img && !img.complete) {
      await new Promise((resolve) => {
        img.addEventListener('load', resolve, { once: true });
        img.addEventListener('error', resolve, { once: true });
      });
    }
    return {
      title: document.title,
      lang: document.documentElement.lang,
      h1: h1 ? h1.textContent.trim() : null,
      image: img
        ? {
            src: img.getAttribute('src'),
            currentSrc: img.currentSrc,
            alt: img.alt,
            complete: img.complete,
            naturalWidth: img.naturalWidth,
            naturalHeight: img.naturalHeight,
          }
        : null,
    };
  });
  if (screenshot) {
    await page.screenshot({ path: screenshot, fullPage: true });
  }
  console.log(JSON.stringify({ status: response ? response.status() : null, ...seen }));
} catch (e) {
  console.error(`could not load ${url} in Chromium: ${e.message}`);
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
