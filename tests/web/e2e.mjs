// End-to-end test of the web client (gateway/www) in headless Chromium, through the gateway of
// a running cluster: two users in two pages collaborate on one canvas.
//
//   FLOWSTATE_TEST_GATEWAY_URL  the gateway (set by tests/web/cluster_run.py or
//                               scripts/cluster.py run)
//   FLOWSTATE_WEB_CONTROL_URL   optional (cluster_run.py): lets the test stop the node serving
//                               the canvas, to check that both pages reconnect and lose nothing
//   FLOWSTATE_WEB_SHOTS         screenshot prefix (default /tmp/flowstate-web)
//   CHROMIUM                    browser binary (default /usr/bin/chromium)
//
// Exits 0 when every step passed, 1 otherwise (with the failing step, page errors and the
// status lines of both pages).

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const GATEWAY = process.env.FLOWSTATE_TEST_GATEWAY_URL;
const CONTROL = process.env.FLOWSTATE_WEB_CONTROL_URL || '';
const SHOTS = process.env.FLOWSTATE_WEB_SHOTS || '/tmp/flowstate-web';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const T = 15000;

if (!GATEWAY) {
	console.error('e2e: FLOWSTATE_TEST_GATEWAY_URL is not set (run tests/web/run)');
	process.exit(2);
}

const started = Date.now();
const log = (msg) => console.log(`[web-e2e ${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
const pageErrors = [];
let frontPage = null;

// Input goes to the page in front: Chromium delivers it to a background tab only slowly (it
// waits for frames the tab does not produce). The other page stays a background tab, which
// also checks that a hidden tab keeps following the canvas.
async function on(page) {
	if (frontPage !== page) {
		await page.bringToFront();
		frontPage = page;
	}
	return page;
}

async function step(name, fn) {
	const t0 = Date.now();
	log(`step: ${name}`);
	try {
		await fn();
	} catch (e) {
		e.message = `step "${name}" failed: ${e.message}`;
		throw e;
	}
	log(`  ok (${Date.now() - t0} ms)`);
}

async function control(what) {
	const res = await fetch(CONTROL + what, { method: 'POST' });
	const body = await res.json();
	assert.equal(res.status, 200, `control ${what}: ${JSON.stringify(body)}`);
	return body;
}

// ---- page helpers -------------------------------------------------------------------------------

function watch(page, name) {
	page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() === 'error')
			log(`  (${name} console: ${m.text()})`);
	});
	page.on('dialog', (d) => {
		// Only the double-click text edit prompts, and the test answers it explicitly.
		if (!page.expectingDialog) {
			pageErrors.push(`${name}: unexpected dialog ${d.message()}`);
			d.dismiss();
		}
	});
}

async function register(page, email, password, name) {
	await on(page);
	await page.goto(GATEWAY + '/');
	await page.locator('#view-auth').waitFor({ state: 'visible' });
	await page.click('[data-auth-tab="register"]');
	await page.fill('#auth-form input[name="email"]', email);
	await page.fill('#auth-form input[name="password"]', password);
	await page.fill('#auth-form input[name="display_name"]', name);
	await page.click('#auth-submit');
	await page.locator('#view-home').waitFor({ state: 'visible', timeout: T });
	await page.locator('#whoami').filter({ hasText: email }).waitFor({ timeout: T });
}

async function waitLive(page) {
	await page.locator('#conn[data-state="live"]').waitFor({ timeout: T });
}

async function boardOrigin(page) {
	const box = await page.locator('#board').boundingBox();
	return { x: box.x, y: box.y };
}

// Drags with the mouse in canvas coordinates (the board is not panned in this test).
async function drag(page, from, to, steps = 12) {
	await on(page);
	const o = await boardOrigin(page);
	await page.mouse.move(o.x + from.x, o.y + from.y);
	await page.mouse.down();
	await page.mouse.move(o.x + to.x, o.y + to.y, { steps });
	await page.mouse.up();
}

const shapeSel = (id) => `#layer-shapes g[data-shape-id="${id}"]`;

// Resolves once the page renders shape `id` with the given attributes on its first child
// element (null: resolves once the shape is gone).
async function waitShape(page, id, attrs) {
	await page.waitForFunction(([sel, want]) => {
		const g = document.querySelector(sel);
		if (want === null)
			return !g;
		const el = g && g.firstElementChild;
		return !!el && Object.entries(want).every(([k, v]) => el.getAttribute(k) === String(v));
	}, [shapeSel(id), attrs], { timeout: T });
}

// The committed state of a page (not what is drawn: drags and pending creates are overlays).
async function snapshot(page) {
	return page.evaluate(() => window.flowstate.snapshot());
}

async function waitCommitted(page, id, pred, what) {
	try {
		await page.waitForFunction(([id, src]) => {
			const s = window.flowstate.snapshot();
			const shape = s && s.shapes[id];
			return new Function('shape', `return (${src})`)(shape);
		}, [id, pred], { timeout: T });
	} catch (e) {
		throw new Error(`${what}: ${e.message}`);
	}
}

async function statusText(page) {
	return (await page.locator('#status').textContent()) || '';
}

async function waitStatus(page, re) {
	await page.waitForFunction((src) => new RegExp(src).test(document.querySelector('#status').textContent),
				  re.source, { timeout: T });
}

function canonical(v) {
	if (Array.isArray(v))
		return `[${v.map(canonical).join(',')}]`;
	if (v && typeof v === 'object')
		return `{${Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',')}}`;
	return JSON.stringify(v);
}

// ---- the scenario -------------------------------------------------------------------------------

async function scenario(ctx) {
	const A = await ctx.newPage();
	const B = await ctx.newPage();
	watch(A, 'A');
	watch(B, 'B');
	const run = Math.random().toString(36).slice(2, 8);
	const ada = { email: `ada-${run}@example.com`, password: 'correct horse battery', name: 'Ada' };
	const bob = { email: `bob-${run}@example.com`, password: 'tr0ub4dor&3 staple', name: 'Bob' };
	let canvasId;

	await step('both users register and log in through the UI', async () => {
		await register(A, ada.email, ada.password, ada.name);
		await register(B, bob.email, bob.password, bob.name);
	});

	await step('Ada creates a workspace, shares it with Bob and creates a canvas', async () => {
		await on(A);
		await A.fill('#workspace-form input[name="name"]', 'Design');
		await A.click('#workspace-form button');
		await A.locator('#workspace-title').filter({ hasText: 'Design' }).waitFor({ timeout: T });
		await A.fill('#member-form input[name="email"]', bob.email);
		await A.selectOption('#member-form select[name="role"]', 'editor');
		await A.click('#member-form button');
		await A.locator('#member-list li').filter({ hasText: bob.email }).waitFor({ timeout: T });
		await A.screenshot({ path: `${SHOTS}-home.png` });
		await A.fill('#canvas-form input[name="name"]', 'Sprint board');
		await A.click('#canvas-form button');
		await A.waitForURL(/#\/c\/[0-9a-f-]+$/, { timeout: T });
		canvasId = A.url().split('/').pop();
		await waitLive(A);
	});

	await step('Bob finds the canvas through his workspace list and opens it', async () => {
		await on(B);
		await B.goto(GATEWAY + '/#/');
		await B.locator('#workspace-list a', { hasText: 'Design' }).click();
		await B.locator('#canvas-list a', { hasText: 'Sprint board' }).click();
		await B.waitForURL(new RegExp(`#/c/${canvasId}$`), { timeout: T });
		await waitLive(B);
	});

	await step('presence: each page shows both collaborators, itself first', async () => {
		for (const [page, self, other] of [[A, 'Ada', 'Bob'], [B, 'Bob', 'Ada']]) {
			await page.locator('#presence li').filter({ hasText: other }).waitFor({ timeout: T });
			const chips = await page.locator('#presence li').allTextContents();
			assert.equal(chips.length, 2, `chips: ${chips}`);
			assert.equal(chips[0], `${self} (you)`);
			const color = await page.locator('#presence li').nth(1).evaluate((e) => e.style.getPropertyValue('--chip'));
			assert.match(color, /^#[0-9a-f]{6}$/);
		}
	});

	let rectId;
	const r0 = { x: 300, y: 200, width: 160, height: 100 };
	await step('Ada draws a rectangle; Bob sees it with the same geometry', async () => {
		await on(A);
		await A.click('#tools [data-tool="rect"]');
		await drag(A, { x: r0.x, y: r0.y }, { x: r0.x + r0.width, y: r0.y + r0.height });
		const g = A.locator('#layer-shapes g[data-shape-id][data-kind="rect"]');
		await g.waitFor({ timeout: T });
		rectId = await g.getAttribute('data-shape-id');
		assert.match(rectId, /^[A-Za-z0-9_.:-]{1,64}$/);
		await waitShape(A, rectId, r0);
		await waitShape(B, rectId, r0);
		await waitStatus(A, /^ack v1\b/);
	});

	await step("Ada's cursor is drawn on Bob's page with her name", async () => {
		await on(A);
		const o = await boardOrigin(A);
		await A.mouse.move(o.x + 620, o.y + 330, { steps: 5 });
		const cursor = B.locator('#layer-cursors .cursor').filter({ hasText: 'Ada' });
		await cursor.waitFor({ timeout: T });
		await B.waitForFunction(() => {
			const c = document.querySelector('#layer-cursors .cursor');
			return c && c.getAttribute('transform') === 'translate(620 330)';
		}, null, { timeout: T });
	});

	const moved = { x: r0.x + 150, y: r0.y + 80 };
	await step('Bob drags the rectangle; Ada sees it moved', async () => {
		await on(B);
		await B.click('#tools [data-tool="select"]');
		await drag(B, { x: r0.x + 80, y: r0.y + 50 }, { x: r0.x + 80 + 150, y: r0.y + 50 + 80 });
		await waitCommitted(B, rectId, `shape && shape.x === ${moved.x} && shape.y === ${moved.y}`,
				    "Bob's move committed");
		await waitShape(A, rectId, { ...r0, ...moved });
		await waitShape(B, rectId, { ...r0, ...moved });
	});

	await step("Ada presses undo: her create is not undone over Bob's move (conflict, shown)", async () => {
		await on(A);
		await A.click('#undo');
		await waitStatus(A, /^undo: conflict/);
		const s = await snapshot(A);
		assert.equal(s.shapes[rectId].x, moved.x);
	});

	await step('Bob presses undo: both pages see the rectangle back where Ada drew it', async () => {
		await on(B);
		await B.click('#undo');
		await waitShape(A, rectId, r0);
		await waitShape(B, rectId, r0);
		await waitStatus(B, /^undo: applied/);
	});

	await step('Bob presses redo: both see it moved again', async () => {
		await B.click('#redo');
		await waitShape(A, rectId, { ...r0, ...moved });
		await waitShape(B, rectId, { ...r0, ...moved });
		await waitStatus(B, /^redo: applied/);
	});

	let pathId;
	await step("Ada draws freehand: Bob sees the live stroke, then the committed path", async () => {
		await on(A);
		await A.click('#tools [data-tool="path"]');
		const o = await boardOrigin(A);
		await A.mouse.move(o.x + 120, o.y + 420);
		await A.mouse.down();
		for (let i = 1; i <= 30; i++)
			await A.mouse.move(o.x + 120 + i * 8, o.y + 420 + (i % 2 ? -25 : 25), { steps: 2 });
		// Still drawing: Bob sees the transient stroke (never stored).
		await B.locator('#layer-strokes polyline').waitFor({ timeout: T });
		await A.mouse.up();
		const g = B.locator('#layer-shapes g[data-shape-id][data-kind="path"]');
		await g.waitFor({ timeout: T });
		pathId = await g.getAttribute('data-shape-id');
		await B.locator('#layer-strokes polyline').waitFor({ state: 'detached', timeout: T });
		await A.locator(shapeSel(pathId)).waitFor({ timeout: T });
	});

	await step('Bob selects the path and deletes it; it disappears for Ada', async () => {
		await on(B);
		const o = await boardOrigin(B);
		await B.mouse.click(o.x + 128, o.y + 395); // the first vertex after the start
		await B.locator(`${shapeSel(pathId)}.selected`).waitFor({ timeout: T });
		await B.click('#delete');
		await waitShape(A, pathId, null);
		await waitShape(B, pathId, null);
	});

	let stickyId;
	await step('Ada adds a sticky note and writes on it (update_shape); Bob sees the text', async () => {
		await on(A);
		await A.click('#tools [data-tool="sticky"]');
		const o = await boardOrigin(A);
		await A.mouse.click(o.x + 780, o.y + 180);
		const g = A.locator('#layer-shapes g[data-shape-id][data-kind="sticky"]');
		await g.waitFor({ timeout: T });
		stickyId = await g.getAttribute('data-shape-id');
		await A.click('#tools [data-tool="select"]');
		A.expectingDialog = true;
		A.once('dialog', (d) => d.accept('Ship the web client\nby Friday'));
		await A.mouse.dblclick(o.x + 780, o.y + 180);
		await B.locator(`${shapeSel(stickyId)} text`).filter({ hasText: 'by Friday' }).waitFor({ timeout: T });
		A.expectingDialog = false;
	});

	await step('Bob draws an ellipse; Ada sees it', async () => {
		await on(B);
		await B.click('#tools [data-tool="ellipse"]');
		await drag(B, { x: 560, y: 420 }, { x: 720, y: 520 });
		await A.locator('#layer-shapes g[data-shape-id][data-kind="ellipse"]').waitFor({ timeout: T });
		await B.click('#tools [data-tool="select"]');
	});

	await step('Ada draws an arrow and a text with keyboard shortcuts; Bob sees both', async () => {
		await on(A);
		await A.locator('#board').focus();
		await A.keyboard.press('a');
		await A.locator('#tools [data-tool="arrow"][aria-pressed="true"]').waitFor({ timeout: T });
		await drag(A, { x: 900, y: 560 }, { x: 1100, y: 640 });
		await B.locator('#layer-shapes g[data-kind="arrow"] polygon').waitFor({ timeout: T });
		await A.keyboard.press('t');
		A.expectingDialog = true;
		A.once('dialog', (d) => d.accept('Hello, Bob'));
		const o = await boardOrigin(A);
		await A.mouse.click(o.x + 950, o.y + 420);
		await B.locator('#layer-shapes g[data-kind="text"] text').filter({ hasText: 'Hello, Bob' }).waitFor({ timeout: T });
		A.expectingDialog = false;
		await A.keyboard.press('v');
		await A.locator('#tools [data-tool="select"][aria-pressed="true"]').waitFor({ timeout: T });
	});

	if (CONTROL) {
		const watchStates = async () => {
			for (const page of [A, B]) {
				await page.evaluate(() => {
					window.__connStates = [];
					const badge = document.querySelector('#conn');
					new MutationObserver(() => window.__connStates.push(badge.dataset.state))
						.observe(badge, { attributes: true, attributeFilter: ['data-state'] });
				});
			}
		};
		let stopped;
		await step('the node serving the canvas stops: both pages reconnect to the other one and lose nothing', async () => {
			await watchStates();
			const before = (await snapshot(A)).version;
			stopped = await control('/stop-busiest');
			log(`  stopped node ${stopped.node} (ws connections per node: ${stopped.ws_connections}, exit ${stopped.exit_code})`);
			assert.equal(stopped.exit_code, 0, 'a node exits 0 after a SIGTERM drain');
			for (const page of [A, B]) {
				await page.waitForFunction(() => window.__connStates.includes('reconnecting'), null, { timeout: T });
				await waitLive(page);
			}
			await on(A);
			await A.click('#tools [data-tool="rect"]');
			await drag(A, { x: 80, y: 80 }, { x: 200, y: 150 });
			await B.waitForFunction((v) => window.flowstate.snapshot().version === v + 1, before, { timeout: T });
			await B.locator('#layer-shapes g[data-kind="rect"]').nth(1).waitFor({ timeout: T });
		});

		await step('no node at all: an edit made while reconnecting is kept, shown pending, and committed once back', async () => {
			await watchStates();
			const other = 1 - stopped.node;
			await control(`/stop-node?i=${other}`);
			await A.locator('#conn[data-state="reconnecting"]').waitFor({ timeout: T });
			await B.locator('#conn[data-state="reconnecting"]').waitFor({ timeout: T });
			await on(A);
			await drag(A, { x: 80, y: 560 }, { x: 240, y: 640 });
			await A.locator('#layer-shapes g[data-pending-id][data-kind="rect"]').waitFor({ timeout: T });
			assert.equal((await snapshot(A)).outbox, 1);
			await A.screenshot({ path: `${SHOTS}-reconnecting.png` });
			await control(`/start-node?i=${stopped.node}`);
			await control(`/start-node?i=${other}`);
			await waitLive(A);
			await waitLive(B);
			await B.locator('#layer-shapes g[data-kind="rect"]').nth(2).waitFor({ timeout: 2 * T });
			await A.locator('#layer-shapes g[data-pending-id]').waitFor({ state: 'detached', timeout: T });
			await A.click('#tools [data-tool="select"]');
		});
	}

	await step('both pages converge on the state the server replays', async () => {
		const want = await A.evaluate(async (id) => {
			const { access_token: token } = JSON.parse(sessionStorage.getItem('flowstate.session'));
			const res = await fetch(`/api/v1/canvases/${id}/state`, { headers: { Authorization: `Bearer ${token}` } });
			return res.json();
		}, canvasId);
		await B.waitForFunction((v) => window.flowstate.snapshot().version === v, want.version, { timeout: T });
		await A.waitForFunction((v) => window.flowstate.snapshot().version === v, want.version, { timeout: T });
		const [sa, sb] = [await snapshot(A), await snapshot(B)];
		assert.equal(canonical(sa.shapes), canonical(want.shapes), "Ada's state differs from the server's");
		assert.equal(canonical(sb.shapes), canonical(want.shapes), "Bob's state differs from the server's");
		assert.equal(sa.outbox, 0);
		assert.equal(sb.outbox, 0);
		assert.equal(Object.keys(want.shapes).length, CONTROL ? 7 : 5);
		log(`  converged at v${want.version} with ${Object.keys(want.shapes).length} shapes`);
	});

	await step('screenshots with both cursors in view', async () => {
		await on(A);
		const oa = await boardOrigin(A);
		await A.mouse.move(oa.x + 520, oa.y + 330, { steps: 4 });
		await on(B);
		const ob = await boardOrigin(B);
		await B.mouse.move(ob.x + 860, ob.y + 260, { steps: 4 });
		await A.locator('#layer-cursors .cursor').filter({ hasText: 'Bob' }).waitFor({ timeout: T });
		await B.locator('#layer-cursors .cursor').filter({ hasText: 'Ada' }).waitFor({ timeout: T });
		await on(A);
		await A.waitForTimeout(200);
		await A.screenshot({ path: `${SHOTS}-a.png` });
		await on(B);
		await B.waitForTimeout(200);
		await B.screenshot({ path: `${SHOTS}-b.png` });
		log(`  ${SHOTS}-home.png ${SHOTS}-a.png ${SHOTS}-b.png${CONTROL ? ` ${SHOTS}-reconnecting.png` : ''}`);
	});

	await step('logging out ends the session; a refused access token is refreshed', async () => {
		await on(B);
		await B.click('#logout');
		await B.locator('#view-auth').waitFor({ state: 'visible', timeout: T });
		await A.locator('#presence li').filter({ hasText: 'Bob' }).waitFor({ state: 'detached', timeout: T });
		await B.reload();
		await B.locator('#view-auth').waitFor({ state: 'visible', timeout: T });
		// Ada's tab keeps its session across a reload (sessionStorage) and reopens the canvas;
		// an access token the server refuses is replaced using the refresh token (rotated).
		await on(A);
		const old = await A.evaluate(() => {
			const s = JSON.parse(sessionStorage.getItem('flowstate.session'));
			sessionStorage.setItem('flowstate.session', JSON.stringify({ ...s, access_token: 'not.a.token' }));
			return s;
		});
		await A.reload();
		await waitLive(A);
		const now = await A.evaluate(() => JSON.parse(sessionStorage.getItem('flowstate.session')));
		assert.notEqual(now.access_token, 'not.a.token');
		assert.notEqual(now.refresh_token, old.refresh_token, 'the refresh token rotates');
	});

	return [A, B];
}

async function main() {
	const dir = path.dirname(SHOTS);
	for (const f of fs.readdirSync(dir)) {
		if (f.startsWith(`${path.basename(SHOTS)}-failed-`) && f.endsWith('.png'))
			fs.rmSync(path.join(dir, f), { force: true });
	}
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flowstate-chromium-'));
	const ctx = await chromium.launchPersistentContext(userDataDir, {
		executablePath: CHROMIUM,
		headless: true,
		viewport: { width: 1280, height: 760 },
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		       '--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	let pages = [];
	let failed = null;
	try {
		pages = await scenario(ctx);
	} catch (e) {
		failed = e;
		pages = ctx.pages();
	}
	if (!failed && pageErrors.length)
		failed = new Error(`uncaught errors in the pages:\n  ${pageErrors.join('\n  ')}`);
	if (failed) {
		console.error(`web-e2e: FAILED: ${failed.stack || failed}`);
		for (const [i, p] of pages.entries()) {
			try {
				console.error(`  page ${i}: url=${p.url()} status="${await statusText(p)}" conn="${await p.locator('#conn').textContent()}"`);
				await p.screenshot({ path: `${SHOTS}-failed-${i}.png` });
			} catch {
				// the page may be gone
			}
		}
		if (pageErrors.length)
			console.error(`  page errors:\n    ${pageErrors.join('\n    ')}`);
	}
	await ctx.close();
	fs.rmSync(userDataDir, { recursive: true, force: true });
	if (failed)
		process.exit(1);
	log('web-e2e: all steps passed');
}

await main();
