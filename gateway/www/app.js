// FlowState web client: views, routing and the drawing tools. The protocol lives in api.js
// (REST, tokens) and ws.js (the canvas connection and its copy of the state), the drawing in
// render.js, the reducer in model.js.
//
// Routes (location.hash): #/ workspaces, #/w/<workspace id>, #/c/<canvas id>.
//
// What the user sees on a canvas is the server's state (applied in version order) plus local
// overlays that are dropped as soon as the op they stand for is committed and delivered back:
// a shape being dragged or whose move is in flight (`overrides`), shapes created but not yet
// committed (`pending`), and the shape being drawn (`draft`). Nothing is applied optimistically
// to the state itself, so it never has to be rolled back.

import { Api, ApiError } from './api.js';
import { CanvasConnection, uuid } from './ws.js';
import { renderCursors, renderShapes, renderStrokes, shapeElement } from './render.js';
import { completeShape } from './model.js';

const $ = (sel) => document.querySelector(sel);
const api = new Api();

const MIN_DRAG = 3; // px before a press becomes a drag
const STROKE_FLUSH_MS = 50;
const MAX_PATH_POINTS = 10000;
const DEFAULT_SIZE = { rect: [160, 100], ellipse: [140, 100], sticky: [180, 140] };

let me = null;
let conn = null;
let canvasMeta = null;

const ui = {
	tool: 'select',
	selectedId: null,
	overrides: new Map(), // shape id -> {x, y, opId}
	pending: new Map(), // client_op_id -> shape (created, not yet delivered back)
	draft: null, // shape being drawn
	drag: null,
	pan: { x: 0, y: 0 },
	cursors: new Map(), // session id -> {x, y}
	strokes: new Map(), // session id + ':' + stroke id -> {points, color, session, expires}
	renderQueued: false,
};

// ---- small helpers ----------------------------------------------------------------------------

const round1 = (v) => Math.round(v * 10) / 10;

function setStatus(text, kind = '') {
	const s = $('#status');
	s.textContent = text;
	s.dataset.kind = kind;
}

function errorText(e) {
	if (e instanceof ApiError)
		return e.code ? `${e.message} (${e.code})` : e.message;
	return String(e && e.message ? e.message : e);
}

function link(href, text) {
	const a = document.createElement('a');
	a.href = href;
	a.textContent = text;
	return a;
}

function li(...children) {
	const item = document.createElement('li');
	item.append(...children);
	return item;
}

function tag(text) {
	const s = document.createElement('span');
	s.className = 'tag';
	s.textContent = text;
	return s;
}

function show(view) {
	for (const v of ['auth', 'home', 'canvas'])
		$(`#view-${v}`).hidden = v !== view;
	$('#logout').hidden = $('#whoami').hidden = view === 'auth';
	if (me)
		$('#whoami').textContent = `${me.display_name} · ${me.email}`;
}

function setCrumbs(...parts) {
	const c = $('#crumbs');
	c.replaceChildren();
	parts.forEach((p, i) => {
		if (i)
			c.append(' / ');
		c.append(typeof p === 'string' ? p : p);
	});
}

// ---- auth -------------------------------------------------------------------------------------

let authMode = 'login';

function setAuthMode(mode) {
	authMode = mode;
	for (const b of document.querySelectorAll('[data-auth-tab]'))
		b.setAttribute('aria-selected', String(b.dataset.authTab === mode));
	for (const e of document.querySelectorAll('.register-only'))
		e.hidden = mode !== 'register';
	$('#auth-submit').textContent = mode === 'register' ? 'Create account' : 'Log in';
	$('#auth-form').password.autocomplete = mode === 'register' ? 'new-password' : 'current-password';
	$('#auth-error').textContent = '';
}

async function onAuthSubmit(ev) {
	ev.preventDefault();
	const f = ev.target;
	const email = f.email.value.trim();
	const password = f.password.value;
	$('#auth-error').textContent = '';
	$('#auth-submit').disabled = true;
	try {
		if (authMode === 'register')
			await api.register(email, password, f.display_name.value.trim());
		await api.login(email, password);
		me = await api.me();
		f.password.value = '';
		route();
	} catch (e) {
		$('#auth-error').textContent = errorText(e);
	} finally {
		$('#auth-submit').disabled = false;
	}
}

async function onLogout() {
	closeCanvas();
	try {
		await api.logout();
	} catch {
		// The server may be unreachable; the tokens are forgotten anyway.
	}
	me = null;
	location.hash = '#/';
	route();
}

// ---- workspaces and canvases ------------------------------------------------------------------

async function showHome(workspaceId) {
	show('home');
	setCrumbs('Workspaces');
	$('#home-error').textContent = '';
	let list;
	try {
		list = await api.workspaces();
	} catch (e) {
		$('#home-error').textContent = errorText(e);
		return;
	}
	const current = workspaceId || (list[0] && list[0].id);
	$('#workspace-list').replaceChildren(...list.map((w) => {
		const item = li(link(`#/w/${w.id}`, w.name), tag(w.role));
		item.dataset.workspaceId = w.id;
		if (w.id === current)
			item.classList.add('current');
		return item;
	}));
	const ws = list.find((w) => w.id === current);
	$('#workspace-empty').hidden = !!ws;
	$('#workspace-detail').hidden = !ws;
	if (!ws) {
		if (workspaceId)
			$('#home-error').textContent = 'workspace not found';
		return;
	}
	$('#workspace-detail').dataset.workspaceId = ws.id;
	$('#workspace-title').textContent = ws.name;
	$('#workspace-role').textContent = ws.role;
	$('#canvas-form').hidden = ws.role === 'viewer';
	$('#member-form').hidden = ws.role !== 'owner';
	setCrumbs(link('#/', 'Workspaces'), ws.name);
	try {
		const [canvases, members] = await Promise.all([api.canvases(ws.id), api.members(ws.id)]);
		$('#canvas-list').replaceChildren(...canvases.map((c) => {
			const item = li(link(`#/c/${c.id}`, c.name));
			item.dataset.canvasId = c.id;
			return item;
		}));
		if (!canvases.length)
			$('#canvas-list').replaceChildren(li(Object.assign(document.createElement('span'),
				{ className: 'muted', textContent: 'No canvases yet.' })));
		$('#member-list').replaceChildren(...members.map((m) =>
			li(document.createTextNode(`${m.display_name} `),
			   Object.assign(document.createElement('span'), { className: 'muted', textContent: m.email }),
			   tag(m.role))));
	} catch (e) {
		$('#home-error').textContent = errorText(e);
	}
}

function currentWorkspaceId() {
	return $('#workspace-detail').dataset.workspaceId;
}

async function onCreateWorkspace(ev) {
	ev.preventDefault();
	const f = ev.target;
	try {
		const ws = await api.createWorkspace(f.name.value.trim());
		f.reset();
		location.hash = `#/w/${ws.id}`;
	} catch (e) {
		$('#home-error').textContent = errorText(e);
	}
}

async function onCreateCanvas(ev) {
	ev.preventDefault();
	const f = ev.target;
	try {
		const c = await api.createCanvas(currentWorkspaceId(), f.name.value.trim());
		f.reset();
		location.hash = `#/c/${c.id}`;
	} catch (e) {
		$('#home-error').textContent = errorText(e);
	}
}

async function onAddMember(ev) {
	ev.preventDefault();
	const f = ev.target;
	try {
		await api.addMember(currentWorkspaceId(), f.email.value.trim(), f.role.value);
		f.reset();
		showHome(currentWorkspaceId());
	} catch (e) {
		$('#home-error').textContent = errorText(e);
	}
}

// ---- the canvas view --------------------------------------------------------------------------

const board = () => $('#board');
const canEdit = () => conn && (conn.role === 'editor' || conn.role === 'owner');

async function showCanvas(id) {
	show('canvas');
	if (conn && conn.canvasId === id)
		return;
	closeCanvas();
	setStatus('');
	setCrumbs(link('#/', 'Workspaces'));
	try {
		canvasMeta = await api.canvas(id);
	} catch (e) {
		setStatus(`cannot open canvas: ${errorText(e)}`, 'error');
		setConnBadge('failed', 'unavailable');
		return;
	}
	setCrumbs(link('#/', 'Workspaces'), link(`#/w/${canvasMeta.workspace_id}`, 'workspace'),
		  canvasMeta.name);
	api.workspace(canvasMeta.workspace_id).then((w) => {
		if (canvasMeta && canvasMeta.workspace_id === w.id)
			setCrumbs(link('#/', 'Workspaces'), link(`#/w/${w.id}`, w.name), canvasMeta.name);
	}).catch(() => {});
	document.title = `${canvasMeta.name} · FlowState`;
	ui.pan = { x: 0, y: 0 };
	applyPan();
	openConnection(id);
	setTool('select');
}

function closeCanvas() {
	if (conn)
		conn.close();
	conn = null;
	canvasMeta = null;
	ui.selectedId = null;
	ui.overrides.clear();
	ui.pending.clear();
	ui.draft = null;
	ui.drag = null;
	ui.cursors.clear();
	ui.strokes.clear();
	document.title = 'FlowState';
	for (const id of ['#layer-shapes', '#layer-draft', '#layer-strokes', '#layer-cursors'])
		$(id).replaceChildren();
	$('#presence').replaceChildren();
	$('#version').textContent = '';
}

function setConnBadge(state, text) {
	const b = $('#conn');
	b.dataset.state = state;
	b.textContent = text;
}

function openConnection(id) {
	const c = new CanvasConnection(api, id);
	conn = c;
	const on = (type, fn) => c.addEventListener(type, (ev) => {
		if (conn === c)
			fn(ev.detail);
	});
	on('status', (d) => {
		if (d.state === 'live')
			setConnBadge('live', 'live');
		else if (d.state === 'connecting')
			setConnBadge('connecting', 'connecting…');
		else if (d.state === 'reconnecting')
			setConnBadge('reconnecting', d.retryIn !== undefined
				? `reconnecting in ${(d.retryIn / 1000).toFixed(1)} s (attempt ${d.attempt})…`
				: `reconnecting (attempt ${d.attempt})…`);
		else if (d.state === 'failed') {
			setConnBadge('failed', 'disconnected');
			setStatus(`cannot connect: ${d.reason}`, 'error');
		} else
			setConnBadge(d.state, d.state);
		if (d.state === 'reconnecting' && d.reason)
			setStatus(`connection lost (${d.reason}); edits are kept and sent on reconnect`, 'warn');
		updateToolAvailability();
		showVersion();
	});
	on('sync', (d) => {
		ui.cursors.clear();
		ui.strokes.clear();
		if (ui.selectedId && !c.shapes.has(ui.selectedId))
			ui.selectedId = null;
		if (c.role === 'viewer')
			setStatus('view only: your role on this workspace is viewer', 'warn');
		else
			setStatus(`synced at v${d.version} (${d.mode === 'state' ? 'full state' : 'missed ops'})`, 'ok');
		showVersion();
		scheduleRender();
	});
	on('settled', (d) => {
		settleLocal(d.client_op_id);
		scheduleRender();
	});
	on('op', ({ operation: op }) => {
		const sid = op.payload && op.payload.shape_id;
		if (op.type === 'create_shape') {
			for (const k of ui.strokes.keys()) {
				if (k.endsWith(':' + sid))
					ui.strokes.delete(k);
			}
		}
		if (op.type === 'delete_shape' && sid === ui.selectedId && !c.shapes.has(sid))
			ui.selectedId = null;
		showVersion();
		scheduleRender();
	});
	on('presence', () => {
		renderPresence();
		for (const sid of ui.cursors.keys()) {
			if (!c.presence.has(sid))
				ui.cursors.delete(sid);
		}
		scheduleRender();
	});
	on('cursor', (m) => {
		ui.cursors.set(m.session_id, { x: m.x, y: m.y });
		scheduleRender();
	});
	on('stroke', (m) => {
		const key = `${m.session_id}:${m.stroke_id}`;
		let s = ui.strokes.get(key);
		if (!s) {
			const who = c.presence.get(m.session_id);
			s = { points: [], color: who ? who.color : '#888888', session: m.session_id };
			ui.strokes.set(key, s);
		}
		s.points.push(...m.points);
		// The finished path arrives as a create_shape; drop the preview if it never does.
		s.expires = Date.now() + (m.done ? 3000 : 30000);
		if (m.done)
			setTimeout(scheduleRender, 3100);
		scheduleRender();
	});
	on('ack', (m) => {
		setStatus(`ack v${m.version}${m.duplicate ? ' (duplicate)' : ''}`, 'ok');
		showVersion();
	});
	on('error', (m) => setStatus(`error ${m.code}: ${m.detail}${m.retryable ? ' (retrying)' : ''}`, 'error'));
	on('rejected', (d) => {
		settleLocal(d.client_op_id);
		scheduleRender();
	});
	const onHistory = (m) => {
		const what = m.type;
		let text;
		if (m.status === 'empty')
			text = `${what}: nothing to ${what}`;
		else if (m.status === 'noop')
			text = `${what}: nothing changed`;
		else
			text = `${what}: ${m.status}${m.version !== undefined ? ` (v${m.version})` : ''}`;
		const kept = m.kept && Object.keys(m.kept).length ? Object.entries(m.kept)
			.map(([id, props]) => `${id.slice(0, 8)}: ${props.join(', ')}`).join('; ') : '';
		if (kept)
			text += ` — kept others' edits (${kept})`;
		setStatus(text, m.status === 'applied' ? 'ok' : m.status === 'conflict' ? 'error' : 'warn');
	};
	on('undo', onHistory);
	on('redo', onHistory);
	c.start();
}

function settleLocal(opId) {
	if (!opId)
		return;
	ui.pending.delete(opId);
	for (const [id, o] of ui.overrides) {
		if (o.opId === opId)
			ui.overrides.delete(id);
	}
}

function showVersion() {
	const v = $('#version');
	const unsent = conn ? conn.outbox.size : 0;
	v.textContent = conn && conn.version !== null
		? `v${conn.version} · ${conn.shapes.size} shapes${unsent ? ` · ${unsent} not yet committed` : ''}` : '';
	v.dataset.version = conn && conn.version !== null ? String(conn.version) : '';
}

function renderPresence() {
	const list = [...conn.presence.values()];
	const mine = conn.you && conn.you.session_id;
	list.sort((a, b) => (a.session_id === mine ? -1 : b.session_id === mine ? 1 : a.display_name.localeCompare(b.display_name)));
	$('#presence').replaceChildren(...list.map((p) => {
		const item = li(document.createTextNode(p.display_name + (p.session_id === mine ? ' (you)' : '')));
		item.style.setProperty('--chip', p.color);
		item.dataset.sessionId = p.session_id;
		item.dataset.userId = p.user_id;
		item.title = p.session_id === mine ? 'you' : `${p.display_name}`;
		if (p.session_id === mine)
			item.classList.add('me');
		return item;
	}));
}

// Rendering is coalesced to one pass per frame. requestAnimationFrame does not run in hidden
// tabs, so a timer backs it up: a background tab still follows the canvas.
function scheduleRender() {
	if (ui.renderQueued)
		return;
	ui.renderQueued = true;
	const run = () => {
		if (!ui.renderQueued)
			return;
		ui.renderQueued = false;
		render();
	};
	requestAnimationFrame(run);
	setTimeout(run, 100);
}

function render() {
	if (!conn)
		return;
	const overrides = new Map([...ui.overrides].map(([id, o]) => [id, { x: o.x, y: o.y }]));
	renderShapes($('#layer-shapes'), conn.shapes, {
		selectedId: ui.selectedId, overrides, pending: [...ui.pending.values()],
	});
	$('#layer-draft').replaceChildren(...(ui.draft ? [shapeElement(ui.draft, conn.shapes)] : []));
	const now = Date.now();
	for (const [k, s] of ui.strokes) {
		if (s.expires < now)
			ui.strokes.delete(k);
	}
	renderStrokes($('#layer-strokes'), [...ui.strokes.values()]);
	const cursors = [];
	for (const [sid, pos] of ui.cursors) {
		const who = conn.presence.get(sid);
		if (who)
			cursors.push({ session_id: sid, x: pos.x, y: pos.y, color: who.color, name: who.display_name });
	}
	renderCursors($('#layer-cursors'), cursors);
	$('#delete').disabled = !ui.selectedId || !canEdit();
}

// ---- tools ------------------------------------------------------------------------------------

function setTool(tool) {
	if (!canEdit() && tool !== 'select' && conn && conn.role)
		tool = 'select';
	ui.tool = tool;
	board().dataset.tool = tool;
	for (const b of document.querySelectorAll('#tools [data-tool]'))
		b.setAttribute('aria-pressed', String(b.dataset.tool === tool));
}

function updateToolAvailability() {
	const edit = canEdit() || !conn || !conn.role;
	for (const b of document.querySelectorAll('#tools [data-tool]'))
		b.disabled = b.dataset.tool !== 'select' && !edit;
	$('#undo').disabled = $('#redo').disabled = !edit;
	if (!edit && ui.tool !== 'select')
		setTool('select');
}

function currentStyle(kind) {
	const stroke = $('#stroke-color').value;
	const fill = $('#fill-on').checked ? $('#fill-color').value : 'none';
	return { stroke, fill, width: kind === 'sticky' || kind === 'text' ? 1 : 2, opacity: 1 };
}

function topZ() {
	let z = 0;
	for (const s of conn.shapes.values())
		z = Math.max(z, s.z);
	for (const s of ui.pending.values())
		z = Math.max(z, s.z);
	return Math.min(1e9, Math.floor(z) + 1); // z is bounded by the schema
}

// Every op goes through the connection's outbox (sent now, or after the next sync).
function submit(type, payload) {
	const opId = conn.submit(type, payload);
	showVersion();
	return opId;
}

// Commits a create_shape and shows the shape as pending until it comes back committed. A
// path passes the id its strokes were relayed under, so other clients can swap the transient
// stroke for the committed shape.
function createShape(fields, { id = uuid(), select = true } = {}) {
	const payload = { shape_id: id, z: topZ(), ...fields };
	const shape = completeShape(payload);
	const opId = submit('create_shape', payload);
	if (shape)
		ui.pending.set(opId, shape);
	if (select)
		ui.selectedId = id;
	scheduleRender();
	return id;
}

function toCanvas(ev) {
	const m = $('#viewport').getScreenCTM();
	const p = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(m.inverse());
	return { x: p.x, y: p.y };
}

function applyPan() {
	$('#viewport').setAttribute('transform', `translate(${ui.pan.x} ${ui.pan.y})`);
}

// The shape under the pointer. Not ev.target: while the board holds the pointer capture, clicks
// and double-clicks are targeted at the board itself.
function shapeAt(ev) {
	const hit = document.elementFromPoint(ev.clientX, ev.clientY);
	const g = hit && hit.closest && hit.closest('#layer-shapes [data-shape-id]');
	return g ? g.dataset.shapeId : null;
}

function onPointerDown(ev) {
	if (!conn || ev.button !== 0)
		return;
	board().focus();
	const p = toCanvas(ev);
	board().setPointerCapture(ev.pointerId);
	const tool = ui.tool;
	if (tool === 'select') {
		const id = shapeAt(ev);
		if (id && conn.shapes.has(id)) {
			ui.selectedId = id;
			const s = conn.shapes.get(id);
			const o = ui.overrides.get(id);
			ui.drag = { mode: 'move', id, start: p, orig: o ? { x: o.x, y: o.y } : { x: s.x, y: s.y }, moved: false };
		} else {
			ui.selectedId = null;
			ui.drag = { mode: 'pan', startClient: { x: ev.clientX, y: ev.clientY }, orig: { ...ui.pan } };
			board().classList.add('panning');
		}
		scheduleRender();
		return;
	}
	if (!canEdit())
		return;
	if (tool === 'text') {
		const text = prompt('Text');
		if (text) {
			const lines = text.split('\n');
			createShape({
				kind: 'text', x: round1(p.x), y: round1(p.y), text,
				w: Math.max(...lines.map((l) => l.length)) * 8.5, h: lines.length * 20,
				style: currentStyle('text'),
			});
		}
		return;
	}
	if (tool === 'path') {
		const id = uuid();
		ui.drag = { mode: 'path', id, points: [[round1(p.x), round1(p.y)]], sent: 0 };
		ui.drag.timer = setInterval(flushStroke, STROKE_FLUSH_MS);
		updatePathDraft();
		return;
	}
	ui.drag = { mode: 'create', kind: tool, start: p, cur: p };
	updateCreateDraft();
}

function onPointerMove(ev) {
	if (!conn)
		return;
	const p = toCanvas(ev);
	conn.cursor(p.x, p.y);
	const d = ui.drag;
	if (!d)
		return;
	if (d.mode === 'move') {
		const dx = p.x - d.start.x, dy = p.y - d.start.y;
		if (!d.moved && Math.hypot(dx, dy) < MIN_DRAG)
			return;
		if (!canEdit())
			return;
		d.moved = true;
		ui.overrides.set(d.id, { x: round1(d.orig.x + dx), y: round1(d.orig.y + dy), opId: null });
		scheduleRender();
	} else if (d.mode === 'pan') {
		ui.pan = { x: d.orig.x + ev.clientX - d.startClient.x, y: d.orig.y + ev.clientY - d.startClient.y };
		applyPan();
	} else if (d.mode === 'create') {
		d.cur = p;
		updateCreateDraft();
	} else if (d.mode === 'path') {
		const last = d.points[d.points.length - 1];
		if (d.points.length < MAX_PATH_POINTS && Math.hypot(p.x - last[0], p.y - last[1]) >= 1.5) {
			d.points.push([round1(p.x), round1(p.y)]);
			updatePathDraft();
		}
	}
}

function onPointerUp(ev) {
	const d = ui.drag;
	ui.drag = null;
	board().classList.remove('panning');
	if (board().hasPointerCapture(ev.pointerId))
		board().releasePointerCapture(ev.pointerId);
	if (!d || !conn)
		return;
	if (d.mode === 'move') {
		const o = ui.overrides.get(d.id);
		if (d.moved && o && o.opId === null) {
			if (ev.type === 'pointercancel') {
				ui.overrides.delete(d.id);
			} else {
				o.opId = submit('move_shape', { shape_id: d.id, x: o.x, y: o.y });
			}
		}
		scheduleRender();
	} else if (d.mode === 'create') {
		ui.draft = null;
		if (ev.type !== 'pointercancel')
			finishCreate(d);
		scheduleRender();
	} else if (d.mode === 'path') {
		clearInterval(d.timer);
		ui.draft = null;
		flushStroke(d, true);
		if (ev.type !== 'pointercancel')
			finishPath(d);
		scheduleRender();
	}
}

function boxOf(d) {
	const x = Math.min(d.start.x, d.cur.x), y = Math.min(d.start.y, d.cur.y);
	return { x: round1(x), y: round1(y), w: round1(Math.abs(d.cur.x - d.start.x)), h: round1(Math.abs(d.cur.y - d.start.y)) };
}

function createFields(d) {
	if (d.kind === 'arrow') {
		const dx = round1(d.cur.x - d.start.x), dy = round1(d.cur.y - d.start.y);
		return {
			kind: 'arrow', x: round1(d.start.x), y: round1(d.start.y), w: Math.abs(dx), h: Math.abs(dy),
			points: [[0, 0], [dx, dy]], style: currentStyle('arrow'),
		};
	}
	let box = boxOf(d);
	if (box.w < MIN_DRAG && box.h < MIN_DRAG) {
		// A click: a default-sized shape centred on it.
		const [w, h] = DEFAULT_SIZE[d.kind];
		box = { x: round1(d.start.x - w / 2), y: round1(d.start.y - h / 2), w, h };
	}
	return { kind: d.kind, ...box, style: currentStyle(d.kind) };
}

function updateCreateDraft() {
	const d = ui.drag;
	ui.draft = completeShape({ shape_id: 'draft', ...createFields(d) });
	scheduleRender();
}

function finishCreate(d) {
	const fields = createFields(d);
	if (d.kind === 'arrow' && fields.w < MIN_DRAG && fields.h < MIN_DRAG)
		return;
	createShape(fields);
	if (d.kind === 'sticky')
		setStatus('double-click the note to write on it');
}

function updatePathDraft() {
	const d = ui.drag;
	ui.draft = completeShape({
		shape_id: 'draft', kind: 'path', x: 0, y: 0, points: d.points, style: currentStyle('path'),
	});
	scheduleRender();
}

// Sends the points drawn since the last flush as a transient `stroke` (never stored).
function flushStroke(d = ui.drag, done = false) {
	if (!d || d.mode !== 'path' || !conn)
		return;
	while (d.sent < d.points.length || done) {
		const chunk = d.points.slice(d.sent, d.sent + 512);
		const last = d.sent + chunk.length >= d.points.length;
		conn.stroke(d.id, chunk, done && last);
		d.sent += chunk.length;
		if (last)
			break;
	}
}

function finishPath(d) {
	let pts = d.points;
	if (pts.length === 1)
		pts = [pts[0], [pts[0][0] + 0.1, pts[0][1] + 0.1]];
	const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
	const x = Math.min(...xs), y = Math.min(...ys);
	const rel = pts.map(([px, py]) => [round1(px - x), round1(py - y)]);
	createShape({
		kind: 'path', x, y, w: round1(Math.max(...xs) - x), h: round1(Math.max(...ys) - y),
		points: rel, style: currentStyle('path'),
	}, { id: d.id, select: false });
}

function onDoubleClick(ev) {
	if (!conn || ui.tool !== 'select' || !canEdit())
		return;
	const id = shapeAt(ev);
	const s = id && conn.shapes.get(id);
	if (!s || (s.kind !== 'text' && s.kind !== 'sticky'))
		return;
	const text = prompt('Text', s.text);
	if (text !== null && text !== s.text)
		submit('update_shape', { shape_id: id, text });
}

function deleteSelected() {
	if (!conn || !ui.selectedId || !canEdit())
		return;
	const id = ui.selectedId;
	ui.selectedId = null;
	ui.overrides.delete(id);
	submit('delete_shape', { shape_id: id });
	scheduleRender();
}

function undo(redo) {
	if (!conn)
		return;
	if (!(redo ? conn.redo() : conn.undo()))
		setStatus(`${redo ? 'redo' : 'undo'}: not connected`, 'warn');
}

function onKeyDown(ev) {
	if ($('#view-canvas').hidden || !conn)
		return;
	const t = ev.target;
	if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA'))
		return;
	const mod = ev.ctrlKey || ev.metaKey;
	if (mod && ev.key.toLowerCase() === 'z') {
		ev.preventDefault();
		undo(ev.shiftKey);
	} else if (mod && ev.key.toLowerCase() === 'y') {
		ev.preventDefault();
		undo(true);
	} else if (!mod && (ev.key === 'Delete' || ev.key === 'Backspace')) {
		ev.preventDefault();
		deleteSelected();
	} else if (ev.key === 'Escape') {
		ui.selectedId = null;
		scheduleRender();
	} else if (!mod && !ev.altKey) {
		const tool = { v: 'select', r: 'rect', o: 'ellipse', s: 'sticky', a: 'arrow', t: 'text', p: 'path' }[ev.key.toLowerCase()];
		if (tool)
			setTool(tool);
	}
}

// ---- routing and start-up ---------------------------------------------------------------------

function route() {
	if (!api.loggedIn || !me) {
		closeCanvas();
		show('auth');
		setCrumbs();
		return;
	}
	const hash = location.hash || '#/';
	let m;
	if ((m = hash.match(/^#\/c\/([^/]+)$/))) {
		showCanvas(decodeURIComponent(m[1]));
		return;
	}
	closeCanvas();
	m = hash.match(/^#\/w\/([^/]+)$/);
	showHome(m ? decodeURIComponent(m[1]) : null);
}

function wire() {
	for (const b of document.querySelectorAll('[data-auth-tab]'))
		b.addEventListener('click', () => setAuthMode(b.dataset.authTab));
	$('#auth-form').addEventListener('submit', onAuthSubmit);
	$('#logout').addEventListener('click', onLogout);
	$('#workspace-form').addEventListener('submit', onCreateWorkspace);
	$('#canvas-form').addEventListener('submit', onCreateCanvas);
	$('#member-form').addEventListener('submit', onAddMember);
	for (const b of document.querySelectorAll('#tools [data-tool]'))
		b.addEventListener('click', () => setTool(b.dataset.tool));
	$('#delete').addEventListener('click', deleteSelected);
	$('#undo').addEventListener('click', () => undo(false));
	$('#redo').addEventListener('click', () => undo(true));
	const b = board();
	b.addEventListener('pointerdown', onPointerDown);
	b.addEventListener('pointermove', onPointerMove);
	b.addEventListener('pointerup', onPointerUp);
	b.addEventListener('pointercancel', onPointerUp);
	b.addEventListener('dblclick', onDoubleClick);
	document.addEventListener('keydown', onKeyDown);
	window.addEventListener('hashchange', route);
	api.onLogout = () => {
		me = null;
		route();
		$('#auth-error').textContent = 'Your session has expired; please log in again.';
	};
	// A read-only view for debugging from the console (and for the end-to-end test).
	window.flowstate = Object.freeze({
		snapshot() {
			if (!conn)
				return null;
			return {
				canvas_id: conn.canvasId, version: conn.version, state: conn.state,
				shapes: Object.fromEntries([...conn.shapes].map(([k, v]) => [k, structuredClone(v)])),
				presence: [...conn.presence.values()].map((p) => ({ ...p })),
				outbox: conn.outbox.size,
			};
		},
	});
}

async function start() {
	wire();
	setAuthMode('login');
	if (api.loggedIn) {
		try {
			me = await api.me();
		} catch (e) {
			if (e.status === 401)
				api.setTokens(null);
			else
				$('#auth-error').textContent = errorText(e);
		}
	}
	route();
}

start();
