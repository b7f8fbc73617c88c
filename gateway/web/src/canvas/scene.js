// The drawing surface: a Konva stage driven imperatively by the board store.
//
// Layers (each its own <canvas>, so redrawing one never repaints another):
//   main     every shape at rest. Redrawn only when a shape in it changes (at most once a frame).
//   active   the shapes a gesture is moving, resizing or rotating (and the connectors attached to
//            them), and drafts being drawn: a drag at 1,000 shapes repaints a handful of nodes.
//   overlay  selection boxes, handles, marquee, history diff marks, drawn in screen space.
//   strokes  other users' in-progress pen strokes.
// Other users' cursors and comment pins are DOM elements moved with a CSS transform: they never
// touch a canvas. Other users' selections are outlines in their colour on the overlay.
//
// Shapes diff by object identity (the store never mutates a shape): a frame walks the displayed
// shapes and updates only the nodes whose shape object changed (and connectors attached to them).
//
// Pan and zoom: when a repaint of the main layer costs more than a few milliseconds (thousands
// of shapes), a viewport change first moves the last painted bitmap with a CSS transform and
// repaints once the view has been still for SETTLE_MS, culling shapes outside the view. Small
// boards repaint on every frame.

import Konva from './konva.js';
import { attachable, compareZ, rectsIntersect, rotatePoint, shapeAABB } from './geometry.js';
import { FONT_SIZE, hasLabelFor, shapeNode, updateLabel } from './shapes.js';
import { pinPosition, threadsOf } from '../protocol/comments.js';

Konva.pixelRatio = Math.min(2, (typeof window !== 'undefined' && window.devicePixelRatio) || 1);

export const SETTLE_MS = 140;
const LABEL_MIN_PX = 3.5; // text smaller than this on screen is not laid out or drawn
const CHEAP_DRAW_MS = 6;
const CULL_MARGIN = 200; // screen px drawn around the view, so short pans uncover drawn shapes
export const HANDLE = 8;
export const ROTATE_OFFSET = 26;

export class Scene {
	constructor(container, board) {
		this.container = container;
		this.board = board;
		const { width, height } = container.getBoundingClientRect();
		this.width = Math.max(1, width);
		this.height = Math.max(1, height);
		this.stageBox = document.createElement('div');
		this.stageBox.className = 'stage-box';
		container.append(this.stageBox);
		this.stage = new Konva.Stage({ container: this.stageBox, width: this.width, height: this.height, listening: false });
		this.main = new Konva.Layer({ listening: false });
		this.active = new Konva.Layer({ listening: false });
		this.strokesLayer = new Konva.Layer({ listening: false });
		this.overlay = new Konva.Layer({ listening: false });
		this.stage.add(this.main, this.active, this.strokesLayer, this.overlay);
		// The dot grid: a small bitmap tile repeated by CSS (a gradient would be re-evaluated for
		// every dot on every pan frame in software rendering).
		const tile = document.createElement('canvas');
		tile.width = tile.height = 24;
		const tc = tile.getContext('2d');
		tc.fillStyle = 'rgba(128,128,128,0.38)';
		tc.fillRect(0, 0, 1.5, 1.5);
		// The grid is its own layer, moved by a CSS transform (compositing only, no repaint) and
		// hidden when zoomed out far enough that it would be noise.
		this.grid = document.createElement('div');
		this.grid.className = 'grid';
		this.grid.style.backgroundImage = `url(${tile.toDataURL()})`;
		container.prepend(this.grid);
		this.gridSize = 0;
		this.pinBox = document.createElement('div');
		this.pinBox.className = 'pin-box';
		container.append(this.pinBox);
		this.cursorBox = document.createElement('div');
		this.cursorBox.className = 'cursor-box';
		container.append(this.cursorBox);
		this.pinEls = new Map(); // thread id -> element
		this.pinShapes = new Set(); // shapes that pins sit on

		this.nodes = new Map(); // id -> {group, shape, aabb, layer}
		this.byEnd = new Map(); // shape id -> Set of connector ids attached to it
		this.activeIds = new Set();
		this.forceIds = new Set(); // shapes to rebuild although their object did not change
		this.drafts = new Map(); // key -> group on the active layer
		this.strokeNodes = new Map();
		this.cursorEls = new Map();
		this.painted = { x: 0, y: 0, scale: 1 }; // the viewport the main layer was painted at
		this.lastMainDrawMs = 0;
		this.dirty = { shapes: true, overlay: true, viewport: true, cursors: true, strokes: true, pins: true };
		this.frameQueued = false;
		this.settleTimer = null;
		this.needSort = false;
		this.overlayDraw = null; // extra overlay painter installed by the tools (marquee, ...)
		this.stats = { frames: 0, mainDraws: 0, nodeUpdates: 0 };

		this.unsub = board.subscribe((s, prev) => {
			if (s.shapes !== prev.shapes || s.overrides !== prev.overrides || s.preview !== prev.preview) {
				this.dirty.shapes = true;
				if (this.pinShapes.size)
					this.dirty.pins = true;
			}
			if (s.comments !== prev.comments || s.showResolved !== prev.showResolved || s.thread !== prev.thread)
				this.dirty.pins = true;
			if (s.selections !== prev.selections)
				this.dirty.overlay = true;
			if (s.editing !== prev.editing) {
				for (const e of [s.editing, prev.editing]) {
					if (e && e.id)
						this.forceIds.add(e.id);
				}
				this.dirty.shapes = true;
			}
			if (s.selection !== prev.selection || s.editing !== prev.editing || s.preview !== prev.preview || s.role !== prev.role)
				this.dirty.overlay = true;
			if (s.viewport !== prev.viewport)
				this.dirty.viewport = true;
			if (s.cursors !== prev.cursors || s.presence !== prev.presence)
				this.dirty.cursors = true;
			if (s.strokes !== prev.strokes)
				this.dirty.strokes = true;
			if (this.dirty.shapes || this.dirty.overlay || this.dirty.viewport || this.dirty.cursors || this.dirty.strokes || this.dirty.pins)
				this.requestFrame();
		});
		this.resizeObserver = new ResizeObserver(() => this.resize());
		this.resizeObserver.observe(container);
		this.requestFrame();
	}

	destroy() {
		this.unsub();
		this.resizeObserver.disconnect();
		clearTimeout(this.settleTimer);
		this.stage.destroy();
		this.stageBox.remove();
		this.cursorBox.remove();
		this.pinBox.remove();
		this.grid.remove();
	}

	resize() {
		const { width, height } = this.container.getBoundingClientRect();
		if (width < 1 || height < 1 || (width === this.width && height === this.height))
			return;
		this.width = width;
		this.height = height;
		this.stage.size({ width, height });
		this.dirty.viewport = this.dirty.overlay = true;
		this.settleNow();
	}

	requestFrame() {
		if (this.frameQueued)
			return;
		this.frameQueued = true;
		requestAnimationFrame(() => this.frame());
		// rAF does not run in hidden tabs: a background tab still follows the canvas.
		setTimeout(() => this.frame(), 250);
	}

	invalidateOverlay() {
		this.dirty.overlay = true;
		this.requestFrame();
	}

	frame() {
		if (!this.frameQueued)
			return;
		this.frameQueued = false;
		this.stats.frames++;
		const d = this.dirty;
		let mainChanged = false, activeChanged = false;
		if (d.shapes) {
			d.shapes = false;
			[mainChanged, activeChanged] = this.syncShapes();
			d.overlay = true;
		}
		const v = this.board.get().viewport;
		if (d.viewport) {
			d.viewport = false;
			this.applyViewport(v, mainChanged);
			activeChanged = true;
			d.overlay = d.cursors = true;
			if (this.pinEls.size)
				d.pins = true;
			if (this.strokeNodes.size)
				d.strokes = true;
			this.moveGrid(v);
		} else if (mainChanged) {
			this.paintMain();
		}
		if (activeChanged)
			this.drawIfShown(this.active);
		if (d.strokes) {
			d.strokes = false;
			this.syncStrokes(v);
		}
		if (d.overlay) {
			d.overlay = false;
			this.drawOverlay(v);
		}
		if (d.cursors) {
			d.cursors = false;
			this.syncCursors(v);
		}
		if (d.pins) {
			d.pins = false;
			this.syncPins(v);
		}
	}

	moveGrid(v) {
		const size = 24 * v.scale;
		const show = size >= 12;
		if (!show) {
			if (this.gridSize) {
				this.grid.style.display = 'none';
				this.gridSize = 0;
			}
			return;
		}
		if (this.gridSize !== size) {
			if (!this.gridSize)
				this.grid.style.display = '';
			this.grid.style.backgroundSize = `${size}px ${size}px`;
			this.grid.style.inset = `${-size}px`;
			this.gridSize = size;
		}
		const ox = ((v.x % size) + size) % size, oy = ((v.y % size) + size) % size;
		this.grid.style.transform = `translate(${ox}px, ${oy}px)`;
	}

	// An empty layer is hidden (display: none), so it costs neither a clear nor compositing:
	// in software rendering every full-size canvas on screen is blended on every frame.
	drawIfShown(layer) {
		const has = layer.getChildren().length > 0;
		if (layer.visible() !== has) {
			layer.visible(has);
			if (has) {
				layer.draw(); // now: it must not show what it held last time for a frame
				return;
			}
		}
		if (has)
			layer.batchDraw();
	}

	// ---- shapes

	shapeSource() {
		const s = this.board.get();
		if (s.preview)
			return { list: [...s.preview.shapes.values()], get: (id) => s.preview.shapes.get(id) };
		return { list: this.board.displayedShapes(), get: (id) => this.board.displayed(id) };
	}

	// Brings the Konva nodes in line with the shapes. A shape outside the view gets no node
	// (or keeps a stale hidden one) until it comes into view: opening a 5,000-shape canvas
	// builds only what is on screen.
	syncShapes() {
		const { list, get } = this.shapeSource();
		const seen = new Set();
		const changed = [];
		let mainChanged = false, activeChanged = false;
		for (const shape of list) {
			seen.add(shape.id);
			const rec = this.nodes.get(shape.id);
			if (!rec || rec.shape !== shape || this.forceIds.has(shape.id))
				changed.push(shape);
		}
		for (const [id, rec] of this.nodes) {
			if (!seen.has(id)) {
				if (rec.group) {
					if (rec.layer === this.main) mainChanged = true; else activeChanged = true;
					rec.group.destroy();
				}
				this.nodes.delete(id);
				this.unindex(id, rec.shape);
			}
		}
		// Connectors follow their ends: redo those attached to a changed shape.
		const redo = new Map(changed.map((s) => [s.id, s]));
		for (const s of changed) {
			const conns = this.byEnd.get(s.id);
			if (conns) {
				for (const cid of conns) {
					if (!redo.has(cid)) {
						const c = get(cid);
						if (c) redo.set(cid, c);
					}
				}
			}
		}
		const force = this.forceIds;
		this.forceIds = new Set();
		const view = this.viewRect(this.painted);
		const created = [];
		for (const shape of redo.values()) {
			let rec = this.nodes.get(shape.id);
			if (!rec) {
				rec = { group: null, shape, aabb: null, layer: this.main, stale: true };
				this.nodes.set(shape.id, rec);
			} else {
				if (rec.shape.z !== shape.z && rec.group && rec.layer === this.main)
					this.needSort = true;
				this.unindex(shape.id, rec.shape);
				// A connector is redone when a shape it joins changed: its ends moved although
				// its own object did not.
				if (rec.shape !== shape || force.has(shape.id) || shape.kind === 'connector')
					rec.stale = true;
				rec.shape = shape;
			}
			if (shape.kind === 'connector')
				this.index(shape);
			rec.aabb = shapeAABB(shape, get);
			const active = this.activeIds.has(shape.id);
			const shown = active || rectsIntersect(rec.aabb, view);
			if (shown) {
				if (!rec.group || !rec.group.getParent())
					created.push(rec);
				this.refresh(rec, get);
				if (active && rec.layer !== this.active) {
					rec.group.moveTo(this.active);
					rec.layer = this.active;
					mainChanged = true;
				}
				if (rec.layer === this.main) mainChanged = true; else activeChanged = true;
			} else if (rec.group && rec.group.visible()) {
				rec.group.visible(false);
				if (rec.layer === this.main) mainChanged = true; else activeChanged = true;
			}
		}
		if (this.addToMain(created))
			mainChanged = true;
		if (this.needSort) {
			this.sortMain();
			mainChanged = true;
		}
		this.scheduleIdleBuild();
		return [mainChanged, activeChanged];
	}

	// Builds, in idle time and detached, the nodes of shapes outside the view, so that zooming
	// out later does not stall on building thousands of nodes at once.
	scheduleIdleBuild() {
		if (this.idleQueued)
			return;
		this.idleQueued = true;
		const idle = window.requestIdleCallback || ((f) => setTimeout(() => f({ timeRemaining: () => 8 }), 50));
		idle((deadline) => {
			this.idleQueued = false;
			let more = false;
			for (const rec of this.nodes.values()) {
				if (rec.group)
					continue;
				if (deadline.timeRemaining() < 2) {
					more = true;
					break;
				}
				rec.group = shapeNode(rec.shape, (id) => this.board.displayed(id), null, { labels: false });
				rec.group.visible(false);
				rec.layer = null;
				rec.stale = false;
			}
			if (more)
				this.scheduleIdleBuild();
		}, { timeout: 2000 });
	}

	// Makes or updates the node of a shape that is in view (its labels as the zoom allows).
	refresh(rec, get = (id) => this.board.displayed(id)) {
		const editing = this.board.get().editing;
		const opts = { hideLabel: editing && editing.id, labels: this.labelsReadable(this.painted) };
		if (!rec.group) {
			rec.group = shapeNode(rec.shape, get, null, opts);
			rec.layer = null;
			this.stats.nodeUpdates++;
		} else if (rec.stale) {
			shapeNode(rec.shape, get, rec.group, opts);
			this.stats.nodeUpdates++;
		} else if (opts.labels && !hasLabelFor(rec.group, rec.shape)) {
			updateLabel(rec.group, rec.shape, opts.hideLabel !== rec.shape.id);
		} else if (!opts.labels) {
			updateLabel(rec.group, rec.shape, false);
		}
		rec.stale = false;
		if (!rec.group.visible())
			rec.group.visible(true);
	}

	// New nodes into the main layer at their place in the painting order: appended when on top
	// (the usual case), inserted otherwise; many at once are added together and sorted once.
	addToMain(recs) {
		if (!recs.length)
			return false;
		const fresh = recs.filter((r) => r.layer === null || r.layer === this.main && !r.group.getParent());
		for (const r of recs) {
			if (r.layer === null)
				r.layer = this.activeIds.has(r.shape.id) ? this.active : this.main;
		}
		const toActive = fresh.filter((r) => r.layer === this.active);
		for (const r of toActive)
			this.active.add(r.group);
		const toMain = fresh.filter((r) => r.layer === this.main);
		if (toMain.length > 50) {
			this.main.add(...toMain.map((r) => r.group));
			this.needSort = true;
			return true;
		}
		for (const rec of toMain) {
			const kids = this.main.getChildren();
			const last = kids[kids.length - 1];
			const lastRec = last && this.nodes.get(last.getAttr('shapeId'));
			if (!lastRec || compareZ(lastRec.shape, rec.shape) < 0)
				this.main.add(rec.group);
			else
				this.insertMain(rec);
		}
		return toMain.length > 0;
	}

	index(c) {
		for (const end of [c.from, c.to]) {
			if (!end)
				continue;
			let set = this.byEnd.get(end);
			if (!set)
				this.byEnd.set(end, (set = new Set()));
			set.add(c.id);
		}
	}

	unindex(id, old) {
		if (!old || old.kind !== 'connector')
			return;
		for (const end of [old.from, old.to]) {
			const set = end && this.byEnd.get(end);
			if (set) {
				set.delete(id);
				if (!set.size)
					this.byEnd.delete(end);
			}
		}
	}

	sortMain() {
		this.needSort = false;
		const groups = this.main.getChildren().slice();
		const shapeOf = (g) => this.nodes.get(g.getAttr('shapeId')).shape;
		groups.sort((a, b) => compareZ(shapeOf(a), shapeOf(b)));
		this.main.removeChildren();
		if (groups.length)
			this.main.add(...groups);
	}

	// Moves the shapes a gesture works on (and their connectors) to the active layer, or back.
	setActive(ids) {
		const next = new Set(ids);
		for (const id of ids) {
			const conns = this.byEnd.get(id);
			if (conns)
				for (const c of conns) next.add(c);
		}
		let moved = false;
		for (const id of this.activeIds) {
			if (!next.has(id)) {
				const rec = this.nodes.get(id);
				if (rec && rec.group && rec.layer !== this.main) {
					this.insertMain(rec);
					moved = true;
				}
			}
		}
		for (const id of next) {
			const rec = this.nodes.get(id);
			if (rec && !rec.group) {
				this.refresh(rec);
				rec.layer = this.active;
				this.active.add(rec.group);
				moved = true;
				continue;
			}
			if (rec && rec.layer !== this.active) {
				rec.group.moveTo(this.active);
				rec.layer = this.active;
				rec.group.visible(true);
				moved = true;
			}
		}
		this.activeIds = next;
		if (moved) {
			this.sortActive();
			this.paintMain();
			this.drawIfShown(this.active);
		}
	}

	// Puts a node back into the main layer at its place in the painting order (binary search:
	// the main layer is kept sorted, so no full re-sort).
	insertMain(rec) {
		const children = this.main.getChildren();
		let lo = 0, hi = children.length;
		while (lo < hi) {
			const mid = (lo + hi) >> 1;
			const other = this.nodes.get(children[mid].getAttr('shapeId'));
			if (other && compareZ(other.shape, rec.shape) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		rec.group.moveTo(this.main);
		rec.layer = this.main;
		if (lo < this.main.getChildren().length - 1)
			rec.group.zIndex(lo);
		const view = this.viewRect(this.painted);
		rec.group.visible(rectsIntersect(rec.aabb, view));
	}

	sortActive() {
		if (this.active.getChildren().length < 2)
			return;
		const groups = this.active.getChildren().filter((g) => g.getAttr('shapeId') && this.nodes.has(g.getAttr('shapeId')));
		const shapeOf = (g) => this.nodes.get(g.getAttr('shapeId')).shape;
		groups.sort((a, b) => compareZ(shapeOf(a), shapeOf(b)));
		groups.forEach((g, i) => g.zIndex(i));
	}

	// A shape-like draft (being drawn, not committed) on the active layer; null removes it.
	setDraft(key, shape) {
		let g = this.drafts.get(key);
		if (!shape) {
			if (g) {
				g.destroy();
				this.drafts.delete(key);
				this.drawIfShown(this.active);
			}
			return;
		}
		const get = (id) => this.board.displayed(id);
		if (!g) {
			g = shapeNode(shape, get);
			this.drafts.set(key, g);
			this.active.add(g);
		} else {
			shapeNode(shape, get, g);
		}
		g.moveToTop();
		this.drawIfShown(this.active);
	}

	// ---- viewport

	viewRect(v) {
		const m = CULL_MARGIN / v.scale;
		return { x: -v.x / v.scale - m, y: -v.y / v.scale - m, w: this.width / v.scale + 2 * m, h: this.height / v.scale + 2 * m };
	}

	applyViewport(v, mainChanged) {
		for (const layer of [this.active, this.strokesLayer]) {
			layer.position({ x: v.x, y: v.y });
			layer.scale({ x: v.scale, y: v.scale });
		}
		if (mainChanged || this.lastMainDrawMs <= CHEAP_DRAW_MS) {
			this.paintMain();
			return;
		}
		// Expensive board: move the painted bitmap now, repaint when the view is still.
		const p = this.painted;
		const k = v.scale / p.scale;
		const tx = v.x - p.x * k, ty = v.y - p.y * k;
		const canvas = this.main.getCanvas()._canvas;
		canvas.style.transformOrigin = '0 0';
		canvas.style.transform = `translate(${tx}px, ${ty}px) scale(${k})`;
		clearTimeout(this.settleTimer);
		this.settleTimer = setTimeout(() => this.settleNow(), SETTLE_MS);
	}

	settleNow() {
		clearTimeout(this.settleTimer);
		this.settleTimer = null;
		this.paintMain();
		this.dirty.overlay = true;
		this.requestFrame();
	}

	labelsReadable(v) {
		return FONT_SIZE * v.scale >= LABEL_MIN_PX;
	}

	paintMain() {
		clearTimeout(this.settleTimer);
		this.settleTimer = null;
		const v = this.board.get().viewport;
		const t0 = performance.now();
		if (v.scale !== this.painted.scale || v.x !== this.painted.x || v.y !== this.painted.y) {
			// Cull; make, update and lay out what comes into view (only that).
			const view = this.viewRect(v);
			const lod = this.labelsReadable(v);
			const lodChanged = lod !== this.labelsReadable(this.painted);
			this.painted = { ...v }; // refresh() reads the level of detail from it
			const created = [];
			for (const rec of this.nodes.values()) {
				if (rec.layer === this.active)
					continue;
				const shown = rectsIntersect(rec.aabb, view);
				if (shown) {
					if (!rec.group || !rec.group.getParent())
						created.push(rec);
					if (!rec.group || rec.stale || lodChanged || !rec.group.visible() || (lod && !hasLabelFor(rec.group, rec.shape)))
						this.refresh(rec);
				} else if (rec.group && rec.group.visible()) {
					rec.group.visible(false);
				}
			}
			this.addToMain(created);
			if (this.needSort)
				this.sortMain();
		}
		this.main.position({ x: v.x, y: v.y });
		this.main.scale({ x: v.scale, y: v.scale });
		this.main.draw();
		const canvas = this.main.getCanvas()._canvas;
		if (canvas.style.transform)
			canvas.style.transform = '';
		this.painted = { ...v };
		this.lastMainDrawMs = performance.now() - t0;
		this.stats.mainDraws++;
		if (this.stats.mainDraws === 1 || (this.nodes.size && !this.paintedShapes))
			performance.mark('flowstate:main-paint');
		this.paintedShapes = this.nodes.size > 0;
	}

	// ---- overlay (screen space)

	toScreen(x, y) {
		const v = this.board.get().viewport;
		return [x * v.scale + v.x, y * v.scale + v.y];
	}

	// The selection frame: for one rotated shape its rotated box, otherwise the union of the
	// selected shapes' bounds. {x, y, w, h, rotation, ids} in canvas units.
	selectionFrame() {
		const s = this.board.get();
		if (!s.selection.size || s.preview)
			return null;
		const shapes = this.board.selectedShapes();
		if (!shapes.length)
			return null;
		const get = (id) => this.board.displayed(id);
		if (shapes.length === 1 && shapes[0].kind !== 'connector' && !(shapes[0].kind === 'path' && false)) {
			const sh = shapes[0];
			if (sh.kind === 'line' || sh.kind === 'arrow' || sh.kind === 'path') {
				const b = shapeAABB({ ...sh, rotation: 0 }, get);
				return { ...b, rotation: sh.rotation || 0, single: sh, cx: sh.x + sh.w / 2, cy: sh.y + sh.h / 2 };
			}
			return { x: sh.x, y: sh.y, w: sh.w, h: sh.h, rotation: sh.rotation || 0, single: sh, cx: sh.x + sh.w / 2, cy: sh.y + sh.h / 2 };
		}
		let b = null;
		for (const sh of shapes) {
			const r = shapeAABB(sh, get);
			if (!b) b = { ...r };
			else {
				const x1 = Math.max(b.x + b.w, r.x + r.w), y1 = Math.max(b.y + b.h, r.y + r.h);
				b.x = Math.min(b.x, r.x); b.y = Math.min(b.y, r.y); b.w = x1 - b.x; b.h = y1 - b.y;
			}
		}
		const onlyConnectors = shapes.every((sh) => sh.kind === 'connector');
		return { ...b, rotation: 0, single: null, onlyConnectors, cx: b.x + b.w / 2, cy: b.y + b.h / 2 };
	}

	// Handle positions of a frame, in screen coordinates: {name: [x, y]}.
	handles(frame) {
		const v = this.board.get().viewport;
		const pad = 4 / v.scale;
		const x0 = frame.x - pad, y0 = frame.y - pad, x1 = frame.x + frame.w + pad, y1 = frame.y + frame.h + pad;
		const xm = (x0 + x1) / 2, ym = (y0 + y1) / 2;
		const local = {
			nw: [x0, y0], n: [xm, y0], ne: [x1, y0], e: [x1, ym], se: [x1, y1], s: [xm, y1], sw: [x0, y1], w: [x0, ym],
		};
		const out = {};
		const rot = frame.rotation || 0;
		for (const [k, [x, y]] of Object.entries(local)) {
			const [rx, ry] = rotatePoint(x, y, frame.cx, frame.cy, rot);
			out[k] = this.toScreen(rx, ry);
		}
		const [tx, ty] = rotatePoint(xm, y0, frame.cx, frame.cy, rot);
		const [sx, sy] = this.toScreen(tx, ty);
		const r = (rot * Math.PI) / 180;
		out.rotate = [sx + Math.sin(r) * ROTATE_OFFSET, sy - Math.cos(r) * ROTATE_OFFSET];
		return out;
	}

	drawOverlay() {
		const o = this.overlay;
		o.destroyChildren();
		const s = this.board.get();
		const accent = '#6965db';
		const get = (id) => (s.preview ? s.preview.shapes.get(id) : this.board.displayed(id));
		if (s.preview && s.preview.diff)
			this.drawDiff(o, s.preview.diff, get);
		if (!s.preview && s.selections.size)
			this.drawOthersSelections(o, s.selections, get);
		const frame = this.selectionFrame();
		if (frame) {
			// An outline per selected shape when several are selected.
			if (!frame.single) {
				for (const sh of this.board.selectedShapes())
					o.add(this.outline(sh, get, 'rgba(105,101,219,0.55)', 1));
			}
			const corners = [[frame.x, frame.y], [frame.x + frame.w, frame.y], [frame.x + frame.w, frame.y + frame.h], [frame.x, frame.y + frame.h]]
				.map(([x, y]) => this.toScreen(...rotatePoint(x, y, frame.cx, frame.cy, frame.rotation)));
			if (frame.single && frame.single.kind === 'connector') {
				o.add(this.outline(frame.single, get, accent, 2));
			} else {
				o.add(new Konva.Line({ points: corners.flat(), closed: true, stroke: accent, strokeWidth: 1.5, listening: false, perfectDrawEnabled: false }));
				if (this.board.canEdit() && !frame.onlyConnectors && !s.editing) {
					const hs = this.handles(frame);
					const [rx, ry] = hs.rotate;
					o.add(new Konva.Circle({ x: rx, y: ry, radius: 5, fill: '#fff', stroke: accent, strokeWidth: 1.5, listening: false }));
					for (const [k, [x, y]] of Object.entries(hs)) {
						if (k === 'rotate')
							continue;
						o.add(new Konva.Rect({ x: x - HANDLE / 2, y: y - HANDLE / 2, width: HANDLE, height: HANDLE, fill: '#fff', stroke: accent, strokeWidth: 1.5, cornerRadius: 2, listening: false }));
					}
				}
			}
		}
		if (this.overlayDraw)
			this.overlayDraw(o, this);
		const has = o.getChildren().length > 0;
		if (has || this.overlayShown) {
			if (o.visible() !== has)
				o.visible(has);
			o.batchDraw();
		}
		this.overlayShown = has;
	}

	// An outline of a shape's drawn bounds in screen space (rotated box or connector path).
	outline(sh, get, color, width, dash) {
		if (sh.kind === 'connector' || sh.kind === 'line' || sh.kind === 'arrow' || sh.kind === 'path') {
			const b = shapeAABB(sh, get);
			const [x, y] = this.toScreen(b.x, b.y);
			const v = this.board.get().viewport;
			return new Konva.Rect({ x: x - 3, y: y - 3, width: b.w * v.scale + 6, height: b.h * v.scale + 6, stroke: color, strokeWidth: width, dash, listening: false });
		}
		const cx = sh.x + sh.w / 2, cy = sh.y + sh.h / 2;
		const pts = [[sh.x, sh.y], [sh.x + sh.w, sh.y], [sh.x + sh.w, sh.y + sh.h], [sh.x, sh.y + sh.h]]
			.map(([x, y]) => this.toScreen(...rotatePoint(x, y, cx, cy, sh.rotation || 0)));
		return new Konva.Line({ points: pts.flat(), closed: true, stroke: color, strokeWidth: width, dash, listening: false });
	}

	// History preview: what a restore would change. Shapes deleted since the previewed version
	// (they come back) in green, changed ones in amber, and shapes added since (they would go)
	// as dashed red outlines of their current place.
	drawDiff(o, diff, get) {
		const now = (id) => this.board.displayed(id);
		for (const id of Object.keys(diff.removed || {})) {
			const sh = get(id);
			if (sh) o.add(this.outline(sh, get, '#16a34a', 2.5));
		}
		for (const id of Object.keys(diff.modified || {})) {
			const sh = get(id);
			if (sh) o.add(this.outline(sh, get, '#d97706', 2.5));
		}
		for (const id of Object.keys(diff.added || {})) {
			const sh = now(id);
			if (sh) o.add(this.outline(sh, now, '#dc2626', 2, [6, 4]));
		}
	}

	// What the others have selected: an outline in each one's colour, their name on the first.
	drawOthersSelections(o, selections, get) {
		for (const { ids, color, name } of selections.values()) {
			let first = null;
			for (const id of ids) {
				const sh = get(id);
				if (!sh)
					continue;
				o.add(this.outline(sh, get, color, 2, [8, 3]));
				if (!first)
					first = sh;
			}
			if (first && name) {
				const b = shapeAABB(first, get);
				const [x, y] = this.toScreen(b.x, b.y);
				const label = new Konva.Label({ x: x - 2, y: y - 22, listening: false });
				label.add(new Konva.Tag({ fill: color, cornerRadius: 4 }));
				label.add(new Konva.Text({ text: name, fill: '#ffffff', fontSize: 11, fontStyle: 'bold', padding: 3 }));
				o.add(label);
			}
		}
	}

	// ---- comment pins

	syncPins(v) {
		const s = this.board.get();
		const get = (id) => this.board.displayed(id);
		const want = new Map();
		this.pinShapes = new Set();
		for (const t of threadsOf(s.comments)) {
			if (t.resolved && !s.showResolved && s.thread !== t.id)
				continue;
			const at = pinPosition(t, get);
			if (!at)
				continue;
			if (t.shape_id && get(t.shape_id))
				this.pinShapes.add(t.shape_id);
			want.set(t.id, { t, at });
		}
		for (const [id, el] of this.pinEls) {
			if (!want.has(id)) {
				el.remove();
				this.pinEls.delete(id);
			}
		}
		for (const [id, { t, at }] of want) {
			let el = this.pinEls.get(id);
			if (!el) {
				el = document.createElement('button');
				el.type = 'button';
				el.className = 'comment-pin';
				el.dataset.threadId = id;
				// A pin is not part of the canvas gestures: a press on it opens its thread.
				el.addEventListener('pointerdown', (e) => e.stopPropagation());
				el.addEventListener('click', (e) => {
					e.stopPropagation();
					this.board.set({ panel: 'comments', thread: id });
				});
				this.pinBox.append(el);
				this.pinEls.set(id, el);
			}
			const count = 1 + t.replies.length;
			const label = `${t.author ? t.author.display_name : ''}: ${t.body.slice(0, 60)}${t.resolved ? ' (resolved)' : ''}`;
			if (el.textContent !== String(count))
				el.textContent = String(count);
			if (el.title !== label) {
				el.title = label;
				el.setAttribute('aria-label', `Comment thread, ${count} comment${count === 1 ? '' : 's'}: ${label}`);
			}
			el.classList.toggle('resolved', !!t.resolved);
			el.classList.toggle('current', s.thread === id);
			const sx = at.x * v.scale + v.x, sy = at.y * v.scale + v.y;
			el.style.transform = `translate(${sx}px, ${sy - 28}px)`;
			// Out of view: hidden, so it is neither tabbed to nor laid out past the page's edge.
			const inView = sx > -40 && sy > 0 && sx < this.width && sy < this.height + 28;
			el.style.visibility = inView ? '' : 'hidden';
		}
	}

	// ---- others' strokes and cursors

	syncStrokes() {
		const strokes = this.board.get().strokes;
		for (const [key, node] of this.strokeNodes) {
			if (!strokes.has(key)) {
				node.destroy();
				this.strokeNodes.delete(key);
			}
		}
		for (const [key, st] of strokes) {
			let node = this.strokeNodes.get(key);
			if (!node) {
				node = new Konva.Line({ stroke: st.color, strokeWidth: 2, lineCap: 'round', lineJoin: 'round', listening: false, opacity: 0.8 });
				this.strokeNodes.set(key, node);
				this.strokesLayer.add(node);
			}
			if (node.getAttr('count') !== st.points.length) {
				node.points(st.points.flat());
				node.setAttr('count', st.points.length);
			}
		}
		this.drawIfShown(this.strokesLayer);
	}

	syncCursors(v) {
		const s = this.board.get();
		const who = new Map(s.presence.map((p) => [p.session_id, p]));
		for (const [sid, el] of this.cursorEls) {
			if (!s.cursors.has(sid) || !who.has(sid)) {
				el.remove();
				this.cursorEls.delete(sid);
			}
		}
		for (const [sid, pos] of s.cursors) {
			const p = who.get(sid);
			if (!p)
				continue;
			let el = this.cursorEls.get(sid);
			if (!el) {
				el = document.createElement('div');
				el.className = 'remote-cursor';
				el.dataset.sessionId = sid;
				el.style.setProperty('--c', p.color);
				el.innerHTML = '<svg width="16" height="20" viewBox="0 0 16 20"><path d="M0,0 L0,16 L4.5,12 L8,19 L10.5,18 L7,11 L13,11 Z" stroke="#fff" stroke-width="1"/></svg><span></span>';
				el.querySelector('path').setAttribute('fill', p.color);
				el.querySelector('span').textContent = p.display_name;
				this.cursorBox.append(el);
				this.cursorEls.set(sid, el);
			}
			el.style.transform = `translate(${pos.x * v.scale + v.x}px, ${pos.y * v.scale + v.y}px)`;
		}
	}

	// ---- picking

	// Shapes under a canvas point (committed + overlays), topmost first among non-connectors.
	attachTarget(px, py, exclude) {
		const v = this.board.get().viewport;
		let best = null;
		for (const sh of this.board.displayedShapes()) {
			if (!attachable(sh) || sh.id === exclude)
				continue;
			const b = shapeAABB(sh, (id) => this.board.displayed(id));
			const tol = 6 / v.scale;
			if (px < b.x - tol || py < b.y - tol || px > b.x + b.w + tol || py > b.y + b.h + tol)
				continue;
			if (!best || compareZ(sh, best) > 0)
				best = sh;
		}
		return best;
	}
}
