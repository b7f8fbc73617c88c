// The browser side of `scripts/bench web` (scripts/bench_web.py starts the cluster, seeds the
// canvases and reads the RESULT lines printed here). Not a test: it measures, it asserts nothing.
//
// Frames are counted by a requestAnimationFrame loop in the page while input arrives at 60 Hz
// through the DevTools protocol (real mouse and wheel events).

import { chromium } from 'playwright-core';
import readline from 'node:readline';

const GW = process.env.BENCH_GATEWAY;
const SECONDS = Number(process.env.BENCH_SECONDS || 3);
const C1000 = process.env.BENCH_C1000;
const C5000 = process.env.BENCH_C5000;
const VSYNC = 1000 / 60;

const rl = readline.createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();
async function need(what) {
	console.log(`NEED ${what}`);
	await lines.next();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function result(name, data) {
	console.log(`RESULT ${name} ${JSON.stringify(data)}`);
}

async function meterStart(page) {
	await page.evaluate(() => {
		const m = { t: [], on: true };
		window.__meter = m;
		const tick = (ts) => {
			m.t.push(ts);
			if (m.on)
				requestAnimationFrame(tick);
		};
		requestAnimationFrame(tick);
	});
}

async function meterStop(page) {
	const t = await page.evaluate(() => {
		window.__meter.on = false;
		return window.__meter.t;
	});
	const dts = [];
	for (let i = 1; i < t.length; i++)
		dts.push(t[i] - t[i - 1]);
	const elapsed = t[t.length - 1] - t[0];
	let dropped = 0;
	for (const dt of dts) {
		if (dt > 1.5 * VSYNC)
			dropped += Math.round(dt / VSYNC) - 1;
	}
	const sorted = [...dts].sort((a, b) => a - b);
	return {
		fps: Math.round(((t.length - 1) / elapsed) * 1000 * 10) / 10,
		frames: t.length - 1,
		dropped,
		worst: Math.round(sorted[sorted.length - 1] * 10) / 10,
		p95: Math.round(sorted[Math.floor(sorted.length * 0.95)] * 10) / 10,
		seconds: Math.round(elapsed) / 1000,
	};
}

// Calls fn(i) every vsync for `seconds`, keeping to the schedule (input at 60 Hz).
async function at60(seconds, fn) {
	const n = Math.round(seconds * 60);
	const t0 = Date.now();
	for (let i = 0; i < n; i++) {
		await fn(i);
		const wait = t0 + (i + 1) * VSYNC - Date.now();
		if (wait > 0)
			await sleep(wait);
	}
}

async function openCanvas(page, id, count) {
	await page.goto(`${GW}/#/c/${id}`);
	await page.waitForFunction((n) => window.flowstate && window.flowstate.state().conn === 'live' &&
		window.flowstate.stats().nodes === n && window.flowstate.stats().mainDraws > 0, count, { timeout: 60000, polling: 'raf' });
	return page.evaluate(() => performance.now());
}

// Zooms to fit everything and waits until every node is built and the view is painted.
async function fit(page) {
	await page.locator('#board').focus();
	await page.keyboard.press('Shift+Digit1');
	await page.waitForFunction(() => window.flowstate.built() === window.flowstate.stats().nodes, null, { timeout: 120000 });
	await sleep(1500);
}

async function main() {
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		       '--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
	let page = await ctx.newPage();
	page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
	await page.goto(`${GW}/`);
	await page.fill('#auth-form input[name="email"]', process.env.BENCH_EMAIL);
	await page.fill('#auth-form input[name="password"]', process.env.BENCH_PASSWORD);
	await page.click('#auth-submit');
	await page.locator('#workspace-list').waitFor();

	// ---- 1,000 shapes
	await openCanvas(page, C1000, 1000);
	await fit(page);
	const box = await page.locator('#board').boundingBox();
	const shapes = await page.evaluate(() => Object.values(window.flowstate.snapshot().shapes));
	const target = shapes.find((s) => s.kind === 'rect' && s.x > 3000 && s.y > 1000);
	const c = await page.evaluate(([x, y]) => window.flowstate.toScreen(x, y), [target.x + target.w / 2, target.y + target.h / 2]);
	await page.mouse.move(c.x, c.y);
	await sleep(300);
	await meterStart(page);
	await page.mouse.down();
	await at60(SECONDS, (i) => page.mouse.move(c.x + 150 * Math.sin(i / 20), c.y + 100 * Math.sin(i / 13)));
	await page.mouse.up();
	const drag = await meterStop(page);
	drag.moved = (await page.evaluate((id) => window.flowstate.displayed(id), target.id)).x !== target.x;
	result('drag-1000', drag);
	await sleep(500);

	await page.keyboard.press('p');
	const p0 = { x: box.x + 300, y: box.y + 500 };
	await page.mouse.move(p0.x, p0.y);
	await sleep(300);
	await meterStart(page);
	await page.mouse.down();
	await at60(SECONDS, (i) => page.mouse.move(p0.x + (i * 4) % 800, p0.y + 60 * Math.sin(i / 4)));
	await page.mouse.up();
	result('draw-1000', await meterStop(page));
	await page.keyboard.press('v');
	await sleep(800);

	await page.mouse.move(box.x + 20, box.y + box.height - 20);
	await need('cursor-start');
	const drawsBefore = (await page.evaluate(() => window.flowstate.stats())).mainDraws;
	await meterStart(page);
	await sleep(SECONDS * 1000);
	const cur = await meterStop(page);
	cur.mainDraws = (await page.evaluate(() => window.flowstate.stats())).mainDraws - drawsBefore;
	cur.cursorShown = await page.locator('.remote-cursor').count();
	await need('cursor-stop');
	result('cursor-1000', cur);

	// ---- 5,000 shapes, in a new tab (a real navigation: the page's clock starts with it)
	await page.close();
	page = await ctx.newPage();
	page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
	const t = await openCanvas(page, C5000, 5000);
	const marks = await page.evaluate(() => Object.fromEntries(performance.getEntriesByType('mark')
		.filter((m) => m.name.startsWith('flowstate:')).map((m) => [m.name.slice(10), Math.round(m.startTime)])));
	result('open-5000', { ms: Math.round(t), firstPaintMs: Math.round(await page.evaluate(() => window.flowstate.stats().lastMainDrawMs)), marks });
	await fit(page);
	const mid = { x: box.x + box.width / 2, y: box.y + box.height / 2 };
	await page.mouse.move(mid.x, mid.y);
	await sleep(500);
	await meterStart(page);
	await at60(SECONDS, (i) => page.mouse.wheel(12 * Math.cos(i / 30), 12 * Math.sin(i / 30)));
	const pan = await meterStop(page);
	await sleep(400);
	pan.settlePaintMs = Math.round((await page.evaluate(() => window.flowstate.stats())).lastMainDrawMs);
	result('pan-5000', pan);

	await page.keyboard.down('Control');
	await meterStart(page);
	const half = Math.round(SECONDS * 30);
	await at60(SECONDS, (i) => page.mouse.wheel(0, i < half ? -6 : 6));
	const zoom = await meterStop(page);
	await page.keyboard.up('Control');
	await sleep(400);
	zoom.settlePaintMs = Math.round((await page.evaluate(() => window.flowstate.stats())).lastMainDrawMs);
	result('zoom-5000', zoom);

	// ---- offline / online
	await page.evaluate(() => {
		window.__conn = [];
		const el = document.querySelector('#conn');
		new MutationObserver(() => window.__conn.push([el.dataset.state, performance.now()]))
			.observe(el, { attributes: true, attributeFilter: ['data-state'] });
	});
	const t0 = await page.evaluate(() => performance.now());
	await ctx.setOffline(true);
	await page.locator('#conn[data-state="offline"]').waitFor();
	await sleep(500);
	const t1 = await page.evaluate(() => performance.now());
	await ctx.setOffline(false);
	await page.locator('#conn[data-state="live"]').waitFor({ timeout: 20000 });
	const states = await page.evaluate(() => window.__conn);
	const off = states.find(([s]) => s === 'offline');
	const on = states.find(([s, at]) => s === 'live' && at > t1);
	result('offline', { ms: Math.round(off[1] - t0) });
	result('online', { ms: Math.round(on[1] - t1) });

	await browser.close();
	rl.close();
}

await main();
