// Pointer, wheel, touch and keyboard input on the board: the drawing tools, selection, handles,
// pan and zoom. Every gesture previews on the store's live overlay (or a draft on the scene's
// active layer) and commits its ops once, when it ends.

import Konva from './konva.js';
import { uuid } from '../protocol/session.js';
import {
	angleDeg, attachable, center, LINE_KINDS, pickShape, rectContains, resizeBox, resizeRotated,
	rotatePoint, scaleShape, shapeAABB, TEXT_KINDS,
} from './geometry.js';
import { completeShape } from '../protocol/model.js';
import { HANDLE } from './scene.js';
import { looksLikeMermaid } from '../protocol/mermaid.js';

const DRAG_PX = 3;
const STROKE_FLUSH_MS = 50;
const MAX_PATH_POINTS = 10000;
export const DEFAULT_SIZE = { rect: [160, 100], ellipse: [140, 100], sticky: [200, 160] };
const r2 = (v) => Math.round(v * 100) / 100;
const HANDLE_CURSORS = { n: 'ns-resize', s: 'ns-resize', e: 'ew-resize', w: 'ew-resize', ne: 'nesw-resize', sw: 'nesw-resize', nw: 'nwse-resize', se: 'nwse-resize', rotate: 'grab' };

export const TOOL_KEYS = {
	v: 'select', h: 'hand', r: 'rect', o: 'ellipse', s: 'sticky', l: 'line', a: 'arrow', c: 'connector', t: 'text', p: 'path',
	m: 'comment',
};

export class Tools {
	constructor(el, scene, board, { session, onEditText, onMermaid }) {
		this.el = el;
		this.scene = scene;
		this.board = board;
		this.session = session; // () => CanvasSession | null
		this.onEditText = onEditText;
		this.onMermaid = onMermaid || null; // (text) => imports a pasted Mermaid flowchart
		this.pointers = new Map();
		this.gesture = null;
		this.spaceDown = false;
		this.pasteTimer = null;
		this.handlers = {
			pointerdown: (e) => this.down(e),
			pointermove: (e) => this.move(e),
			pointerup: (e) => this.up(e),
			pointercancel: (e) => this.up(e, true),
			wheel: (e) => this.wheel(e),
			dblclick: (e) => this.dblclick(e),
			contextmenu: (e) => e.preventDefault(),
		};
		for (const [t, f] of Object.entries(this.handlers))
			el.addEventListener(t, f, t === 'wheel' ? { passive: false } : undefined);
		this.keyHandlers = {
			keydown: (e) => this.keydown(e),
			keyup: (e) => this.keyup(e),
			paste: (e) => this.pasteEvent(e),
			copy: (e) => this.copyEvent(e),
			cut: (e) => this.copyEvent(e, true),
			blur: () => { this.spaceDown = false; },
		};
		for (const [t, f] of Object.entries(this.keyHandlers))
			window.addEventListener(t, f);
		scene.overlayDraw = (layer) => this.drawGestureOverlay(layer);
	}

	destroy() {
		for (const [t, f] of Object.entries(this.handlers))
			this.el.removeEventListener(t, f);
		for (const [t, f] of Object.entries(this.keyHandlers))
			window.removeEventListener(t, f);
		this.cancelGesture();
	}

	// ---- coordinates

	screen(e) {
		const r = this.el.getBoundingClientRect();
		return { x: e.clientX - r.left, y: e.clientY - r.top };
	}

	world(e) {
		const p = this.screen(e);
		return this.board.toWorld(p.x, p.y);
	}

	get(id) {
		return this.board.displayed(id);
	}

	tol() {
		return 6 / this.board.get().viewport.scale;
	}

	pick(w) {
		const s = this.board.get();
		if (s.preview)
			return null;
		return pickShape(this.board.displayedShapes(), w.x, w.y, this.tol(), (id) => this.get(id));
	}

	handleAt(sp, touch) {
		if (!this.board.canEdit())
			return null;
		const frame = this.scene.selectionFrame();
		if (!frame || frame.onlyConnectors || (frame.single && frame.single.kind === 'connector'))
			return null;
		const hs = this.scene.handles(frame);
		const reach = (touch ? 14 : HANDLE / 2 + 3);
		let best = null, bestD = Infinity;
		for (const [k, [x, y]] of Object.entries(hs)) {
			const d = Math.hypot(sp.x - x, sp.y - y);
			if (d <= reach && d < bestD) {
				best = k;
				bestD = d;
			}
		}
		return best ? { name: best, frame } : null;
	}

	// ---- pointer input

	down(e) {
		if (this.board.get().editing)
			return; // the text editor commits on blur first
		this.el.focus({ preventScroll: true });
		const sp = this.screen(e);
		this.pointers.set(e.pointerId, { ...sp, type: e.pointerType });
		try {
			this.el.setPointerCapture(e.pointerId);
		} catch {
			// synthetic pointers cannot always be captured
		}
		const touches = [...this.pointers.values()].filter((p) => p.type === 'touch');
		if (e.pointerType === 'touch' && touches.length === 2) {
			this.cancelGesture();
			this.startPinch();
			return;
		}
		if (this.pointers.size > 1)
			return;
		const w = this.board.toWorld(sp.x, sp.y);
		const s = this.board.get();
		const tool = s.tool;
		if (e.button === 1 || (e.button === 0 && (this.spaceDown || tool === 'hand'))) {
			this.startPan(sp);
			return;
		}
		if (e.button !== 0)
			return;
		if (tool === 'select' || s.preview) {
			this.downSelect(e, sp, w);
			return;
		}
		if (tool === 'comment') {
			if (this.board.canComment())
				this.gesture = { kind: 'comment', start: w };
			return;
		}
		if (!this.board.canEdit())
			return;
		if (tool === 'text') {
			this.gesture = { kind: 'text', start: w };
			return;
		}
		if (tool === 'path') {
			const g = { kind: 'path', id: uuid(), points: [[r2(w.x), r2(w.y)]], sent: 0 };
			g.timer = setInterval(() => this.flushStroke(g), STROKE_FLUSH_MS);
			this.gesture = g;
			this.updatePathDraft();
			return;
		}
		if (tool === 'connector') {
			const from = this.scene.attachTarget(w.x, w.y, null);
			this.gesture = { kind: 'connector', from: from ? from.id : null, start: w, cur: w, target: null };
			return;
		}
		this.gesture = { kind: 'create', tool, start: w, cur: w, moved: false };
	}

	downSelect(e, sp, w) {
		const touch = e.pointerType === 'touch';
		const handle = this.handleAt(sp, touch);
		if (handle) {
			this.startTransform(handle, w);
			return;
		}
		const hit = this.pick(w);
		if (hit) {
			const sel = this.board.get().selection;
			if (e.shiftKey) {
				this.board.select([hit.id], { toggle: true });
				if (!this.board.get().selection.has(hit.id))
					return;
			} else if (!sel.has(hit.id)) {
				this.board.select([hit.id]);
			}
			this.gesture = { kind: 'press', hit: hit.id, start: w, startScreen: sp, shift: e.shiftKey };
			return;
		}
		if (touch) {
			this.startPan(sp, { clearOnTap: true });
			return;
		}
		const base = e.shiftKey ? new Set(this.board.get().selection) : new Set();
		if (!e.shiftKey)
			this.board.clearSelection();
		this.gesture = { kind: 'marquee', start: w, cur: w, base, startScreen: sp };
	}

	move(e) {
		const sp = this.screen(e);
		if (this.pointers.has(e.pointerId))
			this.pointers.set(e.pointerId, { ...sp, type: e.pointerType });
		const w = this.board.toWorld(sp.x, sp.y);
		const sess = this.session();
		if (sess && !this.board.get().preview)
			sess.cursor(w.x, w.y);
		const g = this.gesture;
		if (!g) {
			this.hover(sp, w, e.pointerType === 'touch');
			return;
		}
		switch (g.kind) {
		case 'pinch':
			this.movePinch();
			break;
		case 'pan': {
			const v = g.orig;
			if (Math.hypot(sp.x - g.start.x, sp.y - g.start.y) > DRAG_PX)
				g.moved = true;
			this.board.setViewport({ x: v.x + sp.x - g.start.x, y: v.y + sp.y - g.start.y, scale: v.scale });
			break;
		}
		case 'press':
			if (Math.hypot(sp.x - g.startScreen.x, sp.y - g.startScreen.y) >= DRAG_PX && this.board.canEdit())
				this.startMove(g);
			break;
		case 'move':
			this.moveSelection(g, w, e.shiftKey);
			break;
		case 'marquee': {
			g.cur = w;
			const box = rectOf(g.start, w);
			const ids = new Set(g.base);
			const get = (id) => this.get(id);
			for (const sh of this.board.displayedShapes()) {
				if (rectContains(box, shapeAABB(sh, get)))
					ids.add(sh.id);
			}
			const cur = this.board.get().selection;
			if (ids.size !== cur.size || [...ids].some((id) => !cur.has(id)))
				this.board.set({ selection: ids });
			this.scene.invalidateOverlay();
			break;
		}
		case 'resize':
			this.resizeSelection(g, w, e.shiftKey);
			break;
		case 'rotate':
			this.rotateSelection(g, w, e.shiftKey);
			break;
		case 'create':
			g.cur = w;
			if (Math.hypot(sp.x - this.scene.toScreen(g.start.x, g.start.y)[0], sp.y - this.scene.toScreen(g.start.x, g.start.y)[1]) >= DRAG_PX)
				g.moved = true;
			g.shift = e.shiftKey;
			this.scene.setDraft('create', completeShape({ shape_id: 'draft', ...this.createFields(g) }));
			break;
		case 'connector':
			this.moveConnector(g, w);
			break;
		case 'path': {
			const last = g.points[g.points.length - 1];
			const min = 1.5 / this.board.get().viewport.scale;
			if (g.points.length < MAX_PATH_POINTS && Math.hypot(w.x - last[0], w.y - last[1]) >= min) {
				g.points.push([r2(w.x), r2(w.y)]);
				this.updatePathDraft();
			}
			break;
		}
		default:
			break;
		}
	}

	up(e, cancelled = false) {
		this.pointers.delete(e.pointerId);
		try {
			if (this.el.hasPointerCapture(e.pointerId))
				this.el.releasePointerCapture(e.pointerId);
		} catch {
			// ignore
		}
		const g = this.gesture;
		if (!g)
			return;
		if (g.kind === 'pinch') {
			if (this.pointers.size < 2)
				this.gesture = null;
			return;
		}
		if (this.pointers.size > 0 && g.kind !== 'pan')
			return;
		this.gesture = null;
		if (cancelled) {
			this.abort(g);
			return;
		}
		const w = this.world(e);
		switch (g.kind) {
		case 'pan':
			if (!g.moved && g.clearOnTap)
				this.board.clearSelection();
			break;
		case 'press':
			// A click on a shape of a multiple selection selects just it.
			if (!g.shift && this.board.get().selection.size > 1)
				this.board.select([g.hit]);
			break;
		case 'move':
			this.finishMove(g);
			break;
		case 'marquee':
			this.scene.invalidateOverlay();
			break;
		case 'resize':
		case 'rotate':
			this.finishTransform(g);
			break;
		case 'create':
			this.scene.setDraft('create', null);
			this.finishCreate(g);
			break;
		case 'text':
			this.afterCreate();
			this.onEditText({ at: { x: r2(g.start.x), y: r2(g.start.y) } });
			break;
		case 'comment': {
			// On a shape, the comment is about that shape (its pin follows it); elsewhere, about
			// the place.
			const hit = pickShape(this.board.displayedShapes(), g.start.x, g.start.y, this.tol(), (id) => this.get(id));
			this.board.set({ commentDraft: hit ? { shape_id: hit.id, x: r2(g.start.x), y: r2(g.start.y) } : { shape_id: null, x: r2(g.start.x), y: r2(g.start.y) } });
			break;
		}
		case 'connector':
			this.finishConnector(g, w);
			break;
		case 'path':
			clearInterval(g.timer);
			this.flushStroke(g, true);
			this.scene.setDraft('path', null);
			this.finishPath(g);
			break;
		default:
			break;
		}
	}

	abort(g) {
		if (g.timer)
			clearInterval(g.timer);
		if (g.kind === 'move' || g.kind === 'resize' || g.kind === 'rotate') {
			this.board.endLive([...g.orig.keys()]);
			this.scene.setActive([]);
		}
		if (g.kind === 'path') {
			this.flushStroke(g, true);
			this.scene.setDraft('path', null);
		}
		this.scene.setDraft('create', null);
		this.scene.setDraft('connector', null);
		this.scene.invalidateOverlay();
	}

	cancelGesture() {
		const g = this.gesture;
		this.gesture = null;
		if (g)
			this.abort(g);
	}

	hover(sp, w, touch) {
		const s = this.board.get();
		let cursor = '';
		if (this.spaceDown || s.tool === 'hand')
			cursor = 'grab';
		else if (s.tool === 'select') {
			const h = this.handleAt(sp, touch);
			if (h)
				cursor = HANDLE_CURSORS[h.name] || 'pointer';
			else if (this.pick(w))
				cursor = this.board.canEdit() ? 'move' : 'pointer';
		} else if (s.tool === 'text')
			cursor = 'text';
		else
			cursor = 'crosshair';
		if (this.el.style.cursor !== cursor)
			this.el.style.cursor = cursor;
	}

	// ---- pan, zoom, pinch

	startPan(sp, extra = {}) {
		this.gesture = { kind: 'pan', start: sp, orig: { ...this.board.get().viewport }, moved: false, ...extra };
		this.el.style.cursor = 'grabbing';
	}

	startPinch() {
		const [a, b] = [...this.pointers.values()].filter((p) => p.type === 'touch');
		const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
		this.gesture = {
			kind: 'pinch', dist: Math.max(10, Math.hypot(a.x - b.x, a.y - b.y)),
			anchor: this.board.toWorld(mid.x, mid.y), scale: this.board.get().viewport.scale,
		};
	}

	movePinch() {
		const g = this.gesture;
		const pts = [...this.pointers.values()].filter((p) => p.type === 'touch');
		if (pts.length < 2)
			return;
		const [a, b] = pts;
		const mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
		const dist = Math.max(10, Math.hypot(a.x - b.x, a.y - b.y));
		const scale = g.scale * (dist / g.dist);
		this.board.setViewport({ x: 0, y: 0, scale });
		const k = this.board.get().viewport.scale;
		this.board.setViewport({ x: mid.x - g.anchor.x * k, y: mid.y - g.anchor.y * k, scale: k });
	}

	wheel(e) {
		e.preventDefault();
		const sp = this.screen(e);
		const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
		if (e.ctrlKey || e.metaKey) {
			const dy = Math.max(-50, Math.min(50, e.deltaY * unit));
			this.board.zoomAt(Math.exp(-dy * 0.01), sp.x, sp.y);
			return;
		}
		let dx = e.deltaX * unit, dy = e.deltaY * unit;
		if (e.shiftKey && !dx) {
			dx = dy;
			dy = 0;
		}
		const v = this.board.get().viewport;
		this.board.setViewport({ x: v.x - dx, y: v.y - dy, scale: v.scale });
	}

	zoomBy(factor) {
		const r = this.el.getBoundingClientRect();
		this.board.zoomAt(factor, r.width / 2, r.height / 2);
	}

	// Fits `bounds` (default: everything) into the view, clear of the style panel when it
	// floats over the left of a wide screen.
	fit(bounds) {
		const r = this.el.getBoundingClientRect();
		const inset = { top: 72, bottom: 64, left: 32, right: 32 };
		const panel = this.el.parentElement && this.el.parentElement.querySelector('.style-panel');
		if (panel) {
			const p = panel.getBoundingClientRect();
			if (p.width > 0 && p.right - r.left < r.width / 3)
				inset.left = Math.max(inset.left, p.right - r.left + 16);
		}
		this.board.fit(r.width, r.height, bounds || undefined, inset);
	}

	// ---- moving

	startMove(g) {
		const ids = [...this.board.get().selection].filter((id) => {
			const sh = this.get(id);
			return sh && sh.kind !== 'connector';
		});
		if (!ids.length) {
			this.gesture = null;
			return;
		}
		const orig = new Map(ids.map((id) => [id, this.get(id)]));
		this.gesture = { kind: 'move', orig, start: g.start };
		this.scene.setActive(ids);
	}

	moveSelection(g, w, shift) {
		let dx = w.x - g.start.x, dy = w.y - g.start.y;
		if (shift) {
			if (Math.abs(dx) > Math.abs(dy)) dy = 0; else dx = 0;
		}
		g.dx = r2(dx);
		g.dy = r2(dy);
		const live = new Map();
		for (const [id, sh] of g.orig)
			live.set(id, { ...sh, x: r2(sh.x + g.dx), y: r2(sh.y + g.dy) });
		this.board.setLive(live);
	}

	finishMove(g) {
		const ids = [...g.orig.keys()];
		if (g.dx || g.dy) {
			this.board.commit(ids.map((id) => {
				const sh = g.orig.get(id);
				return { op_type: 'move_shape', payload: { shape_id: id, x: r2(sh.x + g.dx), y: r2(sh.y + g.dy) } };
			}));
		}
		this.board.endLive(ids);
		this.scene.setActive([]);
	}

	// ---- resize and rotate

	startTransform(handle, w) {
		const ids = [...this.board.get().selection].filter((id) => {
			const sh = this.get(id);
			return sh && sh.kind !== 'connector';
		});
		const orig = new Map(ids.map((id) => [id, this.get(id)]));
		const f = handle.frame;
		if (handle.name === 'rotate') {
			this.gesture = { kind: 'rotate', orig, frame: f, startAngle: angleDeg(f.cx, f.cy, w.x, w.y) };
		} else {
			// Where the handle's side or corner really is (handles sit a few pixels outside the
			// frame): the drag moves it by exactly the pointer's travel.
			const n = handle.name;
			const lx = n.includes('w') ? f.x : n.includes('e') ? f.x + f.w : f.x + f.w / 2;
			const ly = n.includes('n') ? f.y : n.includes('s') ? f.y + f.h : f.y + f.h / 2;
			const [hx, hy] = rotatePoint(lx, ly, f.cx, f.cy, f.rotation || 0);
			this.gesture = { kind: 'resize', orig, frame: f, handle: n, grab: { dx: w.x - hx, dy: w.y - hy } };
		}
		this.scene.setActive(ids);
	}

	resizeSelection(g, pointer, shift) {
		const w = { x: pointer.x - g.grab.dx, y: pointer.y - g.grab.dy };
		const live = new Map();
		const f = g.frame;
		if (f.single && g.orig.size === 1) {
			const sh = g.orig.get(f.single.id);
			if (LINE_KINDS.has(sh.kind)) {
				const nb = resizeBox({ x: f.x, y: f.y, w: f.w, h: f.h }, g.handle, w.x, w.y, shift);
				live.set(sh.id, { ...sh, ...scaleShape(sh, f, nb) });
			} else {
				const nb = resizeRotated(sh, g.handle, w.x, w.y, shift);
				live.set(sh.id, { ...sh, ...nb, w: Math.max(1, nb.w), h: Math.max(1, nb.h) });
			}
		} else {
			const nb = resizeBox({ x: f.x, y: f.y, w: f.w, h: f.h }, g.handle, w.x, w.y, shift);
			for (const [id, sh] of g.orig)
				live.set(id, { ...sh, ...scaleShape(sh, f, nb) });
		}
		g.live = live;
		this.board.setLive(live);
	}

	rotateSelection(g, w, shift) {
		const f = g.frame;
		let delta = angleDeg(f.cx, f.cy, w.x, w.y) - g.startAngle;
		const live = new Map();
		for (const [id, sh] of g.orig) {
			let rot = (sh.rotation || 0) + delta;
			if (shift)
				rot = Math.round(rot / 15) * 15;
			rot = ((r2(rot) % 360) + 360) % 360;
			const d = rot - (sh.rotation || 0);
			if (g.orig.size === 1) {
				live.set(id, { ...sh, rotation: rot });
			} else {
				const [cx, cy] = center(sh);
				const [nx, ny] = rotatePoint(cx, cy, f.cx, f.cy, shift ? d : delta);
				live.set(id, { ...sh, x: r2(nx - sh.w / 2), y: r2(ny - sh.h / 2), rotation: rot });
			}
		}
		g.live = live;
		this.board.setLive(live);
	}

	finishTransform(g) {
		const ops = [];
		if (g.live) {
			for (const [id, sh] of g.live) {
				const o = g.orig.get(id);
				if (sh.w !== o.w || sh.h !== o.h)
					ops.push({ op_type: 'resize_shape', payload: { shape_id: id, x: sh.x, y: sh.y, w: sh.w, h: sh.h } });
				else if (sh.x !== o.x || sh.y !== o.y)
					ops.push({ op_type: 'move_shape', payload: { shape_id: id, x: sh.x, y: sh.y } });
				const upd = {};
				if (sh.rotation !== o.rotation)
					upd.rotation = sh.rotation;
				if (sh.points !== o.points && JSON.stringify(sh.points) !== JSON.stringify(o.points))
					upd.points = sh.points;
				if (Object.keys(upd).length)
					ops.push({ op_type: 'update_shape', payload: { shape_id: id, ...upd } });
			}
		}
		this.board.commit(ops);
		this.board.endLive([...g.orig.keys()]);
		this.scene.setActive([]);
	}

	// ---- creating

	createFields(g) {
		const style = this.board.get().style;
		const st = { ...style };
		if (g.tool === 'line' || g.tool === 'arrow') {
			let ex = g.cur.x, ey = g.cur.y;
			if (g.shift) {
				const ang = Math.round(Math.atan2(ey - g.start.y, ex - g.start.x) / (Math.PI / 12)) * (Math.PI / 12);
				const len = Math.hypot(ex - g.start.x, ey - g.start.y);
				ex = g.start.x + Math.cos(ang) * len;
				ey = g.start.y + Math.sin(ang) * len;
			}
			const x = Math.min(g.start.x, ex), y = Math.min(g.start.y, ey);
			return {
				kind: g.tool, x: r2(x), y: r2(y), w: r2(Math.abs(ex - g.start.x)), h: r2(Math.abs(ey - g.start.y)),
				points: [[r2(g.start.x - x), r2(g.start.y - y)], [r2(ex - x), r2(ey - y)]], style: { ...st, fill: 'none' },
			};
		}
		let x = Math.min(g.start.x, g.cur.x), y = Math.min(g.start.y, g.cur.y);
		let w = Math.abs(g.cur.x - g.start.x), h = Math.abs(g.cur.y - g.start.y);
		if (g.shift) {
			const m = Math.max(w, h);
			if (g.cur.x < g.start.x) x = g.start.x - m;
			if (g.cur.y < g.start.y) y = g.start.y - m;
			w = h = m;
		}
		if (!g.moved) {
			const [dw, dh] = DEFAULT_SIZE[g.tool] || [120, 80];
			x = g.start.x - dw / 2;
			y = g.start.y - dh / 2;
			w = dw;
			h = dh;
		}
		if (g.tool === 'sticky')
			return { kind: 'sticky', x: r2(x), y: r2(y), w: r2(w), h: r2(h), style: { stroke: '#1e1e1e', fill: 'none', width: 1, opacity: st.opacity } };
		return { kind: g.tool, x: r2(x), y: r2(y), w: r2(w), h: r2(h), style: st };
	}

	finishCreate(g) {
		if ((g.tool === 'line' || g.tool === 'arrow') && !g.moved)
			return;
		const id = this.board.createShape(this.createFields(g));
		this.afterCreate();
		if (g.tool === 'sticky')
			this.onEditText({ id });
	}

	afterCreate() {
		if (!this.board.get().toolLocked)
			this.board.setTool('select');
	}

	moveConnector(g, w) {
		g.cur = w;
		const target = this.scene.attachTarget(w.x, w.y, g.from);
		g.target = target ? target.id : null;
		this.scene.setDraft('connector', completeShape({ shape_id: 'draft', ...this.connectorFields(g) }));
		this.scene.invalidateOverlay();
	}

	connectorFields(g) {
		const st = { ...this.board.get().style, fill: 'none' };
		const from = g.from && this.get(g.from);
		const to = g.target && this.get(g.target);
		if (from && to) {
			const [ax, ay] = center(from), [bx, by] = center(to);
			return {
				kind: 'connector', from: from.id, to: to.id, x: r2(Math.min(ax, bx)), y: r2(Math.min(ay, by)),
				w: r2(Math.abs(bx - ax)), h: r2(Math.abs(by - ay)), style: st,
			};
		}
		// Not between two shapes: a free arrow (starting on the source's outline, if any).
		let sx = g.start.x, sy = g.start.y;
		const ex = to ? center(to)[0] : g.cur.x, ey = to ? center(to)[1] : g.cur.y;
		if (from) {
			const [cx, cy] = center(from);
			const b = shapeAABB(from, (id) => this.get(id));
			// Leave the source's box along the line to the end point.
			const dx = ex - cx, dy = ey - cy;
			const t = Math.min(dx ? (b.w / 2) / Math.abs(dx) : Infinity, dy ? (b.h / 2) / Math.abs(dy) : Infinity, 1);
			sx = cx + dx * t;
			sy = cy + dy * t;
		}
		const x = Math.min(sx, ex), y = Math.min(sy, ey);
		return {
			kind: 'arrow', x: r2(x), y: r2(y), w: r2(Math.abs(ex - sx)), h: r2(Math.abs(ey - sy)),
			points: [[r2(sx - x), r2(sy - y)], [r2(ex - x), r2(ey - y)]], style: st,
		};
	}

	finishConnector(g, w) {
		this.scene.setDraft('connector', null);
		g.cur = w;
		const target = this.scene.attachTarget(w.x, w.y, g.from);
		g.target = target ? target.id : null;
		const f = this.connectorFields(g);
		if (f.kind === 'arrow' && f.w < DRAG_PX && f.h < DRAG_PX) {
			this.scene.invalidateOverlay();
			return;
		}
		this.board.createShape(f);
		this.afterCreate();
	}

	updatePathDraft() {
		const g = this.gesture;
		this.scene.setDraft('path', completeShape({ shape_id: 'draft', kind: 'path', x: 0, y: 0, points: g.points, style: { ...this.board.get().style, fill: 'none' } }));
	}

	// Sends the points drawn since the last flush as a transient `stroke` (never stored).
	flushStroke(g, done = false) {
		const sess = this.session();
		if (!sess)
			return;
		while (g.sent < g.points.length || done) {
			const chunk = g.points.slice(g.sent, g.sent + 512);
			const last = g.sent + chunk.length >= g.points.length;
			sess.stroke(g.id, chunk, done && last);
			g.sent += chunk.length;
			if (last)
				break;
		}
	}

	finishPath(g) {
		let pts = g.points;
		if (pts.length === 1)
			pts = [pts[0], [pts[0][0] + 0.5, pts[0][1] + 0.5]];
		let x = Infinity, y = Infinity, x1 = -Infinity, y1 = -Infinity;
		for (const [px, py] of pts) {
			x = Math.min(x, px); y = Math.min(y, py); x1 = Math.max(x1, px); y1 = Math.max(y1, py);
		}
		this.board.createShape({
			kind: 'path', x: r2(x), y: r2(y), w: r2(x1 - x), h: r2(y1 - y),
			points: pts.map(([px, py]) => [r2(px - x), r2(py - y)]), style: { ...this.board.get().style, fill: 'none' },
		}, { id: g.id, select: false });
	}

	dblclick(e) {
		const s = this.board.get();
		if (s.preview || !this.board.canEdit() || (s.tool !== 'select' && s.tool !== 'text'))
			return;
		const w = this.world(e);
		const hit = this.pick(w);
		if (hit && TEXT_KINDS.has(hit.kind)) {
			this.board.select([hit.id]);
			this.onEditText({ id: hit.id });
		} else if (!hit) {
			this.onEditText({ at: { x: r2(w.x), y: r2(w.y - 10) } });
		}
	}

	drawGestureOverlay(layer) {
		const g = this.gesture;
		if (!g)
			return;
		if (g.kind === 'marquee') {
			const [x0, y0] = this.scene.toScreen(g.start.x, g.start.y);
			const [x1, y1] = this.scene.toScreen(g.cur.x, g.cur.y);
			layer.add(new Konva.Rect({
				x: Math.min(x0, x1), y: Math.min(y0, y1), width: Math.abs(x1 - x0), height: Math.abs(y1 - y0),
				fill: 'rgba(105,101,219,0.08)', stroke: '#6965db', strokeWidth: 1, listening: false,
			}));
		} else if (g.kind === 'connector' && g.target) {
			const sh = this.get(g.target);
			if (sh)
				layer.add(this.scene.outline(sh, (id) => this.get(id), '#6965db', 2));
		}
	}

	// ---- keyboard

	editableTarget(e) {
		const t = e.target;
		return t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable);
	}

	keydown(e) {
		const s = this.board.get();
		if (this.editableTarget(e) || s.editing)
			return;
		if (s.help) {
			if (e.key === 'Escape' || e.key === '?')
				this.board.set({ help: false });
			return;
		}
		const mod = e.ctrlKey || e.metaKey;
		const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
		const sess = this.session();
		const handled = () => e.preventDefault();
		if (e.key === ' ' && !mod) {
			if (!e.repeat) {
				this.spaceDown = true;
				this.el.style.cursor = 'grab';
			}
			handled();
			return;
		}
		if (mod && key === 'z') {
			handled();
			if (!s.preview && sess) (e.shiftKey ? sess.redo() : sess.undo());
		} else if (mod && key === 'y') {
			handled();
			if (!s.preview && sess) sess.redo();
		} else if (mod && key === 'a') {
			handled();
			if (!s.preview) this.board.selectAll();
		} else if (mod && key === 'd') {
			handled();
			this.board.duplicate();
		} else if (mod && key === 'v') {
			// The paste event brings what another tab or app copied; without one (no
			// clipboard access), the board's own clipboard is pasted.
			clearTimeout(this.pasteTimer);
			this.pasteTimer = setTimeout(() => this.board.paste(), 60);
		} else if (mod && (key === '=' || key === '+')) {
			handled();
			this.zoomBy(1.25);
		} else if (mod && key === '-') {
			handled();
			this.zoomBy(0.8);
		} else if (mod && key === '0') {
			handled();
			const r = this.el.getBoundingClientRect();
			this.board.zoomAt(1 / s.viewport.scale, r.width / 2, r.height / 2);
		} else if (e.shiftKey && (e.code === 'Digit1' || key === '!')) {
			handled();
			this.fit();
		} else if (mod && (e.code === 'BracketRight' || e.code === 'BracketLeft')) {
			handled();
			const front = e.code === 'BracketRight';
			this.board.reorder(e.shiftKey || e.altKey ? (front ? 'front' : 'back') : (front ? 'forward' : 'backward'));
		} else if (e.key === 'Delete' || e.key === 'Backspace') {
			handled();
			this.board.deleteSelection();
		} else if (e.key.startsWith('Arrow')) {
			if (!s.selection.size)
				return;
			handled();
			const step = e.shiftKey ? 10 : 1;
			const d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[e.key];
			this.board.nudge(...d);
		} else if (e.key === 'Escape') {
			this.cancelGesture();
			if (s.tool !== 'select')
				this.board.setTool('select');
			else
				this.board.clearSelection();
		} else if (e.key === 'Enter' && s.selection.size === 1) {
			const sh = this.get([...s.selection][0]);
			if (sh && TEXT_KINDS.has(sh.kind) && this.board.canEdit()) {
				handled();
				this.onEditText({ id: sh.id });
			}
		} else if (e.key === '?') {
			this.board.set({ help: true });
		} else if (e.altKey && e.shiftKey && key === 'd') {
			handled();
			this.board.setTheme(s.theme === 'dark' ? 'light' : 'dark');
		} else if (!mod && !e.altKey && TOOL_KEYS[key]) {
			this.board.setTool(TOOL_KEYS[key]);
		} else if (!mod && !e.altKey && key === 'q') {
			this.board.set({ toolLocked: !s.toolLocked });
		}
	}

	keyup(e) {
		if (e.key === ' ') {
			this.spaceDown = false;
			this.el.style.cursor = '';
		}
	}

	copyEvent(e, cut = false) {
		if (this.editableTarget(e) || this.board.get().editing)
			return;
		const shapes = this.board.copy();
		if (!shapes.length)
			return;
		if (e.clipboardData) {
			e.clipboardData.setData('text/plain', JSON.stringify({ type: 'flowstate/shapes', shapes }));
			e.preventDefault();
		}
		if (cut)
			this.board.deleteSelection();
	}

	pasteEvent(e) {
		if (this.editableTarget(e) || this.board.get().editing)
			return;
		const text = e.clipboardData && e.clipboardData.getData('text/plain');
		if (!text)
			return;
		if (this.onMermaid && this.board.canEdit() && looksLikeMermaid(text)) {
			// A Mermaid flowchart becomes a diagram (the server lays it out).
			clearTimeout(this.pasteTimer);
			e.preventDefault();
			this.onMermaid(text);
			return;
		}
		let data = null;
		try {
			data = JSON.parse(text);
		} catch {
			data = null;
		}
		if (data && data.type === 'flowstate/shapes' && Array.isArray(data.shapes)) {
			clearTimeout(this.pasteTimer);
			e.preventDefault();
			const shapes = data.shapes.map((sh) => completeShape(sh)).filter(Boolean);
			const own = this.board.get().clipboard;
			// Our own copy: paste with the growing offset; another tab's: as it came.
			if (own.length === shapes.length && own.every((sh, i) => sh.id === shapes[i].id))
				this.board.paste();
			else {
				this.board.set({ clipboard: shapes, pasteCount: 0 });
				this.board.paste();
			}
		} else if (this.board.canEdit() && !this.board.get().clipboard.length) {
			// Plain text from elsewhere becomes a text shape in the middle of the view.
			clearTimeout(this.pasteTimer);
			e.preventDefault();
			const r = this.el.getBoundingClientRect();
			const c = this.board.toWorld(r.width / 2, r.height / 2);
			this.onEditText({ at: { x: r2(c.x), y: r2(c.y) }, text: text.slice(0, 10000), commitNow: true });
		}
	}
}

function rectOf(a, b) {
	return { x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w: Math.abs(b.x - a.x), h: Math.abs(b.y - a.y) };
}

export { attachable };
