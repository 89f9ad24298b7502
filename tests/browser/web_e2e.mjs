// The web app end to end in headless Chromium, as a person uses it: sign up, upload a clip,
// wait for it to be ready, play, switch quality, change speed, mark with M, write a note with N,
// export Markdown, reload and resume. Prints one JSON report; exits 1 on the first failure.
//
//   node web_e2e.mjs BASE CLIP OUT_DIR
//
// BASE is a running `lectern serve`; ADMIN_LOGIN / ADMIN_PASSWORD (environment) name an admin,
// who makes the new account a creator (sign-up makes viewers). Screenshots go to OUT_DIR.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { launchChromium } from './chromium.mjs';

const [base, clip, out] = process.argv.slice(2);
if (!base || !clip || !out) {
  console.error('usage: node web_e2e.mjs BASE CLIP OUT_DIR');
  process.exit(2);
}
mkdirSync(out, { recursive: true });

const report = { steps: [], consoleErrors: [], pageErrors: [] };
const step = (name, data = {}) => report.steps.push({ name, ...data });
function check(condition, message) {
  if (!condition) throw new Error(message);
}

/** `hh:mm:ss`, as the exports write times. */
function hms(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (n) => String(n).padStart(2, '0');
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

async function asAdmin() {
  const r = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ login: process.env.ADMIN_LOGIN, password: process.env.ADMIN_PASSWORD }),
  });
  check(r.ok, `admin login: ${r.status}`);
  return (await r.json()).access_token;
}

const browser = await launchChromium();

try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('console', (m) => {
    if (m.type() === 'error') report.consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => report.pageErrors.push(String(e)));
  const video = page.locator('video');

  // Sign up (a viewer), then an admin makes the account a creator.
  const username = `learner${Date.now() % 100000}`;
  await page.goto(`${base}/signup`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Email').fill(`${username}@example.org`);
  await page.getByLabel('Password').fill('a long enough password');
  await page.getByRole('button', { name: 'Sign up' }).click();
  await page.getByTestId('signed-in-as').filter({ hasText: username }).waitFor();
  await page.waitForURL(`${base}/`); // the library, once signed in
  step('signed up', { username });

  const admin = await asAdmin();
  const promoted = await fetch(`${base}/api/v1/users/${username}`, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ role: 'creator' }),
  });
  check(promoted.ok, `promotion: ${promoted.status}`);

  // Upload: the page reads the new role, takes the file, shows progress, then processing.
  await page.getByRole('link', { name: 'My videos' }).click();
  await page.goto(`${base}/upload`);
  await page.locator('#file').setInputFiles(clip);
  await page.getByTestId('chosen').waitFor();
  await page.getByLabel('Title').fill('Week 1: Waves');
  await page.getByLabel('Tags').fill('physics, week 1');
  // A slow line, so the upload can be paused halfway; then the page is reloaded.
  const cdp = await context.newCDPSession(page);
  const line = (uploadThroughput) =>
    cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput });
  await line(128 * 1024);
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  const percent = () => page.getByTestId('upload-percent').textContent().then((t) => parseInt(t, 10));
  await page.waitForFunction(() => parseInt(document.querySelector('[data-testid="upload-percent"]')?.textContent, 10) >= 20);
  await page.getByRole('button', { name: 'Pause' }).click();
  await page.getByRole('button', { name: 'Resume' }).waitFor();
  const pausedPercent = await percent();
  check(pausedPercent < 100, 'the upload finished before it could be paused');
  const uploadUrl = await page.evaluate(
    () => Object.entries(localStorage).filter(([k]) => k.startsWith('tus::')).map(([, v]) => JSON.parse(v).uploadUrl)[0],
  );
  const token0 = await page.evaluate(() => JSON.parse(localStorage.getItem('lectern.session')).access);
  const head = await fetch(new URL(uploadUrl, base), {
    method: 'HEAD',
    headers: { Authorization: `Bearer ${token0}`, 'Tus-Resumable': '1.0.0' },
  });
  const storedOffset = Number(head.headers.get('upload-offset'));
  check(head.ok && storedOffset > 0, `the server kept nothing of the paused upload (${head.status}, ${storedOffset})`);
  await page.reload();
  await page.getByTestId('unfinished').waitFor();
  await line(-1);
  await page.locator('#file').setInputFiles(clip);
  await page.getByRole('button', { name: 'Upload', exact: true }).click();
  const uploadStarted = Date.now();
  const outcome = page.locator('[data-testid="ready"], [data-testid="failed"], .panel .error');
  await outcome.first().waitFor({ timeout: 180_000 });
  check((await page.getByTestId('ready').count()) === 1, `not ready: ${await outcome.first().textContent()}`);
  step('uploaded and ready', { pausedPercent, storedOffset, seconds: (Date.now() - uploadStarted) / 1000 });

  // Watch: plays, and every rendition can be chosen.
  await page.getByRole('link', { name: 'Watch it' }).click();
  await page.waitForURL(/\/watch\//);
  const videoId = new URL(page.url()).pathname.split('/').pop();
  // The paused upload itself became the video (it was resumed, not started again).
  const finished = await fetch(new URL(uploadUrl, base), {
    method: 'HEAD',
    headers: { Authorization: `Bearer ${token0}`, 'Tus-Resumable': '1.0.0' },
  });
  check(finished.headers.get('lectern-video-id') === videoId, 'the video did not come from the resumed upload');
  await page.waitForFunction(() => document.querySelectorAll('#quality option').length > 1, null, { timeout: 30_000 });
  const options = await page.locator('#quality option').evaluateAll((os) =>
    os.map((o) => ({ value: o.value, label: o.textContent.trim() })),
  );
  await page.getByTestId('play').click();
  await page.waitForFunction(() => document.querySelector('video').currentTime > 0.5, null, { timeout: 30_000 });
  step('playing', { options });

  const heights = [];
  for (const o of options.filter((o) => o.value !== '-1')) {
    const want = parseInt(o.label, 10);
    await page.selectOption('#quality', o.value);
    await page.waitForFunction((h) => document.querySelector('video').videoHeight === h, want, { timeout: 30_000 });
    heights.push(await video.evaluate((v) => v.videoHeight));
  }
  check(new Set(heights).size >= 2, `the picture height did not change across renditions: ${heights}`);
  await page.selectOption('#quality', '-1');
  step('quality switched', { heights });

  await page.selectOption('#speed', '1.5');
  const rate = await video.evaluate((v) => v.playbackRate);
  check(rate === 1.5, `playback rate after choosing 1.5×: ${rate}`);
  await page.selectOption('#speed', '1');
  step('speed changed', { rate });

  // DASH on request: dash.js takes over at the same place and its renditions can be chosen.
  await page.selectOption('#format', 'dash');
  await page.getByText('playing with dash').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('#quality option').length > 1, null, { timeout: 30_000 });
  const now = await video.evaluate((v) => v.videoHeight);
  const other = (await page.locator('#quality option').evaluateAll((os) => os.map((o) => ({ value: o.value, label: o.textContent.trim() }))))
    .find((o) => o.value !== '-1' && parseInt(o.label, 10) !== now);
  await page.selectOption('#quality', other.value);
  const dashHeight = parseInt(other.label, 10);
  await page.waitForFunction((h) => document.querySelector('video').videoHeight === h, dashHeight, { timeout: 30_000 });
  await page.selectOption('#format', 'hls');
  await page.getByText('playing with hls').waitFor();
  await page.waitForFunction(() => !document.querySelector('video').paused, null, { timeout: 20_000 });
  step('dash played', { from: now, to: dashHeight });

  // Keys: space pauses and plays, → jumps 5 s ahead.
  await page.locator('h1').first().click();
  await page.keyboard.press(' ');
  await page.waitForFunction(() => document.querySelector('video').paused);
  const before = await video.evaluate((v) => v.currentTime);
  await page.keyboard.press('ArrowRight');
  await page
    .waitForFunction((b) => Math.abs(document.querySelector('video').currentTime - (b + 5)) < 1, before, { timeout: 5_000 })
    .catch(() => {});
  const after = await video.evaluate((v) => v.currentTime);
  check(after - before > 4 && after - before < 6, `→ moved from ${before} to ${after}`);
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press(' ');
  await page.waitForFunction(() => !document.querySelector('video').paused);
  step('keys', { before, after });

  // M marks this moment: a marker appears on the progress bar.
  await page.locator('h1').first().click(); // keyboard focus on the page, not a form field
  await page.waitForFunction(() => document.querySelector('video').currentTime > 1.2, null, { timeout: 20_000 });
  await page.keyboard.press('m');
  const marker = page.locator('.timeline .marker');
  await marker.first().waitFor();
  const track = await page.locator('#timeline').boundingBox();
  const dot = await marker.first().boundingBox();
  check(
    dot && track && dot.x >= track.x - 4 && dot.x + dot.width <= track.x + track.width + 4,
    'the mark is not on the progress bar',
  );
  const markLabel = await marker.first().getAttribute('aria-label');
  step('marked with M', { markLabel });

  // The mark gets a category, text and an annotation; hovering shows it; filters hide it.
  const item = page.locator('[data-mark-item]').first();
  await item.getByRole('button', { name: 'Edit' }).click();
  await item.getByLabel('Category').fill('question');
  await item.getByLabel('Text').fill('Why does the ball slow down?');
  await item.getByRole('button', { name: 'Save' }).click();
  await page.locator('.timeline .marker[aria-label*="question: Why does the ball slow down?"]').waitFor();
  await item.getByPlaceholder('Add an annotation').fill('See chapter 2');
  await item.getByRole('button', { name: 'Add', exact: true }).click();
  await item.locator('.annotations').getByText('See chapter 2').waitFor();
  await marker.first().hover();
  const tip = await marker.first().locator('.tip').innerText();
  check(tip.includes('Why does the ball slow down?'), `hover shows: ${tip}`);
  await page.getByRole('button', { name: /^Add a mark at/ }).click();
  await page.getByRole('button', { name: /^Add at/ }).click();
  await page.waitForFunction(() => document.querySelectorAll('.timeline .marker').length === 2);
  await page.getByRole('group', { name: 'Show categories' }).getByRole('button', { name: 'question' }).click();
  await page.waitForFunction(() => document.querySelectorAll('.timeline .marker').length === 1);
  await page.getByRole('group', { name: 'Show categories' }).getByRole('button', { name: 'question' }).click();
  await page.waitForFunction(() => document.querySelectorAll('.timeline .marker').length === 2);
  step('marks edited, annotated, filtered', { tip });

  // A comment below the video.
  await page.getByLabel('Add a comment').fill('Clear explanation, thanks!');
  await page.getByRole('button', { name: 'Comment', exact: true }).click();
  await page.locator('.comment').getByText('Clear explanation, thanks!').waitFor();
  step('commented');

  // N opens a note at this moment, ready to type.
  await page.locator('h1').first().click();
  await page.keyboard.press('n');
  const noteBox = page.locator('#note-text');
  await noteBox.waitFor();
  check(await noteBox.evaluate((el) => el === document.activeElement), 'N did not focus the note');
  await page.keyboard.type('Remember **the wave equation** <script>alert(1)</script>');
  await page.getByRole('button', { name: 'Save note' }).click();
  const rendered = page.locator('[data-note-item] .md');
  await rendered.first().waitFor();
  const bold = await rendered.first().locator('strong').textContent();
  const scripts = await rendered.first().locator('script').count();
  check(bold === 'the wave equation' && scripts === 0, 'the note was not rendered as safe Markdown');
  step('note added with N');

  // Export Markdown: the file holds the mark and the note with their times.
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem('lectern.session')).access);
  const mine = async (what) =>
    (await fetch(`${base}/api/v1/videos/${videoId}/${what}`, { headers: { Authorization: `Bearer ${token}` } })).json();
  const [marks, notes] = [await mine('marks'), await mine('notes')];
  check(marks.length === 2 && notes.length === 1, `stored: ${marks.length} marks, ${notes.length} notes`);
  await page.getByRole('button', { name: /Export/ }).click();
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-format="md"]').click()]);
  const file = join(out, download.suggestedFilename());
  await download.saveAs(file);
  const markdown = readFileSync(file, 'utf8');
  check(markdown.includes(hms(marks[0].time)), `the export lacks the mark's time ${hms(marks[0].time)}`);
  for (const m of marks) {
    check(markdown.includes(hms(m.time)) && markdown.includes(m.category), `the export lacks the mark at ${m.time}`);
  }
  check(markdown.includes('Why does the ball slow down?') && markdown.includes('See chapter 2'), 'the export lacks the mark text');
  check(markdown.includes(hms(notes[0].time)), `the export lacks the note's time ${hms(notes[0].time)}`);
  check(markdown.includes('the wave equation'), 'the export lacks the note');
  step('exported Markdown', { file: download.suggestedFilename(), bytes: markdown.length });

  // Pause (the position is saved), reload, and playback resumes there.
  await page.waitForFunction(() => document.querySelector('video').currentTime > 3, null, { timeout: 20_000 });
  await page.getByTestId('play').click();
  const pausedAt = await video.evaluate((v) => v.currentTime);
  await page.waitForTimeout(500);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(out, 'watch-desktop.png') });
  await page.reload();
  await page.waitForFunction(
    (t) => {
      const v = document.querySelector('video');
      return v && v.readyState >= 1 && Math.abs(v.currentTime - t) < 1.5;
    },
    pausedAt,
    { timeout: 30_000 },
  );
  const resumedAt = await video.evaluate((v) => v.currentTime);
  step('resumed after reload', { pausedAt, resumedAt });

  // Screenshots: the library and the watch page on a desktop and at 375 px.
  await page.goto(`${base}/`);
  await page.locator('.card').first().waitFor();
  await page.locator('.card img').first().evaluate((img) => img.decode().catch(() => {}));
  await page.screenshot({ path: join(out, 'library-desktop.png') });
  await page.setViewportSize({ width: 375, height: 812 });
  await page.waitForTimeout(200);
  const libraryOverflow = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.screenshot({ path: join(out, 'library-375.png'), fullPage: true });
  await page.goto(`${base}/watch/${videoId}`);
  await page.waitForFunction(() => document.querySelector('video')?.readyState >= 1, null, { timeout: 30_000 });
  await page.locator('.timeline .marker').first().waitFor();
  const watchOverflow = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.screenshot({ path: join(out, 'watch-375.png'), fullPage: true });
  check(libraryOverflow <= 375 && watchOverflow <= 375, `wider than 375 px: ${libraryOverflow}, ${watchOverflow}`);
  step('screenshots', { libraryOverflow, watchOverflow });

  // A session that can no longer be renewed: sign in again, and land back where you were.
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.evaluate(() => {
    const s = JSON.parse(localStorage.getItem('lectern.session'));
    localStorage.setItem('lectern.session', JSON.stringify({ ...s, access: 'expired', refresh: 'spent' }));
  });
  await page.goto(`${base}/mine`);
  await page.waitForURL(/\/signin\?next=(%2F|\/)mine/);
  await page.getByText('Your session ended').waitFor();
  await page.getByLabel('Username or email').fill(username);
  await page.getByLabel('Password').fill('a long enough password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/mine$/);
  await page.locator(`[data-video="${videoId}"]`).waitFor();
  step('expired session: signed in again and returned');

  // My videos: edit the title, then delete the video (after confirming): its URLs answer 404.
  const row = page.locator(`[data-video="${videoId}"]`);
  await row.getByRole('button', { name: 'Edit' }).click();
  await row.getByLabel('Title').fill('Week 1: Waves (revised)');
  await row.getByRole('button', { name: 'Save' }).click();
  await row.getByRole('link', { name: 'Week 1: Waves (revised)' }).waitFor();
  await row.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
  await row.waitFor({ state: 'detached' });
  const gone = await fetch(`${base}/api/v1/videos/${videoId}`);
  check(gone.status === 404, `deleted video answers ${gone.status}`);
  step('edited and deleted');

  check(report.pageErrors.length === 0, `uncaught errors in the page: ${report.pageErrors.join('; ')}`);
  report.ok = true;
} catch (e) {
  try {
    const page = browser.contexts()[0]?.pages()[0];
    if (page) await page.screenshot({ path: join(out, 'failure.png'), fullPage: true });
  } catch {
    // no screenshot
  }
  report.failure = String(e?.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
process.exit(report.ok ? 0 : 1);
