// End-to-end test of the web client (gateway/web) in headless Chromium: two users on two nodes
// (each through a gateway pinned to one node, so every shared edit crosses Redis), driving the
// editor with real mouse, keyboard and touch input, and a convergence check against
// GET /state at the end.
//
//   FLOWSTATE_TEST_NODE_GATEWAYS  gateways pinned to node 1 and node 2 (tests/web/cluster_run.py)
//   FLOWSTATE_TEST_GATEWAY_URL    the cluster's gateway (fallback for both users)
//   FLOWSTATE_WEB_CONTROL_URL     optional: lets the test stop and start a node
//   FLOWSTATE_WEB_ARTIFACTS       where screenshots and the exported SVG go (var/web-e2e)
//   CHROMIUM                      browser binary (default /usr/bin/chromium)
//
// The canvas is a <canvas>: the test reads what the client holds through window.flowstate
// (read-only hooks: committed state, displayed shapes, selection, viewport, where a canvas
// point is on the page) and acts only through input events, as a person would.
// Exits 0 when every step passed, 1 otherwise (with the failing step and page errors).

import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const GATEWAY = process.env.FLOWSTATE_TEST_GATEWAY_URL;
const PINNED = (process.env.FLOWSTATE_TEST_NODE_GATEWAYS || '').split(',').filter(Boolean);
const CONTROL = process.env.FLOWSTATE_WEB_CONTROL_URL || '';
const ARTIFACTS = path.resolve(process.env.FLOWSTATE_WEB_ARTIFACTS || 'var/web-e2e');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const T = 15000;

if (!GATEWAY) {
	console.error('e2e: FLOWSTATE_TEST_GATEWAY_URL is not set (run tests/web/run)');
	process.exit(2);
}
const GW_A = PINNED[0] || GATEWAY;
const GW_B = PINNED[1] || GATEWAY;

const started = Date.now();
const log = (msg) => console.log(`[web-e2e ${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);
const pageErrors = [];
let stepCount = 0;
let front = null;

async function step(name, fn) {
	const t0 = Date.now();
	stepCount++;
	log(`step ${stepCount}: ${name}`);
	try {
		await fn();
	} catch (e) {
		e.message = `step "${name}" failed: ${e.message}`;
		throw e;
	}
	log(`  ok (${Date.now() - t0} ms)`);
}

async function on(page) {
	if (front !== page) {
		await page.bringToFront();
		front = page;
	}
	return page;
}

async function shot(page, name) {
	await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`) });
}

// Downloads an export from the board menu: checks the file's name, keeps it as
// artifacts/export.<ext>, and returns its bytes.
async function exportFromMenu(page, item, filename) {
	await page.click('#menu');
	const [download] = await Promise.all([page.waitForEvent('download', { timeout: T }), page.click(item)]);
	assert.equal(download.suggestedFilename(), filename);
	const file = path.join(ARTIFACTS, `export${path.extname(filename)}`);
	await download.saveAs(file);
	return fs.readFileSync(file);
}

function watch(page, name) {
	page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
	page.on('console', (m) => {
		if (m.type() === 'error' && !/Failed to load resource|WebSocket connection/.test(m.text()))
			log(`  (${name} console: ${m.text()})`);
	});
	page.on('dialog', (d) => {
		pageErrors.push(`${name}: unexpected dialog ${d.message()}`);
		d.dismiss();
	});
}

async function control(what) {
	const res = await fetch(CONTROL + what, { method: 'POST' });
	const body = await res.json();
	assert.equal(res.status, 200, `control ${what}: ${JSON.stringify(body)}`);
	return body;
}

// ---- reading the board ------------------------------------------------------------------------

const snap = (page) => page.evaluate(() => window.flowstate.snapshot());
const shown = (page, id) => page.evaluate((i) => window.flowstate.displayed(i), id);
const selection = (page) => page.evaluate(() => window.flowstate.selection());
const boardState = (page) => page.evaluate(() => window.flowstate.state());
const viewport = (page) => page.evaluate(() => window.flowstate.viewport());

async function waitLive(page) {
	await page.locator('#conn[data-state="live"]').waitFor({ timeout: T });
}

// Waits until the committed shape `id` satisfies `pred` (JavaScript source over `s`, evaluated
// here in Node: the page's Content-Security-Policy rightly forbids eval).
async function waitShape(page, id, pred, what = pred) {
	const test = new Function('s', `return (${pred})`);
	const deadline = Date.now() + T;
	let s;
	for (;;) {
		s = await page.evaluate((i) => {
			const snapshot = window.flowstate && window.flowstate.snapshot();
			return snapshot ? snapshot.shapes[i] : undefined;
		}, id);
		let ok = false;
		try {
			ok = test(s);
		} catch {
			ok = false; // not there yet
		}
		if (ok)
			return s;
		if (Date.now() > deadline)
			throw new Error(`${what}: shape ${id} is ${JSON.stringify(s)}`);
		await new Promise((r) => setTimeout(r, 50));
	}
}

// The id of a committed shape of `kind` that was not in `before` (a Set of ids).
async function newShape(page, kind, before) {
	const handle = await page.waitForFunction(([k, old]) => {
		const s = window.flowstate.snapshot();
		const found = Object.values(s.shapes).find((sh) => sh.kind === k && !old.includes(sh.id));
		return found ? found.id : null;
	}, [kind, [...before]], { timeout: T });
	return handle.jsonValue();
}

// How `page` draws the text of shape `id`, once its drawing has caught up with the state the
// page has confirmed: the scene lays text out on its next frame (a background tab's within
// 250 ms), and an author's own op is confirmed by its ack, which may come after another node
// has already shown the op to someone else.
async function drawnLabel(page, id) {
	const handle = await page.waitForFunction((i) => {
		const s = window.flowstate.snapshot().shapes[i];
		const l = window.flowstate.label(i);
		return s && l && l.visible && l.text === s.text ? l : null;
	}, id, { timeout: T });
	return handle.jsonValue();
}

const ids = async (page) => new Set(Object.keys((await snap(page)).shapes));

// The centre of a committed shape, in canvas units.
async function centre(page, id) {
	const s = (await snap(page)).shapes[id];
	assert.ok(s, `shape ${id} exists`);
	return { x: s.x + s.w / 2, y: s.y + s.h / 2 };
}

// Waits until a comment satisfying `pred` (JavaScript source over `c`) is on the page; returns it.
async function waitComment(page, pred, what = pred) {
	const test = new Function('c', `return (${pred})`);
	const deadline = Date.now() + T;
	for (;;) {
		const all = await page.evaluate(() => window.flowstate.comments());
		const found = all.find((c) => {
			try {
				return test(c);
			} catch {
				return false;
			}
		});
		if (found)
			return found;
		if (Date.now() > deadline)
			throw new Error(`${what}: comments are ${JSON.stringify(all)}`);
		await new Promise((r) => setTimeout(r, 50));
	}
}

// ---- input in canvas coordinates ---------------------------------------------------------------

async function at(page, x, y) {
	return page.evaluate(([a, b]) => window.flowstate.toScreen(a, b), [x, y]);
}

async function drag(page, from, to, { steps = 10, modifiers = [] } = {}) {
	await on(page);
	const a = await at(page, from.x, from.y);
	const b = await at(page, to.x, to.y);
	for (const m of modifiers)
		await page.keyboard.down(m);
	await page.mouse.move(a.x, a.y);
	await page.mouse.down();
	await page.mouse.move(b.x, b.y, { steps });
	await page.mouse.up();
	for (const m of modifiers)
		await page.keyboard.up(m);
}

async function click(page, p, { modifiers = [], count = 1 } = {}) {
	await on(page);
	const s = await at(page, p.x, p.y);
	for (const m of modifiers)
		await page.keyboard.down(m);
	if (count === 2)
		await page.mouse.dblclick(s.x, s.y);
	else
		await page.mouse.click(s.x, s.y);
	for (const m of modifiers)
		await page.keyboard.up(m);
}

async function key(page, k) {
	await on(page);
	await page.keyboard.press(k);
}

async function tool(page, name) {
	await on(page);
	await page.click(`#tools [data-tool="${name}"]`);
	await page.locator(`#tools [data-tool="${name}"][aria-pressed="true"]`).waitFor({ timeout: T });
}

// Touch input through the DevTools protocol: real touch events, which Chromium turns into
// pointer events of type "touch" (Playwright's own touchscreen only taps). Moves come at 60 Hz
// and the fingers rest before lifting, as a person's do: a lift at full speed would start a
// fling, and a fling swallows the next tap.
async function touch(page, frames) {
	const cdp = await page.context().newCDPSession(page);
	const send = (type, frame) => cdp.send('Input.dispatchTouchEvent', {
		type, touchPoints: frame.map(([x, y], id) => ({ x, y, id, radiusX: 4, radiusY: 4, force: 1 })),
	});
	for (let i = 0; i < frames.length; i++) {
		await send(i === 0 ? 'touchStart' : 'touchMove', frames[i]);
		await new Promise((r) => setTimeout(r, 16));
	}
	for (let i = 0; i < 6; i++) {
		await send('touchMove', frames[frames.length - 1]);
		await new Promise((r) => setTimeout(r, 16));
	}
	await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
	await cdp.detach();
}

function canonical(v) {
	if (Array.isArray(v))
		return `[${v.map(canonical).join(',')}]`;
	if (v && typeof v === 'object')
		return `{${Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',')}}`;
	return JSON.stringify(v);
}

async function register(page, base, user) {
	await on(page);
	await page.goto(base + '/');
	await page.locator('#auth-form').waitFor({ timeout: T });
	await page.click('[data-auth-tab="register"]');
	await page.fill('#auth-form input[name="email"]', user.email);
	await page.fill('#auth-form input[name="password"]', user.password);
	await page.fill('#auth-form input[name="display_name"]', user.name);
	await page.click('#auth-submit');
	await page.locator('#workspace-form').waitFor({ timeout: T });
}

async function login(page, base, user, hash = '') {
	await page.goto(base + '/' + hash);
	await page.locator('#auth-form').waitFor({ timeout: T });
	await page.fill('#auth-form input[name="email"]', user.email);
	await page.fill('#auth-form input[name="password"]', user.password);
	await page.click('#auth-submit');
}

// ---- the scenario -------------------------------------------------------------------------------

async function scenario(browser) {
	const desktop = { viewport: { width: 1280, height: 760 }, acceptDownloads: true };
	// Ada copies an invite link and pastes a Mermaid diagram: her browser lets the page use
	// the clipboard, as a person's does after a click.
	const ctxA = await browser.newContext({ ...desktop, permissions: ['clipboard-read', 'clipboard-write'] });
	const ctxB = await browser.newContext(desktop);
	const A = await ctxA.newPage();
	const B = await ctxB.newPage();
	watch(A, 'Ada');
	watch(B, 'Bob');
	const run = Math.random().toString(36).slice(2, 8);
	const ada = { email: `ada-${run}@example.com`, password: 'correct horse battery', name: 'Ada' };
	const bob = { email: `bob-${run}@example.com`, password: 'tr0ub4dor&3 staple', name: 'Bob' };
	const carol = { email: `carol-${run}@example.com`, password: 'purple monkey dishwasher', name: 'Carol' };
	let ctxC = null, C = null;
	let canvasId;
	log(`Ada through ${GW_A}, Bob through ${GW_B}`);

	await step('a wrong password reads as a plain sentence, not an error code', async () => {
		await on(A);
		await login(A, GW_A, { email: ada.email, password: 'wrong password' });
		const msg = A.locator('#auth-error');
		await msg.filter({ hasText: /\S/ }).waitFor({ timeout: T });
		const text = await msg.textContent();
		assert.equal(text, "That email and password don't match an account.");
		assert.doesNotMatch(text, /[a-z]+_[a-z]+|\(|\d{3}/);
	});

	await step('both users register; Ada creates a workspace, adds Bob and creates a canvas', async () => {
		await register(A, GW_A, ada);
		await register(B, GW_B, bob);
		await on(A);
		await A.fill('#workspace-form input[name="name"]', 'Design');
		await A.click('#workspace-form button');
		await A.locator('#workspace-title').filter({ hasText: 'Design' }).waitFor({ timeout: T });
		await A.fill('#member-form input[name="email"]', 'nobody-' + bob.email);
		await A.click('#member-form button');
		await A.locator('#home-error').filter({ hasText: 'No account uses that email' }).waitFor({ timeout: T });
		await A.fill('#member-form input[name="email"]', bob.email);
		await A.selectOption('#member-form select[name="role"]', 'editor');
		await A.click('#member-form button');
		await A.locator('#member-list li').filter({ hasText: bob.email }).waitFor({ timeout: T });
		await shot(A, 'desktop-home');
		await A.fill('#canvas-form input[name="name"]', 'Sprint board');
		await A.click('#canvas-form button');
		await A.waitForURL(/#\/c\/[0-9a-f-]+$/, { timeout: T });
		canvasId = A.url().split('/').pop();
		await waitLive(A);
	});

	await step('the empty canvas shows a first-run hint', async () => {
		await A.locator('#empty-hint').waitFor({ timeout: T });
		await shot(A, 'desktop-empty-canvas');
	});

	// The style panel floats over the left of the canvas: both users scroll the view right by
	// 100 px (wheel), so the canvas coordinates used below are clear of it.
	const scrollRight = async (page) => {
		await on(page);
		const box = await page.locator('#board').boundingBox();
		await page.mouse.move(box.x + 600, box.y + 400);
		await page.mouse.wheel(-100, 0);
		await page.waitForFunction(() => window.flowstate.viewport().x === 100, null, { timeout: T });
	};

	await step('Bob opens the canvas from his workspace list; presence shows both, self first', async () => {
		await on(B);
		await B.reload(); // his list was loaded before Ada added him
		await B.locator('#workspace-list a', { hasText: 'Design' }).click();
		await B.locator('#canvas-list a', { hasText: 'Sprint board' }).click();
		await B.waitForURL(new RegExp(`#/c/${canvasId}$`), { timeout: T });
		await waitLive(B);
		for (const [page, self, other] of [[A, 'Ada', 'Bob'], [B, 'Bob', 'Ada']]) {
			await page.locator('#presence li').filter({ hasText: other }).waitFor({ timeout: T });
			const chips = await page.locator('#presence li .name').allTextContents();
			assert.deepEqual(chips, [`${self} (you)`, other]);
		}
		await scrollRight(A);
		await scrollRight(B);
	});

	let rectId, ellipseId;
	await step('Ada draws a rectangle (drag); Bob, on the other node, gets it', async () => {
		const before = await ids(A);
		await tool(A, 'rect');
		await drag(A, { x: 200, y: 200 }, { x: 360, y: 300 });
		rectId = await newShape(A, 'rect', before);
		await waitShape(A, rectId, 's.x === 200 && s.y === 200 && s.w === 160 && s.h === 100');
		await waitShape(B, rectId, 's && s.w === 160');
		// The tool goes back to select after drawing.
		assert.equal((await boardState(A)).tool, 'select');
		assert.equal(await A.locator('#empty-hint').count(), 0);
	});

	await step("Ada's cursor moves on Bob's page with her name, without redrawing Bob's shapes", async () => {
		const draws = (await B.evaluate(() => window.flowstate.stats())).mainDraws;
		await on(A);
		const p = await at(A, 500, 500);
		await A.mouse.move(p.x - 40, p.y - 40);
		await A.mouse.move(p.x, p.y, { steps: 8 });
		const cursor = B.locator('.remote-cursor').filter({ hasText: 'Ada' });
		await cursor.waitFor({ timeout: T });
		await B.waitForFunction(() => {
			const el = document.querySelector('.remote-cursor');
			const r = el.getBoundingClientRect();
			const want = window.flowstate.toScreen(500, 500);
			return Math.abs(r.left - want.x) < 1.5 && Math.abs(r.top - want.y) < 1.5;
		}, null, { timeout: T });
		assert.equal((await B.evaluate(() => window.flowstate.stats())).mainDraws, draws, 'a cursor repainted the shape layer');
	});

	await step('Bob drags the rectangle; Ada sees it move', async () => {
		await drag(B, { x: 280, y: 250 }, { x: 330, y: 280 });
		await waitShape(B, rectId, 's.x === 250 && s.y === 230', "Bob's move");
		await waitShape(A, rectId, 's.x === 250 && s.y === 230', "Bob's move on Ada's page");
	});

	await step("undo: Ada's create is not undone over Bob's move (said plainly); Bob undoes and redoes his", async () => {
		await on(A);
		await A.locator('#board').focus();
		await key(A, 'Control+z');
		await A.locator('#notice').filter({ hasText: 'someone else has changed that' }).waitFor({ timeout: T });
		await waitShape(A, rectId, 's && s.x === 250');
		await key(B, 'Control+z');
		await waitShape(A, rectId, 's.x === 200 && s.y === 200', 'undo of the move');
		await B.click('#redo');
		await waitShape(A, rectId, 's.x === 250 && s.y === 230', 'redo of the move');
	});

	await step('resize with a corner handle and rotate with the rotation handle', async () => {
		await click(A, { x: 300, y: 280 });
		assert.deepEqual(await selection(A), [rectId]);
		const h = await A.evaluate(() => window.flowstate.handles());
		await on(A);
		await A.mouse.move(h.se.x, h.se.y);
		await A.mouse.down();
		await A.mouse.move(h.se.x + 60, h.se.y + 40, { steps: 8 });
		await A.mouse.up();
		await waitShape(A, rectId, 'Math.abs(s.w - 220) < 2 && Math.abs(s.h - 140) < 2 && s.x === 250 && s.y === 230', 'resize');
		await waitShape(B, rectId, 'Math.abs(s.w - 220) < 2', 'resize seen by Bob');
		const h2 = await A.evaluate(() => window.flowstate.handles());
		const c = await at(A, 360, 300);
		await A.mouse.move(h2.rotate.x, h2.rotate.y);
		await A.mouse.down();
		// A quarter turn clockwise about the centre, with Shift to snap to 15°.
		await A.keyboard.down('Shift');
		await A.mouse.move(c.x + 120, c.y + 3, { steps: 10 });
		await A.mouse.up();
		await A.keyboard.up('Shift');
		await waitShape(A, rectId, 's.rotation === 90', 'rotation');
		await waitShape(B, rectId, 's.rotation === 90', 'rotation seen by Bob');
		await key(A, 'Control+z');
		await waitShape(B, rectId, 's.rotation === 0', 'undo of the rotation');
	});

	let textId;
	await step('an ellipse with text inside, multi-line, edited in place (double-click)', async () => {
		const before = await ids(A);
		await key(A, 'o');
		await drag(A, { x: 700, y: 200 }, { x: 860, y: 300 });
		ellipseId = await newShape(A, 'ellipse', before);
		await waitShape(B, ellipseId, 's && s.kind === "ellipse"');
		await click(A, { x: 780, y: 250 }, { count: 2 });
		await A.locator('#text-editor').waitFor({ timeout: T });
		await A.keyboard.type('Login');
		await A.keyboard.press('Enter');
		await A.keyboard.type('service');
		await A.keyboard.press('Escape');
		await waitShape(B, ellipseId, 's.text === "Login\\nservice"', 'ellipse text');
		const label = await drawnLabel(B, ellipseId);
		assert.deepEqual(label.lines, ['Login', 'service']);
	});

	await step('a text with the T tool; editing it again grows its box with the text', async () => {
		const before = await ids(A);
		await key(A, 't');
		await click(A, { x: 200, y: 520 });
		await A.locator('#text-editor').waitFor({ timeout: T });
		await A.keyboard.type('Short');
		await A.keyboard.press('Escape');
		textId = await newShape(A, 'text', before);
		await waitShape(A, textId, 's.text === "Short"');
		const w0 = (await snap(A)).shapes[textId].w;
		await click(A, { x: 210, y: 530 });
		await key(A, 'Enter');
		await A.locator('#text-editor').waitFor({ timeout: T });
		await A.keyboard.press('End');
		await A.keyboard.type(' and a much longer first line');
		await A.keyboard.press('Enter');
		await A.keyboard.type('second line');
		await A.keyboard.press('Escape');
		const grown = `s.text === "Short and a much longer first line\\nsecond line" && s.w > ${w0 * 3} && s.h >= 40`;
		await waitShape(B, textId, grown, 'text box grew');
		const s = await waitShape(A, textId, grown, 'text box grew, confirmed to its author');
		const label = await drawnLabel(A, textId);
		assert.ok(label.widest <= s.w + 1, `the drawn text (${label.widest}) fits its box (${s.w})`);
	});

	let stickyId;
	const longNote = 'Ship the new web client by Friday, with history, connectors, dark mode and phones for everyone';
	await step('Bob adds a sticky note with the keyboard; a long note wraps inside it', async () => {
		const before = await ids(B);
		await on(B);
		await B.locator('#board').focus();
		await key(B, 's');
		await click(B, { x: 500, y: 620 });
		await B.locator('#text-editor').waitFor({ timeout: T });
		await B.keyboard.type(longNote);
		await B.keyboard.press('Escape');
		stickyId = await newShape(B, 'sticky', before);
		await waitShape(A, stickyId, `s.text === ${JSON.stringify(longNote)}`, 'sticky text');
		const label = await drawnLabel(A, stickyId);
		const s = (await snap(A)).shapes[stickyId];
		assert.ok(longNote.length >= 89);
		assert.ok(label.lines.length >= 4, `wrapped into ${label.lines.length} lines`);
		assert.ok(label.widest <= s.w - 10, `lines (${label.widest}) stay inside the note (${s.w})`);
	});

	let connId;
	await step('a connector drawn from the rectangle to the ellipse follows the rectangle when it moves', async () => {
		const before = await ids(A);
		await key(A, 'c');
		await drag(A, { x: 320, y: 280 }, { x: 760, y: 230 });
		connId = await newShape(A, 'connector', before);
		await waitShape(B, connId, `s.from === ${JSON.stringify(rectId)} && s.to === ${JSON.stringify(ellipseId)}`, 'connector ends');
		await drag(A, { x: 300, y: 300 }, { x: 300, y: 420 });
		await waitShape(B, rectId, 's.y === 350', 'rect moved');
		// Drawn from the moved rectangle: the connector's first point is on its outline.
		const end = await B.evaluate((id) => {
			const c = window.flowstate.displayed(id);
			return c && c.from;
		}, connId);
		assert.equal(end, rectId);
		await shot(B, 'desktop-connector');
	});

	let blockerId;
	await step("a connector crossing a shape does not steal that shape's clicks", async () => {
		const before = await ids(A);
		await key(A, 'r');
		// A small rectangle right on the connector's line, between the two shapes.
		const c = await A.evaluate((id) => {
			const s = window.flowstate.snapshot().shapes;
			const r = s[id.r], e = s[id.e];
			return { x: (r.x + r.w / 2 + e.x + e.w / 2) / 2, y: (r.y + r.h / 2 + e.y + e.h / 2) / 2 };
		}, { r: rectId, e: ellipseId });
		await drag(A, { x: c.x - 30, y: c.y - 20 }, { x: c.x + 30, y: c.y + 20 });
		blockerId = await newShape(A, 'rect', before);
		await waitShape(A, blockerId, 's && s.w === 60');
		await key(A, 'Escape');
		await click(A, c);
		assert.deepEqual(await selection(A), [blockerId]);
	});

	await step('restyle the selection: stroke colour, fill, width, opacity', async () => {
		await click(A, { x: 300, y: 400 });
		assert.deepEqual(await selection(A), [rectId]);
		await A.click('#style-panel [data-style="stroke"][data-color="#e03131"]');
		await A.click('#style-panel [data-style="fill"][data-color="#a5d8ff"]');
		await A.click('#style-panel [data-width="4"]');
		await A.locator('#opacity').fill('60');
		await waitShape(B, rectId, 's.style.stroke === "#e03131" && s.style.fill === "#a5d8ff" && s.style.width === 4 && s.style.opacity === 0.6', 'restyled');
	});

	await step('multi-select with Shift-click and with a marquee; Ctrl+A selects shapes, not page text', async () => {
		await key(A, 'Escape');
		await click(A, { x: 300, y: 400 });
		await click(A, { x: 780, y: 250 }, { modifiers: ['Shift'] });
		assert.deepEqual((await selection(A)).sort(), [rectId, ellipseId].sort());
		await click(A, { x: 780, y: 250 }, { modifiers: ['Shift'] });
		assert.deepEqual(await selection(A), [rectId]);
		// Marquee around the text and the sticky only.
		await key(A, 'Escape');
		await drag(A, { x: 150, y: 490 }, { x: 760, y: 860 }, { steps: 6 });
		assert.deepEqual((await selection(A)).sort(), [textId, stickyId].sort());
		await key(A, 'Control+a');
		const all = Object.keys((await snap(A)).shapes);
		assert.deepEqual((await selection(A)).sort(), all.sort());
		assert.equal(await A.evaluate(() => String(window.getSelection())), '');
		// With everything selected, a drag still moves the shapes.
		await drag(A, { x: 780, y: 250 }, { x: 800, y: 250 });
		await waitShape(B, ellipseId, 's.x === 720', 'moved with the selection');
		await waitShape(B, rectId, 's.x === 270', 'moved with the selection');
	});

	await step('arrow keys nudge, Shift for 10', async () => {
		await click(A, { x: 800, y: 250 });
		await key(A, 'ArrowRight');
		await key(A, 'ArrowRight');
		await key(A, 'Shift+ArrowDown');
		await waitShape(B, ellipseId, 's.x === 722 && s.y === 210', 'nudged');
	});

	await step('copy, paste and duplicate', async () => {
		const before = await ids(A);
		await key(A, 'Control+c');
		await key(A, 'Control+v');
		const pasted = await newShape(A, 'ellipse', before);
		await waitShape(B, pasted, 's.x === 746 && s.y === 234 && s.text === "Login\\nservice"', 'pasted copy');
		const before2 = await ids(A);
		await key(A, 'Control+d');
		const dup = await newShape(A, 'ellipse', before2);
		await waitShape(B, dup, 's.x === 770', 'duplicate');
		await key(A, 'Delete');
		await waitShape(B, dup, '!s', 'deleted');
		await click(A, { x: 790, y: 280 });
		await key(A, 'Delete');
		await waitShape(B, pasted, '!s', 'deleted');
	});

	await step('z-order: bring to front and send to back', async () => {
		await click(A, { x: 300, y: 400 });
		await key(A, 'Control+Shift+BracketRight');
		await A.waitForFunction((id) => {
			const s = Object.values(window.flowstate.snapshot().shapes);
			const me = s.find((x) => x.id === id);
			return s.every((x) => x.id === id || x.z < me.z);
		}, rectId, { timeout: T });
		await A.click('#z-back');
		await B.waitForFunction((id) => {
			const s = Object.values(window.flowstate.snapshot().shapes);
			const me = s.find((x) => x.id === id);
			return s.every((x) => x.id === id || x.z > me.z);
		}, rectId, { timeout: T });
	});

	await step('a line with the L tool', async () => {
		const before = await ids(A);
		await key(A, 'Escape');
		await key(A, 'l');
		await drag(A, { x: 1000, y: 450 }, { x: 1100, y: 380 });
		const lineId = await newShape(A, 'line', before);
		await waitShape(B, lineId, 's.points.length === 2 && s.w === 100 && s.h === 70');
	});

	await step("freehand: Bob sees Ada's stroke live, then the committed path", async () => {
		const before = await ids(A);
		await key(A, 'p');
		const o = await at(A, 950, 550);
		await A.mouse.move(o.x, o.y);
		await A.mouse.down();
		for (let i = 1; i <= 24; i++)
			await A.mouse.move(o.x + i * 8, o.y + (i % 2 ? -20 : 20), { steps: 2 });
		await B.waitForFunction(() => window.flowstate.strokes() > 0, null, { timeout: T });
		await A.mouse.up();
		const pathId = await newShape(B, 'path', before);
		await B.waitForFunction(() => window.flowstate.strokes() === 0, null, { timeout: T });
		await waitShape(A, pathId, 's.points.length > 10');
	});

	await step('zoom with Ctrl+wheel, the buttons and fit; pan with the wheel and with space+drag', async () => {
		await on(A);
		const v0 = await viewport(A);
		const c = await at(A, 500, 400);
		await A.mouse.move(c.x, c.y);
		await A.keyboard.down('Control');
		await A.mouse.wheel(0, -300);
		await A.keyboard.up('Control');
		await A.waitForFunction((s) => window.flowstate.viewport().scale > s * 1.5, v0.scale, { timeout: T });
		const after = await at(A, 500, 400);
		assert.ok(Math.abs(after.x - c.x) < 2 && Math.abs(after.y - c.y) < 2, 'the point under the pointer stays put');
		await A.click('#zoom-out');
		await A.click('#zoom-fit');
		const fit = await viewport(A);
		assert.ok(fit.scale <= 2);
		await A.mouse.move(c.x, c.y);
		await A.mouse.wheel(120, 80);
		await A.waitForFunction((v) => {
			const n = window.flowstate.viewport();
			return Math.abs(n.x - (v.x - 120)) < 1 && Math.abs(n.y - (v.y - 80)) < 1;
		}, fit, { timeout: T });
		const v1 = await viewport(A);
		const box = await A.locator('#board').boundingBox();
		await A.mouse.move(box.x + 600, box.y + 650);
		await A.keyboard.down(' ');
		await A.mouse.down();
		await A.mouse.move(box.x + 700, box.y + 600, { steps: 5 });
		await A.mouse.up();
		await A.keyboard.up(' ');
		const v2 = await viewport(A);
		assert.ok(Math.abs(v2.x - v1.x - 100) < 1 && Math.abs(v2.y - v1.y + 50) < 1, `space+drag pans (${JSON.stringify([v1, v2])})`);
		assert.equal(Object.keys((await snap(A)).shapes).length, Object.keys((await snap(B)).shapes).length);
		await A.click('#zoom-fit');
		await shot(A, 'desktop-ada');
	});

	await step('history: a named checkpoint, previewing an older version read-only with the diff, restore', async () => {
		await on(A);
		await A.click('#menu');
		await A.click('#menu-history');
		await A.locator('#history-panel').waitFor({ timeout: T });
		await A.fill('#checkpoint-form input[name="name"]', 'Before the review');
		await A.click('#checkpoint-form button');
		await A.locator('#checkpoint-list li').filter({ hasText: 'Before the review' }).waitFor({ timeout: T });
		const head = (await snap(A)).version;
		// Version 2: the rectangle and the ellipse only.
		const slider = A.locator('#history-slider');
		await slider.focus();
		await A.keyboard.press('Home');
		for (let i = 0; i < 2; i++)
			await A.keyboard.press('ArrowRight');
		await A.locator('#preview-banner').filter({ hasText: 'version 2' }).waitFor({ timeout: T });
		await A.locator('#diff-summary').waitFor({ timeout: T });
		assert.equal((await boardState(A)).preview, 2);
		await shot(A, 'desktop-history-preview');
		// Read-only: the tools are off and a drag changes nothing.
		assert.equal(await A.locator('#tools [data-tool="rect"]').isDisabled(), true);
		const v = (await snap(A)).version;
		await drag(A, { x: 780, y: 250 }, { x: 880, y: 300 });
		assert.equal((await snap(A)).version, v);
		const want = await A.evaluate(async (id) => {
			const { access_token: token } = JSON.parse(localStorage.getItem('flowstate.session'));
			const res = await fetch(`/api/v1/canvases/${id}/state?at=2`, { headers: { Authorization: `Bearer ${token}` } });
			return (await res.json()).shapes;
		}, canvasId);
		await A.click('#restore');
		await A.locator('#preview-banner').waitFor({ state: 'detached', timeout: T });
		await B.waitForFunction((n) => window.flowstate.snapshot().version > n, head, { timeout: T });
		await B.waitForFunction((w) => {
			const s = window.flowstate.snapshot().shapes;
			return Object.keys(s).length === Object.keys(w).length;
		}, want, { timeout: T });
		assert.equal(canonical((await snap(B)).shapes), canonical(want));
		// Back to the newer state: restore the checkpoint taken before.
		await A.locator('#checkpoint-list button', { hasText: 'Before the review' }).click();
		await A.locator('#preview-banner').filter({ hasText: `version ${head}` }).waitFor({ timeout: T });
		await A.click('#restore');
		await B.waitForFunction((id) => !!window.flowstate.snapshot().shapes[id], stickyId, { timeout: T });
		await A.click('#history-panel [aria-label="Close history"]');
	});

	await step('export SVG downloads the drawing', async () => {
		await on(A);
		const svg = (await exportFromMenu(A, '#menu-export-svg', 'Sprint board.svg')).toString('utf8');
		assert.match(svg, /<svg[\s>]/);
		assert.ok(svg.includes(`data-shape-id="${stickyId}"`));
	});

	await step('the activity heatmap counts today', async () => {
		await A.click('#menu');
		await A.click('#menu-activity');
		const today = new Date().toISOString().slice(0, 10);
		const cell = A.locator(`#activity-dialog .cell[data-date="${today}"]`);
		await cell.waitFor({ timeout: T });
		assert.ok(Number(await cell.getAttribute('data-count')) > 5);
		await shot(A, 'desktop-activity');
		await A.click('#activity-dialog [aria-label="Close"]');
	});

	await step('dark mode and the shortcut help', async () => {
		await on(B);
		await B.locator('#board').focus();
		await key(B, 'Alt+Shift+D');
		await B.waitForFunction(() => document.documentElement.dataset.theme === 'dark', null, { timeout: T });
		await key(B, '?');
		await B.locator('#help-dialog').waitFor({ timeout: T });
		await shot(B, 'desktop-bob-dark-help');
		await key(B, 'Escape');
		await B.locator('#help-dialog').waitFor({ state: 'detached', timeout: T });
		await shot(B, 'desktop-bob-dark');
		await B.click('#theme-toggle');
		await B.waitForFunction(() => document.documentElement.dataset.theme === 'light', null, { timeout: T });
	});

	await step('offline: shown at once, edits wait, and go out when the browser is back online', async () => {
		await on(B);
		const before = await ids(B);
		await ctxB.setOffline(true);
		await B.locator('#conn[data-state="offline"]').waitFor({ timeout: T });
		await key(B, 'r');
		await drag(B, { x: 1000, y: 600 }, { x: 1100, y: 660 });
		await B.locator('#conn').filter({ hasText: '1 change waiting' }).waitFor({ timeout: T });
		await shot(B, 'desktop-bob-offline');
		await ctxB.setOffline(false);
		await waitLive(B);
		const id = await newShape(A, 'rect', before);
		await waitShape(B, id, 's && s.w === 100');
		assert.equal((await snap(B)).outbox, 0);
	});

	if (CONTROL) {
		await step("Bob's node stops: his page reconnects with since= and loses nothing", async () => {
			await control('/stop-node?i=1');
			await B.locator('#conn[data-state="reconnecting"], #conn[data-state="offline"]').first().waitFor({ timeout: T });
			const before = await ids(A);
			await key(A, 'r');
			// In the middle of Ada's view (she zoomed to fit before).
			const v = await viewport(A);
			const box = await A.locator('#board').boundingBox();
			const cx = (box.width / 2 - v.x) / v.scale, cy = (box.height / 2 - v.y) / v.scale;
			await drag(A, { x: cx, y: cy }, { x: cx + 80, y: cy + 50 });
			const id = await newShape(A, 'rect', before);
			await control('/start-node?i=1');
			await waitLive(B);
			await waitShape(B, id, 's && Math.abs(s.w - 80) < 0.5');
		});
	}

	await step('a canvas link opened in a new tab is logged in already', async () => {
		const tab = await ctxA.newPage();
		watch(tab, 'Ada tab 2');
		await on(tab);
		await tab.goto(`${GW_A}/#/c/${canvasId}`);
		await waitLive(tab);
		assert.equal(await tab.locator('#auth-form').count(), 0);
		await A.locator('#presence li').nth(2).waitFor({ timeout: T });
		await tab.close();
		front = null;
	});

	await step("selections: what Ada selects shows on Bob's page in her colour", async () => {
		for (const page of [A, B]) {
			await on(page);
			await page.click('#zoom-fit');
		}
		await key(A, 'Escape');
		await click(A, await centre(A, rectId));
		assert.deepEqual(await selection(A), [rectId]);
		const adaColor = (await snap(B)).presence.find((p) => p.display_name === 'Ada').color;
		const sees = (want) => B.waitForFunction(([w, color]) => Object.values(window.flowstate.selections()).some((e) =>
			e.name === 'Ada' && e.color === color && [...e.ids].sort().join() === [...w].sort().join()), [want, adaColor], { timeout: T });
		await sees([rectId]);
		await click(A, await centre(A, ellipseId), { modifiers: ['Shift'] });
		await sees([rectId, ellipseId]);
		await shot(B, 'desktop-bob-sees-ada-selection');
		await key(A, 'Escape');
		await B.waitForFunction(() => Object.keys(window.flowstate.selections()).length === 0, null, { timeout: T });
	});

	let threadId;
	await step('comments: Bob pins one on the sticky (M, click, type, Enter); Ada opens it from its pin and replies; Bob resolves it', async () => {
		await on(B);
		await B.locator('#board').focus();
		await key(B, 'm');
		assert.equal((await boardState(B)).tool, 'comment');
		await click(B, await centre(B, stickyId));
		await B.locator('#comment-composer textarea').waitFor({ timeout: T });
		await B.keyboard.type('Can we make this **shorter**?');
		await B.keyboard.press('Enter');
		await B.locator('#comment-composer').waitFor({ state: 'detached', timeout: T });
		assert.equal((await boardState(B)).tool, 'select');
		const c = await waitComment(A, `c.shape_id === ${JSON.stringify(stickyId)} && c.body === "Can we make this **shorter**?"`, "Bob's comment on Ada's page");
		threadId = c.id;
		assert.equal(c.author.display_name, 'Bob');
		// The pin sits on the sticky's top right corner.
		await A.waitForFunction((id) => !!window.flowstate.pin(id), threadId, { timeout: T });
		const pin = await A.evaluate((id) => window.flowstate.pin(id), threadId);
		const st = (await snap(A)).shapes[stickyId];
		const corner = await at(A, st.x + st.w, st.y);
		assert.ok(Math.abs(pin.y - (corner.y - 14)) < 2 && pin.x > corner.x, `pin ${JSON.stringify(pin)} at the corner ${JSON.stringify(corner)}`);
		assert.equal(pin.text, '1');
		await on(A);
		await A.mouse.click(pin.x, pin.y);
		const thread = A.locator(`#comments-panel .thread.current[data-thread-id="${threadId}"]`);
		await thread.waitFor({ timeout: T });
		// Markdown is rendered (safely) as text elements.
		assert.equal(await thread.locator('.comment-body strong').first().textContent(), 'shorter');
		await thread.locator('textarea').click();
		await A.keyboard.type('Agreed, I will trim it.');
		await A.keyboard.press('Enter');
		await B.waitForFunction((id) => { const p = window.flowstate.pin(id); return p && p.text === '2'; }, threadId, { timeout: T });
		await thread.locator('.comment.reply').filter({ hasText: 'Agreed, I will trim it.' }).waitFor({ timeout: T });
		// Ada edits her reply; Bob's page shows the new text.
		await thread.locator('.comment.reply .edit').click();
		await A.keyboard.press('End');
		await A.keyboard.type(' Today.');
		await A.keyboard.press('Enter');
		await waitComment(B, 'c.parent_id && c.body === "Agreed, I will trim it. Today."', 'edited reply');
		// Ada's page leaves edit mode once her save is answered: then her reply offers Edit again.
		await thread.locator('.comment.reply').filter({ hasText: 'Agreed, I will trim it. Today.' }).locator('.edit').waitFor({ timeout: T });
		assert.equal(await thread.locator('.comment.reply .edit').count(), 1);
		await shot(A, 'desktop-ada-comments');
		// The pin follows the sticky when it moves.
		await A.click('#comments-panel [aria-label="Close comments"]');
		await click(A, await centre(A, stickyId));
		assert.deepEqual(await selection(A), [stickyId]);
		await key(A, 'Shift+ArrowUp');
		await waitShape(B, stickyId, `s.y === ${st.y - 10}`, 'sticky nudged');
		await B.waitForFunction(([id, y]) => { const p = window.flowstate.pin(id); const c = window.flowstate.toScreen(0, y); return p && Math.abs(p.y - (c.y - 14)) < 2; }, [threadId, st.y - 10], { timeout: T });
		await key(A, 'Escape');
		// Bob resolves the thread from the Comments panel.
		await on(B);
		await B.click('#menu');
		await B.click('#menu-comments');
		await B.locator(`#comments-panel .thread[data-thread-id="${threadId}"] .resolve`).click();
		await waitComment(A, `c.id === ${JSON.stringify(threadId)} && c.resolved === true && c.resolved_by`, 'resolved');
		await B.click('#comments-panel [aria-label="Close comments"]');
		await B.waitForFunction((id) => window.flowstate.pin(id) === null, threadId, { timeout: T });
		// Resolved threads come back with "Show resolved".
		await B.click('#menu');
		await B.click('#menu-comments');
		await B.locator('#show-resolved').check();
		await B.waitForFunction((id) => { const p = window.flowstate.pin(id); return p && p.resolved; }, threadId, { timeout: T });
		await shot(B, 'desktop-bob-resolved');
		await B.locator('#show-resolved').uncheck();
		await B.click('#comments-panel [aria-label="Close comments"]');
	});

	await step('invites: Ada copies a link for commenters; Carol opens it, registers, joins, and may comment but not draw', async () => {
		await on(A);
		assert.equal(await B.locator('#share').count(), 0, 'Share is for owners');
		await A.click('#share');
		await A.selectOption('#invite-form select[name="role"]', 'commenter');
		await A.click('#invite-form button[type="submit"]');
		await A.locator('#invite-url').waitFor({ timeout: T });
		await A.click('#copy-invite');
		await A.locator('#copy-invite').filter({ hasText: 'Copied' }).waitFor({ timeout: T });
		const link = await A.evaluate(() => navigator.clipboard.readText());
		assert.equal(link, await A.inputValue('#invite-url'));
		assert.match(link, /^http:\/\/[^/]+\/#\/invite\/[A-Za-z0-9_-]{20,}$/);
		await A.locator('#invite-list li[data-status="active"]').filter({ hasText: 'commenter' }).waitFor({ timeout: T });
		await shot(A, 'desktop-share');
		await A.click('#share-dialog [aria-label="Close"]');
		ctxC = await browser.newContext(desktop);
		C = await ctxC.newPage();
		watch(C, 'Carol');
		await on(C);
		await C.goto(GW_B + new URL(link).pathname + new URL(link).hash);
		await C.locator('#auth-intro').filter({ hasText: 'invited' }).waitFor({ timeout: T });
		await C.click('[data-auth-tab="register"]');
		await C.fill('#auth-form input[name="email"]', carol.email);
		await C.fill('#auth-form input[name="password"]', carol.password);
		await C.fill('#auth-form input[name="display_name"]', carol.name);
		await C.click('#auth-submit');
		await C.locator('#invite-card').filter({ hasText: 'Ada invited you to Design as commenter' }).waitFor({ timeout: T });
		await shot(C, 'desktop-carol-invite');
		await C.click('#accept-invite');
		await C.waitForURL(/#\/w\//, { timeout: T });
		await C.locator('#workspace-role').filter({ hasText: 'commenter' }).waitFor({ timeout: T });
		assert.equal(await C.locator('#canvas-form').count(), 0, 'commenters create no canvases');
		await C.locator('#canvas-list a', { hasText: 'Sprint board' }).click();
		await waitLive(C);
		assert.equal(await C.locator('#tools [data-tool="rect"]').isDisabled(), true);
		assert.equal(await C.locator('#tools [data-tool="comment"]').isDisabled(), false);
		await A.locator('#presence li').filter({ hasText: 'Carol' }).waitFor({ timeout: T });
		// The R key does nothing for her; M does. She comments on an empty spot right of the drawing.
		await C.locator('#board').focus();
		await key(C, 'r');
		assert.equal((await boardState(C)).tool, 'select');
		await C.click('#zoom-fit');
		await C.click('#zoom-out');
		await C.click('#zoom-out');
		await key(C, 'm');
		const shapes = Object.values((await snap(C)).shapes).filter((s) => s.kind !== 'connector');
		const right = Math.max(...shapes.map((s) => s.x + s.w)), top = Math.min(...shapes.map((s) => s.y));
		const spot = { x: right + 80, y: top };
		await click(C, spot);
		await C.locator('#comment-composer textarea').waitFor({ timeout: T });
		await C.keyboard.type('Who owns this board?');
		await C.keyboard.press('Enter');
		const c = await waitComment(A, 'c.body === "Who owns this board?"', "Carol's comment");
		assert.equal(c.shape_id, null);
		assert.ok(Math.abs(c.x - spot.x) < 1 && Math.abs(c.y - spot.y) < 1, `placed at ${JSON.stringify([c.x, c.y])}`);
		await A.waitForFunction((id) => !!window.flowstate.pin(id), c.id, { timeout: T });
		await shot(C, 'desktop-carol-commenter');
		const v = (await snap(C)).version;
		assert.equal((await snap(C)).role, 'commenter');
		assert.equal((await snap(C)).version, v);
	});

	let linkId;
	await step('exports: PNG and Mermaid downloads; a Mermaid flowchart pasted on the board becomes shapes Bob sees', async () => {
		await on(A);
		const bytes = await exportFromMenu(A, '#menu-export-png', 'Sprint board.png');
		assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
		assert.ok(bytes.readUInt32BE(16) > 200 && bytes.readUInt32BE(20) > 200, 'a picture of the drawing');
		const text = (await exportFromMenu(A, '#menu-export-mmd', 'Sprint board.mmd')).toString('utf8');
		assert.match(text, /^(flowchart|graph) (TD|LR|RL|BT)/);
		assert.ok(text.includes('Login<br>service'), text);
		// Paste a flowchart (Ctrl+V on the board).
		const diagram = 'flowchart LR\n  plan[Plan] --> build[Build]\n  build -->|ship it| done((Done))\n';
		await A.evaluate((t) => navigator.clipboard.writeText(t), diagram);
		const before = [...(await ids(B))];
		await A.locator('#board').focus();
		await key(A, 'Control+v');
		const fresh = await B.waitForFunction((old) => {
			const s = window.flowstate.snapshot().shapes;
			const n = Object.values(s).filter((sh) => !old.includes(sh.id) && sh.id.startsWith('mmd-'));
			return n.length === 5 ? n : null;
		}, before, { timeout: T }).then((h) => h.jsonValue());
		const kinds = fresh.map((sh) => sh.kind).sort();
		assert.deepEqual(kinds, ['connector', 'connector', 'ellipse', 'rect', 'rect']);
		const link = fresh.find((sh) => sh.kind === 'connector' && sh.text === 'ship it');
		assert.ok(link, 'the labelled link');
		linkId = link.id;
		await on(B);
		await B.click('#zoom-fit');
		await B.waitForFunction((id) => { const l = window.flowstate.label(id); return l && l.visible && l.lines.join() === 'ship it'; }, link.id, { timeout: T });
		assert.ok(fresh.some((sh) => sh.kind === 'rect' && sh.text === 'Plan'));
		await A.waitForFunction((want) => window.flowstate.selection().sort().join() === want.sort().join(), fresh.map((sh) => sh.id), { timeout: T });
		await A.locator('#notice').filter({ hasText: 'Imported 3 boxes and 2 links' }).waitFor({ timeout: T });
		await shot(A, 'desktop-mermaid-import');
		// What FlowState cannot import is refused in plain words, with where.
		await A.click('#menu');
		await A.click('#menu-import-mmd');
		await A.fill('#mermaid-dialog textarea', 'flowchart TD\n  subgraph one\n  a --> b\n  end\n');
		await A.click('#mermaid-dialog button[type="submit"]');
		const err = A.locator('#mermaid-dialog .form-error');
		await err.waitFor({ timeout: T });
		const msg = await err.textContent();
		assert.match(msg, /^That Mermaid diagram can't be imported \(line 2, column \d+\)/);
		assert.doesNotMatch(msg, /invalid_mermaid/);
		await A.click('#mermaid-dialog [aria-label="Close"]');
		await key(A, 'Escape');
	});

	await step('phone, 390 px: nothing off screen; touch draws, one finger pans, two fingers pinch-zoom', async () => {
		const ctxP = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2 });
		const P = await ctxP.newPage();
		watch(P, 'Bob phone');
		await on(P);
		await login(P, GW_B, bob, `#/c/${canvasId}`);
		await waitLive(P);
		const fits = () => P.evaluate(() => {
			const out = [];
			if (document.documentElement.scrollWidth > innerWidth)
				out.push(`page is ${document.documentElement.scrollWidth}px wide`);
			for (const el of document.querySelectorAll('button, a, input, .conn')) {
				const r = el.getBoundingClientRect();
				if (!r.width || getComputedStyle(el).visibility === 'hidden')
					continue;
				const inScroller = el.closest('.heatmap-scroll');
				if (!inScroller && (r.left < -1 || r.right > innerWidth + 1))
					out.push(`${el.id || el.textContent.trim().slice(0, 20)} at ${Math.round(r.left)}..${Math.round(r.right)}`);
			}
			const bar = document.querySelector('.toolbar');
			const tb = bar && bar.getBoundingClientRect();
			if (tb && (tb.left < 0 || tb.right > innerWidth))
				out.push('toolbar');
			return out;
		});
		assert.deepEqual(await fits(), []);
		assert.ok(await P.locator('#logout').isVisible());
		await shot(P, 'phone-board');
		// What a phone gets wrong is gathered in `flaws` and asserted at the end of the board
		// part, so that one run names every one of them.
		const flaws = [];
		// The people here: each chip whole, none under the connection badge, and everyone either
		// shown or counted in the "+N" chip.
		await P.waitForFunction(() => document.querySelectorAll('#presence li:not(.more)').length > 1, null, { timeout: T });
		const headerFlaws = () => P.evaluate(() => {
			const out = [];
			const cross = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5 && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
			const badge = document.getElementById('conn').getBoundingClientRect();
			const list = document.getElementById('presence').getBoundingClientRect();
			const chips = [...document.querySelectorAll('#presence li')];
			chips.forEach((li, i) => {
				const r = li.getBoundingClientRect();
				const who = `presence chip ${i + 1} (${li.title || li.textContent})`;
				if (cross(r, badge))
					out.push(`${who} is under the "${document.getElementById('conn').textContent}" badge`);
				if (r.left < list.left - 0.5 || r.right > list.right + 0.5 || r.left < 0 || r.right > innerWidth)
					out.push(`${who} is cut off at ${Math.round(r.left)}..${Math.round(r.right)}`);
			});
			const conn = document.getElementById('conn');
			if (conn.scrollWidth > conn.clientWidth + 1)
				out.push(`the "${conn.textContent}" badge is cut off`);
			const more = document.querySelector('#presence li.more');
			const counted = chips.length - (more ? 1 : 0) + (more ? Number(more.textContent.replace(/\D/g, '')) : 0);
			const here = window.flowstate.snapshot().presence.length;
			if (counted !== here)
				out.push(`presence shows ${counted} of the ${here} people here`);
			return out;
		});
		flaws.push(...await headerFlaws());
		// Every tool in reach without scrolling sideways: on the bar, inside it and on screen, or
		// in its "More tools" menu, on screen.
		const ALL_TOOLS = ['select', 'hand', 'rect', 'ellipse', 'sticky', 'line', 'arrow', 'connector', 'text', 'path', 'comment', 'lock'];
		const reach = () => P.evaluate(() => {
			const bar = document.getElementById('tools');
			const b = bar.getBoundingClientRect();
			const seen = [], off = [];
			for (const el of bar.querySelectorAll('[data-tool], #tool-lock')) {
				const r = el.getBoundingClientRect();
				const name = el.dataset.tool || 'lock';
				const inMenu = !!el.closest('#tool-more-menu');
				const inside = inMenu || (r.left >= b.left - 0.5 && r.right <= b.right + 0.5);
				const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
				if (r.width && inside && r.left >= 0 && r.right <= innerWidth && r.top >= 0 && r.bottom <= innerHeight && el.contains(top))
					seen.push(name);
				else if (r.width && inside && top && !el.contains(top))
					off.push(`${name} under ${top.id || top.className || top.tagName}`);
				else
					off.push(`${name} at ${Math.round(r.left)}..${Math.round(r.right)}`);
			}
			return { seen, off, scroll: bar.scrollWidth > bar.clientWidth ? `the toolbar scrolls sideways (${bar.scrollWidth} px in ${bar.clientWidth} px)` : '' };
		});
		const onBar = await reach();
		if (onBar.scroll)
			flaws.push(onBar.scroll);
		flaws.push(...onBar.off.map((t) => `tool ${t} is off screen or covered`));
		let inMenu = [];
		if (await P.locator('#tool-more').count()) {
			await P.locator('#tool-more').tap();
			await P.locator('#tool-more-menu').waitFor({ timeout: T });
			const opened = await reach();
			inMenu = opened.seen.filter((t) => !onBar.seen.includes(t));
			flaws.push(...opened.off.map((t) => `tool ${t} is off screen or covered (menu open)`));
			await shot(P, 'phone-more-tools');
			// A tool picked from the menu takes a place on the bar while it is the current one.
			const picked = inMenu.find((t) => t !== 'lock');
			await P.locator(`#tool-more-menu [data-tool="${picked}"]`).tap();
			await P.locator(`#tools [data-tool="${picked}"][aria-pressed="true"]`).waitFor({ timeout: T });
			assert.equal(await P.locator('#tool-more-menu').count(), 0, 'the menu closes once a tool is picked');
			assert.ok((await reach()).seen.includes(picked), `${picked} shows on the bar once picked`);
		}
		const missing = ALL_TOOLS.filter((t) => !onBar.seen.includes(t) && !inMenu.includes(t));
		if (missing.length)
			flaws.push(`not reachable without scrolling: ${missing.join(', ')}`);
		// Touch draw with the pen.
		const before = await ids(P);
		await P.locator('#tools [data-tool="path"]').tap();
		await P.locator('#tools [data-tool="path"][aria-pressed="true"]').waitFor({ timeout: T });
		const s0 = await at(P, 60, 300);
		await touch(P, Array.from({ length: 12 }, (_, i) => [[s0.x + i * 10, s0.y + (i % 2) * 15]]));
		const pathId = await newShape(P, 'path', before);
		await waitShape(A, pathId, 's && s.points.length >= 6', 'touch-drawn path');
		// One finger on empty canvas pans (select tool).
		await P.locator('#tools [data-tool="select"]').tap();
		await P.locator('#tools [data-tool="select"][aria-pressed="true"]').waitFor({ timeout: T });
		const v0 = await viewport(P);
		const box = await P.locator('#board').boundingBox();
		const ex = box.x + 40, ey = box.y + box.height - 200;
		await touch(P, Array.from({ length: 8 }, (_, i) => [[ex + i * 10, ey - i * 5]]));
		const v1 = await viewport(P);
		assert.ok(Math.abs(v1.x - v0.x - 70) < 2 && Math.abs(v1.y - v0.y + 35) < 2, `one-finger pan ${JSON.stringify([v0, v1])}`);
		assert.equal(v1.scale, v0.scale);
		// Two fingers moving apart zoom in about their midpoint.
		const cx = box.x + box.width / 2, cy = box.y + box.height / 2;
		await touch(P, Array.from({ length: 8 }, (_, i) => [[cx - 30 - i * 12, cy], [cx + 30 + i * 12, cy]]));
		const v2 = await viewport(P);
		assert.ok(v2.scale > v1.scale * 2, `pinch zoom ${v1.scale} -> ${v2.scale}`);
		assert.deepEqual(await fits(), []);
		await shot(P, 'phone-after-pinch');
		// The Mermaid link's label reads on its line: a patch of the canvas colour lies between the
		// line and the text (in the group's drawing order), and the line is drawn up to the patch but
		// not across it. Fit, then pinch open about the link to read it.
		await P.locator('#zoom-fit').tap();
		const link = await P.evaluate((id) => window.flowstate.snapshot().shapes[id], linkId);
		const [ca, cb] = [await centre(P, link.from), await centre(P, link.to)];
		const mid = { x: (ca.x + cb.x) / 2, y: (ca.y + cb.y) / 2 };
		for (let i = 0; i < 4 && (await viewport(P)).scale < 1.2; i++) {
			const lp = await at(P, mid.x, mid.y);
			const spread = Math.min(lp.y - box.y, box.y + box.height - lp.y, 170) - 10;
			await touch(P, Array.from({ length: 10 }, (_, j) => { const d = 20 + (spread - 20) * j / 9; return [[lp.x, lp.y - d], [lp.x, lp.y + d]]; }));
		}
		// Then bring it to the middle of the screen with the hand tool (from the menu on a phone).
		const lp = await at(P, mid.x, mid.y);
		const handInMenu = await P.locator('#tools [data-tool="hand"]').count() === 0;
		if (handInMenu)
			await P.locator('#tool-more').tap();
		await P.locator('#tools [data-tool="hand"]').tap();
		await P.locator('#tools [data-tool="hand"][aria-pressed="true"]').waitFor({ timeout: T });
		const [gx, gy] = [box.x + box.width / 2 - lp.x, box.y + box.height / 2 - lp.y];
		await touch(P, Array.from({ length: 10 }, (_, i) => [[lp.x + (gx * i) / 9, lp.y - 60 + (gy * i) / 9]]));
		await P.locator('#tools [data-tool="select"]').tap();
		await P.waitForFunction((id) => { const l = window.flowstate.label(id); return l && l.visible; }, linkId, { timeout: T });
		const label = await P.evaluate((id) => window.flowstate.label(id), linkId);
		const { bg, box: text } = label;
		if (!bg || !bg.visible) {
			flaws.push('the connector label has no background');
		} else {
			if (!(label.bodyZ < bg.z && bg.z < text.z))
				flaws.push(`the label background is not between the line and the text (line ${label.bodyZ}, background ${bg.z}, text ${text.z})`);
			if (bg.x > text.x || bg.y > text.y || bg.x + bg.width < text.x + text.width || bg.y + bg.height < text.y + text.height)
				flaws.push(`the label background ${JSON.stringify(bg)} does not cover the text ${JSON.stringify(text)}`);
			const canvasColour = await P.evaluate(() => getComputedStyle(document.getElementById('board')).backgroundColor);
			if (canvasColour !== 'rgb(255, 255, 255)' || !/^#fff(fff)?$/i.test(bg.fill))
				flaws.push(`the label background (${bg.fill}) is not the canvas colour (${canvasColour})`);
		}
		// As drawn, along the line (y = its middle): dark just before the text's box, the canvas
		// colour in the box's margin left of the text (where the line would show through).
		const samples = ({ id, y }) => {
			const l = window.flowstate.label(id);
			const before = window.flowstate.toScreen(l.box.x - 4, y), margin = window.flowstate.toScreen(l.box.x + (l.box.width - l.widest) / 4, y);
			return { line: window.flowstate.mainPixel(before.x, before.y), margin: window.flowstate.mainPixel(margin.x, margin.y) };
		};
		const probeAt = { id: linkId, y: text.y + text.height / 2 };
		const lum = ([r, g, b, a]) => (a < 128 ? 255 : (r + g + b) / 3);
		const clear = (p) => lum(p.line) < 170 && lum(p.margin) > 240;
		let pixels = await P.evaluate(samples, probeAt);
		for (const until = Date.now() + T; !clear(pixels) && Date.now() < until; pixels = await P.evaluate(samples, probeAt))
			await P.waitForTimeout(100); // the main layer repaints once the view settles
		const drawn = clear(pixels);
		if (!drawn)
			flaws.push(`the line runs through the label: pixels ${JSON.stringify(pixels)}`);
		await shot(P, 'phone-connector-label');
		assert.deepEqual(flaws, []);
		await P.goto(`${GW_B}/#/`);
		await P.locator('#workspace-list').waitFor({ timeout: T });
		assert.deepEqual(await fits(), []);
		await shot(P, 'phone-home');
		await ctxP.close();
		front = null;
	});

	await step('both users converge on the state the server replays', async () => {
		const want = await A.evaluate(async (id) => {
			const { access_token: token } = JSON.parse(localStorage.getItem('flowstate.session'));
			const res = await fetch(`/api/v1/canvases/${id}/state`, { headers: { Authorization: `Bearer ${token}` } });
			return res.json();
		}, canvasId);
		for (const page of [A, B])
			await page.waitForFunction((v) => window.flowstate.snapshot().version === v, want.version, { timeout: T });
		const [sa, sb] = [await snap(A), await snap(B)];
		assert.equal(canonical(sa.shapes), canonical(want.shapes), "Ada's state differs from the server's");
		assert.equal(canonical(sb.shapes), canonical(want.shapes), "Bob's state differs from the server's");
		assert.equal(sa.outbox, 0);
		assert.equal(sb.outbox, 0);
		log(`  converged at v${want.version} with ${Object.keys(want.shapes).length} shapes`);
		await on(B);
		await B.click('#zoom-fit');
		await B.waitForTimeout(300);
		await shot(B, 'desktop-bob');
	});

	await step('team: rename a canvas, change a role, the last owner is kept, delete a canvas', async () => {
		const H = await ctxA.newPage();
		watch(H, 'Ada home');
		await on(H);
		await H.goto(`${GW_A}/#/`);
		await H.locator('#workspace-list a', { hasText: 'Design' }).click();
		await H.locator(`#rename-canvas-${canvasId}`).click();
		await H.fill(`#rename-canvas-${canvasId}-input`, 'Sprint board v2');
		await H.keyboard.press('Enter');
		await H.locator('#canvas-list a', { hasText: 'Sprint board v2' }).waitFor({ timeout: T });
		const bobRow = H.locator('#member-list li').filter({ hasText: bob.email });
		await bobRow.locator('select').selectOption('commenter');
		await H.waitForFunction((e) => {
			const li = [...document.querySelectorAll('#member-list li')].find((l) => l.textContent.includes(e));
			return li && li.querySelector('select').value === 'commenter';
		}, bob.email, { timeout: T });
		// Bob's open canvas follows at once: drawing tools off, commenting on.
		await B.waitForFunction(() => window.flowstate.state().role === 'commenter', null, { timeout: T });
		assert.equal(await B.locator('#tools [data-tool="rect"]').isDisabled(), true);
		assert.equal(await B.locator('#tools [data-tool="comment"]').isDisabled(), false);
		await bobRow.locator('select').selectOption('editor');
		await B.waitForFunction(() => window.flowstate.state().role === 'editor', null, { timeout: T });
		assert.equal(await B.locator('#tools [data-tool="rect"]').isDisabled(), false);
		// Removing Carol closes her canvas on her page, said plainly.
		const carolRow = H.locator('#member-list li').filter({ hasText: carol.email });
		const carolId = await carolRow.getAttribute('data-user-id');
		await H.click(`#remove-${carolId}`);
		await H.click(`#remove-${carolId}-yes`);
		await carolRow.waitFor({ state: 'detached', timeout: T });
		await C.locator('#conn[data-state="failed"]').waitFor({ timeout: T });
		await C.locator('#notice').filter({ hasText: 'You no longer have access to this canvas.' }).waitFor({ timeout: T });
		await shot(C, 'desktop-carol-removed');
		await ctxC.close();
		front = null;
		await on(H);
		const adaRow = H.locator('#member-list li').filter({ hasText: ada.email });
		await adaRow.locator('select').selectOption('viewer');
		await H.locator('#home-error').filter({ hasText: 'A workspace needs at least one owner' }).waitFor({ timeout: T });
		await H.fill('#canvas-form input[name="name"]', 'Scratch');
		await H.click('#canvas-form button');
		await H.waitForURL(/#\/c\//, { timeout: T });
		const scratch = H.url().split('/').pop();
		await waitLive(H);
		await H.goto(`${GW_A}/#/`);
		await H.locator('#workspace-list a', { hasText: 'Design' }).click();
		await H.locator(`#delete-canvas-${scratch}`).click();
		await H.locator(`#delete-canvas-${scratch}-yes`).click();
		await H.locator(`#canvas-list li[data-canvas-id="${scratch}"]`).waitFor({ state: 'detached', timeout: T });
		// Rename the workspace; create another one and delete it.
		await H.click('#rename-workspace');
		await H.fill('#rename-workspace-input', 'Design team');
		await H.keyboard.press('Enter');
		await H.locator('#workspace-title').filter({ hasText: 'Design team' }).waitFor({ timeout: T });
		await H.fill('#workspace-form input[name="name"]', 'Temporary');
		await H.click('#workspace-form button');
		await H.locator('#workspace-title').filter({ hasText: 'Temporary' }).waitFor({ timeout: T });
		await H.click('#delete-workspace');
		await H.click('#delete-workspace-yes');
		await H.locator('#workspace-list a', { hasText: 'Temporary' }).waitFor({ state: 'detached', timeout: T });
		await H.locator('#workspace-list a', { hasText: 'Design team' }).waitFor({ timeout: T });
		await shot(H, 'desktop-team');
		await H.close();
		front = null;
	});

	await step('logging out ends the session on every tab of that browser', async () => {
		await on(B);
		await B.click('#logout');
		await B.locator('#auth-form').waitFor({ timeout: T });
		await A.locator('#presence li').filter({ hasText: 'Bob' }).waitFor({ state: 'detached', timeout: T });
		await B.reload();
		await B.locator('#auth-form').waitFor({ timeout: T });
	});

	return [ctxA, ctxB];
}

async function main() {
	fs.mkdirSync(ARTIFACTS, { recursive: true });
	for (const f of fs.readdirSync(ARTIFACTS)) {
		if (f.endsWith('.png') || f.endsWith('.svg'))
			fs.rmSync(path.join(ARTIFACTS, f), { force: true });
	}
	const browser = await chromium.launch({
		executablePath: CHROMIUM,
		headless: true,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		       '--disable-background-networking', '--disable-component-update', '--disable-sync'],
	});
	let failed = null;
	try {
		await scenario(browser);
	} catch (e) {
		failed = e;
	}
	if (!failed && pageErrors.length)
		failed = new Error(`uncaught errors in the pages:\n  ${pageErrors.join('\n  ')}`);
	if (failed) {
		console.error(`web-e2e: FAILED: ${failed.stack || failed}`);
		let i = 0;
		for (const ctx of browser.contexts()) {
			for (const p of ctx.pages()) {
				try {
					console.error(`  page ${i}: url=${p.url()} state=${JSON.stringify(await p.evaluate(() => window.flowstate && window.flowstate.state()))}`);
					await p.screenshot({ path: path.join(ARTIFACTS, `failed-${i}.png`) });
				} catch {
					// the page may be gone
				}
				i++;
			}
		}
		if (pageErrors.length)
			console.error(`  page errors:\n    ${pageErrors.join('\n    ')}`);
	}
	await browser.close();
	log(`artifacts in ${ARTIFACTS}`);
	if (failed) {
		console.log(`${stepCount - 1} passed, 1 failed`);
		process.exit(1);
	}
	console.log(`${stepCount} passed, 0 failed`);
}

await main();
