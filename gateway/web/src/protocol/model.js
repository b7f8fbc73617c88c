// The canvas model on the client: the same reducer semantics as common/canvas.c
// (docs/canvas-model.md §3), so a client that applies the ops of the log in version order holds
// the state the server replays. Pure: no DOM, no network (model.test.js runs it in Node).
//
// A state is a Map from shape id to a complete shape. Shapes are never modified in place: an op
// builds a new object, so a renderer may keep references to old ones.

export const KINDS = ['rect', 'ellipse', 'line', 'arrow', 'text', 'sticky', 'path', 'connector'];

const STYLE_KEYS = ['stroke', 'fill', 'width', 'opacity'];
const UPDATE_KEYS = ['rotation', 'z', 'text', 'points', 'from', 'to'];
const ID_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

export function defaultStyle() {
	return { stroke: '#000000', fill: 'none', width: 1, opacity: 1 };
}

function isNum(v) {
	return typeof v === 'number' && Number.isFinite(v);
}

export function validShapeId(id) {
	return typeof id === 'string' && ID_RE.test(id);
}

// A complete shape from a create_shape payload (or a stored shape, which has `id`), every
// omitted optional field filled with its default. Returns null when the essentials are missing.
export function completeShape(src) {
	if (!src || typeof src !== 'object')
		return null;
	const id = src.shape_id !== undefined ? src.shape_id : src.id;
	if (!validShapeId(id) || !KINDS.includes(src.kind) || !isNum(src.x) || !isNum(src.y))
		return null;
	const style = defaultStyle();
	if (src.style && typeof src.style === 'object') {
		for (const k of STYLE_KEYS) {
			if (src.style[k] !== undefined)
				style[k] = src.style[k];
		}
	}
	return {
		id,
		kind: src.kind,
		x: src.x,
		y: src.y,
		w: isNum(src.w) ? src.w : 0,
		h: isNum(src.h) ? src.h : 0,
		rotation: isNum(src.rotation) ? src.rotation : 0,
		z: isNum(src.z) ? src.z : 0,
		style,
		text: typeof src.text === 'string' ? src.text : '',
		points: Array.isArray(src.points) ? src.points : [],
		from: typeof src.from === 'string' ? src.from : null,
		to: typeof src.to === 'string' ? src.to : null,
	};
}

// Applies one op to `shapes` (a Map), in place. Total, like the server's reducer: an op that
// is malformed or names a missing shape is a no-op; a second create of an id replaces the shape;
// update_shape sets only what it carries, style key by key. Returns true if the state changed
// (callers use it only to skip needless redraws).
export function applyOp(shapes, type, payload) {
	if (!payload || typeof payload !== 'object' || !validShapeId(payload.shape_id))
		return false;
	const id = payload.shape_id;
	const cur = shapes.get(id);
	switch (type) {
	case 'create_shape': {
		const s = completeShape(payload);
		if (!s)
			return false;
		shapes.set(id, s);
		return true;
	}
	case 'move_shape':
		if (!cur || !isNum(payload.x) || !isNum(payload.y))
			return false;
		shapes.set(id, { ...cur, x: payload.x, y: payload.y });
		return true;
	case 'resize_shape':
		if (!cur || !isNum(payload.x) || !isNum(payload.y) || !isNum(payload.w) ||
		    !isNum(payload.h))
			return false;
		shapes.set(id, { ...cur, x: payload.x, y: payload.y, w: payload.w, h: payload.h });
		return true;
	case 'update_shape': {
		if (!cur)
			return false;
		const next = { ...cur };
		for (const k of UPDATE_KEYS) {
			if (payload[k] !== undefined)
				next[k] = payload[k];
		}
		if (payload.style && typeof payload.style === 'object') {
			next.style = { ...cur.style };
			for (const k of STYLE_KEYS) {
				if (payload.style[k] !== undefined)
					next.style[k] = payload.style[k];
			}
		}
		shapes.set(id, next);
		return true;
	}
	case 'delete_shape':
		return shapes.delete(id);
	default:
		return false;
	}
}

// A state from the `shapes` object of a sync in state mode ({id: shape}).
export function stateFromShapes(obj) {
	const shapes = new Map();
	for (const [id, raw] of Object.entries(obj || {})) {
		const s = completeShape({ ...raw, id });
		if (s)
			shapes.set(id, s);
	}
	return shapes;
}

// Painting order of the export: ascending z, then id (bytewise).
export function paintOrder(shapes) {
	return [...shapes.values()].sort((a, b) => (a.z - b.z) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

// Applies a run of committed operations in version order. `ops` may arrive in any order and
// contain versions already applied (a reconnect overlap); those are skipped. Returns the last
// applied version. Ops beyond a gap are left for the caller (see ws.js) to fetch.
export function applyInOrder(shapes, version, ops) {
	const sorted = [...ops].sort((a, b) => a.version - b.version);
	for (const op of sorted) {
		if (op.version <= version)
			continue;
		if (op.version !== version + 1)
			break;
		applyOp(shapes, op.type, op.payload);
		version = op.version;
	}
	return version;
}
