// The board's one store (Zustand, vanilla so that the Konva scene and the tests use it without
// React; views read it through useBoard()).
//
// What is drawn is the committed state (applied by the session in version order) with local
// overlays on top, never a state mutated optimistically:
//   overrides  Map id → {shape|null, ops: Set of client_op_ids, live}: a shape as the user's
//              not-yet-committed ops (or a drag in progress, `live`) make it; null hides a
//              shape being deleted. An entry goes once all its ops are settled (committed and
//              delivered back, or refused) and no drag holds it.
// Every Map and Set in the state is replaced, never mutated, so subscribers compare by
// reference and the scene re-renders exactly the shapes whose object changed.
//
// Edits become ops through `commit(ops)`, which previews them on the overlay and hands them to
// the submitter (the session's outbox) installed with setSubmitter().

import { createStore } from 'zustand/vanilla';
import { applyOp, completeShape } from '../protocol/model.js';
import { uuid } from '../protocol/session.js';
import { roleAtLeast } from '../protocol/comments.js';
import { compareZ, LINE_KINDS, shapeAABB, unionBounds } from '../canvas/geometry.js';

export const MIN_SCALE = 0.05;
export const MAX_SCALE = 8;
export const PASTE_OFFSET = 24;

const DEFAULT_STYLE = { stroke: '#1e1e1e', fill: 'none', width: 2, opacity: 1 };

function loadTheme() {
	try {
		const t = globalThis.localStorage && localStorage.getItem('flowstate.theme');
		if (t === 'dark' || t === 'light')
			return t;
		if (globalThis.matchMedia && matchMedia('(prefers-color-scheme: dark)').matches)
			return 'dark';
	} catch {
		// no storage
	}
	return 'light';
}

export function createBoardStore({ theme } = {}) {
	let submitter = () => [];
	const store = createStore((set, get) => ({
		canvasId: null,
		canvas: null,
		role: null,
		conn: { state: 'idle' },
		version: null,
		outbox: 0,
		shapes: new Map(),
		overrides: new Map(),
		selection: new Set(),
		tool: 'select',
		toolLocked: false,
		style: { ...DEFAULT_STYLE },
		viewport: { x: 0, y: 0, scale: 1 },
		presence: [],
		you: null,
		cursors: new Map(),
		strokes: new Map(),
		editing: null, // {id} of the shape whose text is edited in place
		notice: null, // {text, kind, at}
		theme: theme || loadTheme(),
		panel: null, // 'history' | 'comments' | 'activity' | 'share' | 'mermaid' | null
		help: false,
		comments: new Map(), // comment id -> comment (protocol/comments.js), from the session
		selections: new Map(), // session id -> {ids: Set, color, name}: what the others have selected
		thread: null, // id of the comment thread shown in the panel
		showResolved: false,
		commentDraft: null, // {x, y, shape_id}: a new comment being written at that place
		preview: null, // {version, shapes: Map, diff} while the history slider previews a version
		clipboard: [],
		pasteCount: 0,
	}));

	const api = {
		store,
		get: store.getState,
		set: store.setState,
		subscribe: store.subscribe,

		setSubmitter(fn) {
			submitter = fn;
		},

		// ---- reading

		displayed(id) {
			const s = store.getState();
			const o = s.overrides.get(id);
			if (o)
				return o.shape || undefined;
			return s.shapes.get(id);
		},

		// Every shape as drawn (committed + overlays), unordered.
		displayedShapes() {
			const s = store.getState();
			const out = [];
			for (const [id, shape] of s.shapes) {
				const o = s.overrides.get(id);
				if (!o)
					out.push(shape);
				else if (o.shape)
					out.push(o.shape);
			}
			for (const [id, o] of s.overrides) {
				if (o.shape && !s.shapes.has(id))
					out.push(o.shape);
			}
			return out;
		},

		selectedShapes() {
			const sel = store.getState().selection;
			const out = [];
			for (const id of sel) {
				const sh = api.displayed(id);
				if (sh)
					out.push(sh);
			}
			return out;
		},

		canEdit() {
			const s = store.getState();
			return (s.role === 'editor' || s.role === 'owner') && !s.preview;
		},

		canComment() {
			const s = store.getState();
			return roleAtLeast(s.role, 'commenter') && !s.preview;
		},

		// Others' selections from the session's presence (entries carry `selection`), without
		// our own session; shape ids as Sets.
		setSelections(presence, mySessionId) {
			const next = new Map();
			for (const p of presence) {
				if (p.session_id === mySessionId || !Array.isArray(p.selection) || !p.selection.length)
					continue;
				next.set(p.session_id, { ids: new Set(p.selection), color: p.color, name: p.display_name });
			}
			const cur = store.getState().selections;
			let same = cur.size === next.size;
			if (same) {
				for (const [sid, e] of next) {
					const o = cur.get(sid);
					if (!o || o.color !== e.color || o.ids.size !== e.ids.size || [...e.ids].some((id) => !o.ids.has(id))) {
						same = false;
						break;
					}
				}
			}
			if (!same)
				store.setState({ selections: next });
		},

		topZ() {
			let z = 0;
			for (const sh of api.displayedShapes())
				if (sh.z > z) z = sh.z;
			return Math.min(1e9, Math.floor(z) + 1);
		},

		selectionBounds() {
			const get = (id) => api.displayed(id);
			return unionBounds(api.selectedShapes().map((sh) => shapeAABB(sh, get)));
		},

		// ---- session events

		applyCommitted(shapes, version, changed) {
			const s = store.getState();
			let next;
			if (!changed) {
				next = new Map(shapes);
			} else {
				next = new Map(s.shapes);
				for (const id of changed) {
					const sh = shapes.get(id);
					if (sh)
						next.set(id, sh);
					else
						next.delete(id);
				}
			}
			let selection = s.selection;
			for (const id of selection) {
				if (!next.has(id) && !s.overrides.has(id)) {
					selection = new Set([...selection].filter((x) => next.has(x) || s.overrides.has(x)));
					break;
				}
			}
			store.setState({ shapes: next, version, selection });
		},

		// An op of ours is committed and applied (or refused): its preview is no longer needed.
		settle(opId) {
			const s = store.getState();
			let next = null;
			for (const [id, o] of s.overrides) {
				if (!o.ops.has(opId))
					continue;
				next = next || new Map(s.overrides);
				const ops = new Set(o.ops);
				ops.delete(opId);
				if (ops.size === 0 && !o.live)
					next.delete(id);
				else
					next.set(id, { ...o, ops });
			}
			if (next) {
				let selection = s.selection;
				if ([...selection].some((id) => !next.has(id) && !s.shapes.has(id)))
					selection = new Set([...selection].filter((id) => next.has(id) || s.shapes.has(id)));
				store.setState({ overrides: next, selection });
			}
		},

		// ---- overlays for gestures in progress

		setLive(shapesById) {
			const s = store.getState();
			const next = new Map(s.overrides);
			for (const [id, shape] of shapesById) {
				const o = next.get(id);
				next.set(id, { shape, ops: o ? o.ops : new Set(), live: true });
			}
			store.setState({ overrides: next });
		},

		// Ends a gesture: the live previews stay until the ops committing them settle (or go now
		// when nothing is committed).
		endLive(ids) {
			const s = store.getState();
			const next = new Map(s.overrides);
			for (const id of ids) {
				const o = next.get(id);
				if (!o)
					continue;
				if (o.ops.size === 0)
					next.delete(id);
				else
					next.set(id, { ...o, live: false });
			}
			store.setState({ overrides: next });
		},

		// ---- committing

		// Submits ops and shows their effect at once on the overlay. Returns the client_op_ids.
		commit(ops) {
			if (!ops.length)
				return [];
			const s = store.getState();
			const work = new Map();
			const read = (id) => (work.has(id) ? work.get(id) : api.displayed(id));
			for (const op of ops) {
				const id = op.payload.shape_id;
				const tmp = new Map();
				const cur = read(id);
				if (cur)
					tmp.set(id, cur);
				applyOp(tmp, op.op_type, op.payload);
				work.set(id, tmp.get(id) || null);
			}
			const opIds = submitter(ops);
			const next = new Map(s.overrides);
			ops.forEach((op, i) => {
				const id = op.payload.shape_id;
				const o = next.get(id);
				const set = new Set(o ? o.ops : []);
				if (opIds[i])
					set.add(opIds[i]);
				next.set(id, { shape: work.get(id), ops: set, live: false });
			});
			for (const [id, o] of next) {
				if (o.ops.size === 0 && !o.live)
					next.delete(id);
			}
			store.setState({ overrides: next });
			return opIds;
		},

		createShape(fields, { select = true, id = uuid() } = {}) {
			const payload = { shape_id: id, z: api.topZ(), ...fields };
			api.commit([{ op_type: 'create_shape', payload }]);
			if (select)
				store.setState({ selection: new Set([id]) });
			return id;
		},

		deleteSelection() {
			if (!api.canEdit())
				return;
			const ids = [...store.getState().selection];
			// Connectors attached to deleted shapes go with them.
			const gone = new Set(ids);
			for (const sh of api.displayedShapes()) {
				if (sh.kind === 'connector' && (gone.has(sh.from) || gone.has(sh.to)))
					gone.add(sh.id);
			}
			api.commit([...gone].filter((id) => api.displayed(id)).map((id) => ({ op_type: 'delete_shape', payload: { shape_id: id } })));
			store.setState({ selection: new Set() });
		},

		nudge(dx, dy) {
			if (!api.canEdit())
				return;
			const ops = [];
			for (const sh of api.selectedShapes()) {
				if (sh.kind === 'connector')
					continue;
				ops.push({ op_type: 'move_shape', payload: { shape_id: sh.id, x: sh.x + dx, y: sh.y + dy } });
			}
			api.commit(ops);
		},

		restyle(style) {
			store.setState({ style: { ...store.getState().style, ...style } });
			if (!api.canEdit())
				return;
			const ops = [];
			for (const sh of api.selectedShapes()) {
				const changed = {};
				for (const [k, v] of Object.entries(style)) {
					if (sh.style[k] !== v)
						changed[k] = v;
				}
				if (Object.keys(changed).length)
					ops.push({ op_type: 'update_shape', payload: { shape_id: sh.id, style: changed } });
			}
			api.commit(ops);
		},

		// Stacking order: 'front' and 'back' move the selection past everything else, keeping
		// its own order; 'forward' and 'backward' swap with the next shape that overlaps.
		reorder(where) {
			if (!api.canEdit())
				return;
			const sel = store.getState().selection;
			const all = api.displayedShapes().sort(compareZ);
			const chosen = all.filter((sh) => sel.has(sh.id));
			if (!chosen.length)
				return;
			const others = all.filter((sh) => !sel.has(sh.id));
			const ops = [];
			const setZ = (sh, z) => {
				z = Math.max(-1e9, Math.min(1e9, z));
				if (sh.z !== z)
					ops.push({ op_type: 'update_shape', payload: { shape_id: sh.id, z } });
			};
			if (where === 'front') {
				const top = others.length ? Math.floor(others[others.length - 1].z) : 0;
				chosen.forEach((sh, i) => setZ(sh, top + 1 + i));
			} else if (where === 'back') {
				const bottom = others.length ? Math.ceil(others[0].z) : 0;
				chosen.forEach((sh, i) => setZ(sh, bottom - chosen.length + i));
			} else {
				// One step: past the nearest other shape above (below) the selection's top (bottom).
				const get = (id) => api.displayed(id);
				const box = unionBounds(chosen.map((sh) => shapeAABB(sh, get)));
				const overlaps = (sh) => {
					const b = shapeAABB(sh, get);
					return b.x <= box.x + box.w && box.x <= b.x + b.w && b.y <= box.y + box.h && box.y <= b.y + b.h;
				};
				if (where === 'forward') {
					const maxSel = chosen[chosen.length - 1];
					const next = others.find((sh) => compareZ(sh, maxSel) > 0 && overlaps(sh)) ||
						others.find((sh) => compareZ(sh, maxSel) > 0);
					if (!next)
						return;
					chosen.forEach((sh, i) => setZ(sh, next.z + 1 + i));
				} else {
					const minSel = chosen[0];
					const below = others.filter((sh) => compareZ(sh, minSel) < 0);
					const prev = [...below].reverse().find(overlaps) || below[below.length - 1];
					if (!prev)
						return;
					chosen.forEach((sh, i) => setZ(sh, prev.z - chosen.length + i));
				}
			}
			api.commit(ops);
		},

		copy() {
			const shapes = api.selectedShapes();
			// A connector is copied with the selection; it keeps pointing at shapes outside it.
			store.setState({ clipboard: shapes.map((sh) => structuredClone(sh)), pasteCount: 0 });
			return shapes;
		},

		// Pastes shapes (clipboard by default) with fresh ids, offset from the originals;
		// connectors between pasted shapes are re-attached to the copies.
		paste(shapes = store.getState().clipboard) {
			if (!api.canEdit() || !shapes || !shapes.length)
				return [];
			const count = store.getState().pasteCount + 1;
			const d = PASTE_OFFSET * count;
			const ids = new Map(shapes.map((sh) => [sh.id, uuid()]));
			let z = api.topZ();
			const ops = [];
			const ordered = [...shapes].sort(compareZ);
			for (const sh of ordered) {
				const { id, ...rest } = sh;
				const payload = { ...rest, shape_id: ids.get(id), x: sh.x + d, y: sh.y + d, z: z++ };
				if (sh.kind === 'connector') {
					payload.from = sh.from && ids.has(sh.from) ? ids.get(sh.from) : sh.from;
					payload.to = sh.to && ids.has(sh.to) ? ids.get(sh.to) : sh.to;
				}
				const complete = completeShape(payload);
				if (!complete)
					continue;
				ops.push({ op_type: 'create_shape', payload });
			}
			api.commit(ops);
			store.setState({ selection: new Set(ops.map((o) => o.payload.shape_id)), pasteCount: count });
			return ops.map((o) => o.payload.shape_id);
		},

		duplicate() {
			const shapes = api.selectedShapes();
			if (!shapes.length)
				return [];
			const keep = store.getState().pasteCount;
			store.setState({ pasteCount: 0 });
			const ids = api.paste(shapes);
			store.setState({ pasteCount: keep });
			return ids;
		},

		// Text of a shape, with the box that fits it (text and sticky grow to fit).
		setText(id, text, box) {
			const sh = api.displayed(id);
			if (!sh || !api.canEdit())
				return;
			const ops = [];
			if (text !== sh.text)
				ops.push({ op_type: 'update_shape', payload: { shape_id: id, text } });
			if (box && (box.w !== sh.w || box.h !== sh.h || box.x !== sh.x || box.y !== sh.y))
				ops.push({ op_type: 'resize_shape', payload: { shape_id: id, x: box.x, y: box.y, w: box.w, h: box.h } });
			api.commit(ops);
		},

		// ---- selection

		select(ids, { add = false, toggle = false } = {}) {
			const cur = store.getState().selection;
			let next;
			if (toggle) {
				next = new Set(cur);
				for (const id of ids) {
					if (next.has(id))
						next.delete(id);
					else
						next.add(id);
				}
			} else {
				next = new Set(add ? [...cur, ...ids] : ids);
			}
			store.setState({ selection: next });
		},

		selectAll() {
			store.setState({ selection: new Set(api.displayedShapes().map((sh) => sh.id)) });
		},

		clearSelection() {
			if (store.getState().selection.size)
				store.setState({ selection: new Set() });
		},

		// ---- tools, view

		setTool(tool) {
			if (tool === 'comment' ? !api.canComment() : tool !== 'select' && tool !== 'hand' && !api.canEdit())
				tool = 'select';
			store.setState({ tool, editing: null, commentDraft: null });
		},

		setViewport(v) {
			const scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, v.scale));
			store.setState({ viewport: { x: v.x, y: v.y, scale } });
		},

		// Zooms by `factor` keeping screen point (sx, sy) fixed.
		zoomAt(factor, sx, sy) {
			const v = store.getState().viewport;
			const scale = Math.max(MIN_SCALE, Math.min(MAX_SCALE, v.scale * factor));
			const k = scale / v.scale;
			api.setViewport({ x: sx - (sx - v.x) * k, y: sy - (sy - v.y) * k, scale });
		},

		// Fits `bounds` (default: every shape) into a screen of size w × h, clear of the
		// toolbar above and the zoom bar below.
		fit(w, h, bounds, inset = { top: 72, bottom: 64, left: 32, right: 32 }) {
			const get = (id) => api.displayed(id);
			const b = bounds || unionBounds(api.displayedShapes().map((sh) => shapeAABB(sh, get)));
			if (!b) {
				api.setViewport({ x: 0, y: 0, scale: 1 });
				return;
			}
			const aw = Math.max(40, w - inset.left - inset.right), ah = Math.max(40, h - inset.top - inset.bottom);
			const scale = Math.max(MIN_SCALE, Math.min(2, Math.min(aw / Math.max(b.w, 1), ah / Math.max(b.h, 1))));
			const cx = inset.left + aw / 2, cy = inset.top + ah / 2;
			api.setViewport({ x: cx - (b.x + b.w / 2) * scale, y: cy - (b.y + b.h / 2) * scale, scale });
		},

		toWorld(sx, sy) {
			const v = store.getState().viewport;
			return { x: (sx - v.x) / v.scale, y: (sy - v.y) / v.scale };
		},

		notify(text, kind = 'info') {
			store.setState({ notice: text ? { text, kind, at: Date.now() } : null });
		},

		setTheme(theme) {
			try {
				localStorage.setItem('flowstate.theme', theme);
			} catch {
				// no storage
			}
			store.setState({ theme });
		},

		reset() {
			store.setState({
				canvasId: null, canvas: null, role: null, conn: { state: 'idle' }, version: null, outbox: 0,
				shapes: new Map(), overrides: new Map(), selection: new Set(), tool: 'select',
				presence: [], you: null, cursors: new Map(), strokes: new Map(), editing: null,
				notice: null, panel: null, preview: null, viewport: { x: 0, y: 0, scale: 1 },
				comments: new Map(), selections: new Map(), thread: null, commentDraft: null,
			});
		},
	};
	return api;
}

export { LINE_KINDS };
