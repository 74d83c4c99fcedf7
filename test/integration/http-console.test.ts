/**
 * The console and the docs page in a real browser: Debian's chromium driven by
 * playwright-core (never a browser download) against a real mesh. It runs a
 * recommendation, sends an event from the page, checks the page changed, and saves
 * screenshots under test-output/http-console/ (or $TEST_OUTPUT_DIR/http-console/).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadArtifacts } from '@recsys/core';
import { REPO_ROOT } from '@recsys/local';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { testArtifactsRoot } from '../support/helpers';
import { useMesh } from '../support/mesh';

jest.setTimeout(120_000);

const CHROMIUM = '/usr/bin/chromium';
const OUT = path.join(process.env.TEST_OUTPUT_DIR ?? path.join(REPO_ROOT, 'test-output'), 'http-console');
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const mesh = useMesh({ env: { LOG_LEVEL: 'warn' } });
let context: BrowserContext;
let page: Page;
let profile: string;
let user: string;
/** Requests the page made to anywhere but the gateway (none allowed: no CDN). */
const foreign: string[] = [];
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)`);
  fs.mkdirSync(OUT, { recursive: true });
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'recsys-chromium-'));
  // A fresh profile (--user-data-dir) per run; headless is playwright's --headless.
  context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  const base = `http://${mesh.mesh.gatewayHttpAddress}`;
  page.on('request', (r) => {
    if (!r.url().startsWith(base) && !r.url().startsWith('data:')) foreign.push(r.url());
  });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  const a = loadArtifacts(testArtifactsRoot(), ['userIds', 'userHistory']);
  user = a.userIds.find((u) => (a.userHistory.get(u)?.length ?? 0) >= 5) as string;
});

afterAll(async () => {
  await context?.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

const base = (): string => `http://${mesh.mesh.gatewayHttpAddress}`;
/** An element as the page scripts see it (the tests compile without the DOM types). */
type El = { dataset: Record<string, string | undefined>; getBoundingClientRect(): { width: number } };
const recommendedIds = (): Promise<string[]> => page.$$eval('#recs tbody tr', (rows) => rows.map((r) => (r as unknown as El).dataset.item ?? ''));

it('/docs renders Swagger UI over /openapi.json with every operation', async () => {
  await page.goto(`${base()}/docs/`);
  await page.waitForSelector('.opblock-summary-path', { timeout: 30_000 });
  const paths = await page.$$eval('.opblock-summary-path', (els) => els.map((e) => e.textContent?.replace(/\u200b/g, '').trim()));
  expect(paths).toEqual(expect.arrayContaining(['/v1/recommendations', '/v1/users/{user_id}/recommendations', '/v1/events', '/v1/feature-views', '/v1/users/{user_id}/context']));
  expect(await page.textContent('body')).toContain('Recommend returns the k best items for a user.');
  await page.screenshot({ path: path.join(OUT, 'docs.png'), fullPage: false });
});

it('/console runs a recommendation, shows history, timings and scores, and a click changes the next one', async () => {
  await page.goto(`${base()}/console/`);
  await page.fill('#user', user);
  await page.click('#go');
  await page.waitForSelector('body[data-state="ready"]');
  const first = await recommendedIds();
  expect(first).toHaveLength(10);
  expect(await page.$$eval('#history li', (l) => l.length)).toBeGreaterThanOrEqual(5);
  const stages = await page.$$eval('#timings .row', (rows) => rows.map((r) => (r as unknown as El).dataset.stage));
  expect(stages).toEqual(['STAGE_USER_CONTEXT', 'STAGE_CANDIDATES', 'STAGE_ITEM_FEATURES', 'STAGE_RANKING', 'STAGE_BUSINESS_RULES']);
  const widths = await page.$$eval('#timings .bar', (bars) => bars.map((b) => (b as unknown as El).getBoundingClientRect().width));
  expect(Math.max(...widths)).toBeGreaterThan(50);
  const scores = await page.$$eval('#recs td.score', (tds) => tds.map((t) => Number(t.textContent)));
  expect(scores.every((s) => Number.isFinite(s))).toBe(true);
  expect(scores).toEqual([...scores].sort((x, y) => y - x));
  await page.screenshot({ path: path.join(OUT, 'console.png'), fullPage: true });

  // Click the top item: it becomes seen (excluded) and the history shows it first.
  const clicked = first[0] as string;
  await page.evaluate("document.body.dataset.state = 'sending'");
  await page.click(`#recs tbody tr:first-child button.send-click`);
  await page.waitForSelector('body[data-state="ready"]');
  const second = await recommendedIds();
  expect(second).not.toContain(clicked);
  expect(second).toHaveLength(10);
  expect(await page.textContent('#history li:first-child')).toBe(clicked);
  expect(await page.isVisible('#change')).toBe(true);
  // The click also feeds item-to-item retrieval (recent items), so more than that item may change.
  const change = /^(\d+) new, (\d+) dropped \(([^)]*)\), (\d+) moved$/.exec((await page.textContent('#change')) ?? '');
  expect(change).not.toBeNull();
  const [, added, dropped, droppedIds] = change as RegExpExecArray;
  expect(Number(added)).toBeGreaterThanOrEqual(1);
  expect(added).toBe(dropped);
  expect((droppedIds as string).split(', ')).toContain(clicked);
  expect(await page.$$eval('#recs td.new', (n) => n.length)).toBe(Number(added));
  expect(second.filter((id) => !first.includes(id))).toHaveLength(Number(added));
  await page.screenshot({ path: path.join(OUT, 'console-after-click.png'), fullPage: true });
  expect(fs.statSync(path.join(OUT, 'console-after-click.png')).size).toBeGreaterThan(10_000);
});

it('escapes what comes from data and shows errors from the API', async () => {
  // A hostile item id in the user's history (events take any 1–128 byte id) and as the user id.
  const hostile = '<img src=x onerror="window.__pwned=1">';
  const res = await fetch(`${base()}/v1/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ events: [{ eventId: 'xss-1', userId: hostile, itemId: hostile, eventType: 'view' }] }),
  });
  expect(res.status).toBe(200);
  await page.goto(`${base()}/console/?user=${encodeURIComponent(hostile)}`);
  await page.waitForSelector('body[data-state="ready"]');
  expect(await page.textContent('#history li:first-child')).toBe(hostile);
  expect(await page.evaluate('window.__pwned')).toBeUndefined();
  expect(await page.$$eval('img', (i) => i.length)).toBe(0);
  expect(await page.$$eval('#recs tbody tr', (r) => r.length)).toBe(10);
  await page.goto(`${base()}/console/?user=${'x'.repeat(129)}`);
  await page.waitForSelector('body[data-state="error"]');
  expect(await page.textContent('#status')).toContain('user_id:');
  expect(foreign).toEqual([]);
  expect(pageErrors).toEqual([]);
});
