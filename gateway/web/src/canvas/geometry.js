// Geometry of shapes, pure (no DOM, no Konva): bounds, rotation, hit testing, connector ends,
// resizing. Conventions are those of the server's export (docs/protocol.md, export.svg):
// `points` are offsets from (x, y); rotation is clockwise in degrees about the centre of the
// box and does not apply to connectors; a connector joins its `from` and `to` shapes, an end
// whose shape is missing falling back to its own box corner.

export const LINE_KINDS = new Set(['line', 'arrow', 'path', 'connector']);
export const TEXT_KINDS = new Set(['text', 'sticky', 'rect', 'ellipse']);

export function center(s) {
	return [s.x + s.w / 2, s.y + s.h / 2];
}

export function rotatePoint(px, py, cx, cy, deg) {
	if (!deg)
		return [px, py];
	const r = (deg * Math.PI) / 180;
	const c = Math.cos(r), s = Math.sin(r);
	const dx = px - cx, dy = py - cy;
	return [cx + dx * c - dy * s, cy + dx * s + dy * c];
}

// Where the segment from the centre of `s` towards (tx, ty) leaves the shape's outline
// (its box, or its ellipse), rotation included.
export function outlinePoint(s, tx, ty) {
	const [cx, cy] = center(s);
	const [lx, ly] = rotatePoint(tx, ty, cx, cy, -(s.rotation || 0));
	const dx = lx - cx, dy = ly - cy;
	const hw = s.w / 2, hh = s.h / 2;
	if ((dx === 0 && dy === 0) || hw <= 0 || hh <= 0)
		return [cx, cy];
	let t;
	if (s.kind === 'ellipse')
		t = 1 / Math.sqrt((dx * dx) / (hw * hw) + (dy * dy) / (hh * hh));
	else
		t = Math.min(dx === 0 ? Infinity : hw / Math.abs(dx), dy === 0 ? Infinity : hh / Math.abs(dy));
	if (t >= 1)
		return [cx, cy]; // target inside the shape
	return rotatePoint(cx + dx * t, cy + dy * t, cx, cy, s.rotation || 0);
}

// The two ends of a connector in canvas coordinates. `get(id)` returns a shape or undefined.
export function connectorEnds(s, get) {
	const a = s.from ? get(s.from) : null;
	const b = s.to ? get(s.to) : null;
	const ca = a && a.kind !== 'connector' ? center(a) : [s.x, s.y];
	const cb = b && b.kind !== 'connector' ? center(b) : [s.x + s.w, s.y + s.h];
	const pa = a && a.kind !== 'connector' ? outlinePoint(a, cb[0], cb[1]) : ca;
	const pb = b && b.kind !== 'connector' ? outlinePoint(b, ca[0], ca[1]) : cb;
	return [pa, pb];
}

// The polyline of a line-like shape, in canvas coordinates, before rotation.
export function linePoints(s, get) {
	if (s.kind === 'connector')
		return connectorEnds(s, get);
	if (s.points.length >= 2 || s.kind === 'path')
		return s.points.map(([px, py]) => [s.x + px, s.y + py]);
	return [[s.x, s.y], [s.x + s.w, s.y + s.h]];
}

function boundsOf(pts) {
	let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
	for (const [x, y] of pts) {
		if (x < x0) x0 = x;
		if (y < y0) y0 = y;
		if (x > x1) x1 = x;
		if (y > y1) y1 = y;
	}
	if (x0 === Infinity)
		return null;
	return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

// Axis-aligned bounds of what is drawn (rotation included).
export function shapeAABB(s, get) {
	if (s.kind === 'connector')
		return boundsOf(connectorEnds(s, get)) || { x: s.x, y: s.y, w: 0, h: 0 };
	let pts;
	if (LINE_KINDS.has(s.kind))
		pts = linePoints(s, get);
	else
		pts = [[s.x, s.y], [s.x + s.w, s.y], [s.x + s.w, s.y + s.h], [s.x, s.y + s.h]];
	if (s.rotation) {
		const [cx, cy] = center(s);
		pts = pts.map(([x, y]) => rotatePoint(x, y, cx, cy, s.rotation));
	}
	return boundsOf(pts) || { x: s.x, y: s.y, w: 0, h: 0 };
}

export function unionBounds(list) {
	let b = null;
	for (const r of list) {
		if (!r)
			continue;
		if (!b) {
			b = { ...r };
			continue;
		}
		const x1 = Math.max(b.x + b.w, r.x + r.w), y1 = Math.max(b.y + b.h, r.y + r.h);
		b.x = Math.min(b.x, r.x);
		b.y = Math.min(b.y, r.y);
		b.w = x1 - b.x;
		b.h = y1 - b.y;
	}
	return b;
}

export function rectsIntersect(a, b) {
	return a.x <= b.x + b.w && b.x <= a.x + a.w && a.y <= b.y + b.h && b.y <= a.y + a.h;
}

export function rectContains(outer, inner) {
	return inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.w <= outer.x + outer.w &&
		inner.y + inner.h <= outer.y + outer.h;
}

function distToSegment(px, py, [ax, ay], [bx, by]) {
	const dx = bx - ax, dy = by - ay;
	const len2 = dx * dx + dy * dy;
	let t = len2 ? ((px - ax) * dx + (py - ay) * dy) / len2 : 0;
	t = Math.max(0, Math.min(1, t));
	return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

export function distToPolyline(px, py, pts) {
	let d = Infinity;
	for (let i = 1; i < pts.length; i++)
		d = Math.min(d, distToSegment(px, py, pts[i - 1], pts[i]));
	if (pts.length === 1)
		d = Math.hypot(px - pts[0][0], py - pts[0][1]);
	return d;
}

// Whether canvas point (px, py) hits shape s; `tol` is the pick tolerance in canvas units.
export function hitShape(s, px, py, tol, get) {
	if (s.kind === 'connector')
		return distToPolyline(px, py, connectorEnds(s, get)) <= tol + s.style.width / 2;
	const [cx, cy] = center(s);
	const [lx, ly] = rotatePoint(px, py, cx, cy, -(s.rotation || 0));
	if (LINE_KINDS.has(s.kind))
		return distToPolyline(lx, ly, linePoints(s, get)) <= tol + s.style.width / 2;
	if (s.kind === 'ellipse') {
		const rx = s.w / 2 + tol, ry = s.h / 2 + tol;
		const dx = lx - cx, dy = ly - cy;
		return (dx * dx) / (rx * rx) + (dy * dy) / (ry * ry) <= 1;
	}
	return lx >= s.x - tol && lx <= s.x + s.w + tol && ly >= s.y - tol && ly <= s.y + s.h + tol;
}

// Painting order: ascending z, then id (bytewise), as the export.
export function compareZ(a, b) {
	return (a.z - b.z) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

// The topmost shape under a point. Connectors are picked only where no other shape is: a
// connector crossing a shape never steals its clicks.
export function pickShape(shapes, px, py, tol, get) {
	let best = null, bestConnector = null;
	for (const s of shapes) {
		if (s.kind === 'connector') {
			if ((!bestConnector || compareZ(s, bestConnector) > 0) && hitShape(s, px, py, tol, get))
				bestConnector = s;
		} else if ((!best || compareZ(s, best) > 0) && hitShape(s, px, py, tol, get)) {
			best = s;
		}
	}
	return best || bestConnector;
}

// Shapes that can be a connector's end: everything but line-like shapes.
export function attachable(s) {
	return !!s && !LINE_KINDS.has(s.kind);
}

// ---- transforms of a selection ------------------------------------------------------------------

const round = (v) => Math.round(v * 100) / 100;

// A shape scaled from box `from` to box `to` (both axis-aligned {x, y, w, h}): its box is mapped,
// its points scaled. Returns the changed fields.
export function scaleShape(s, from, to) {
	const sx = from.w ? to.w / from.w : 1, sy = from.h ? to.h / from.h : 1;
	const mapX = (x) => to.x + (x - from.x) * sx, mapY = (y) => to.y + (y - from.y) * sy;
	if (s.kind === 'connector')
		return { x: round(mapX(s.x)), y: round(mapY(s.y)), w: round(s.w * Math.abs(sx)), h: round(s.h * Math.abs(sy)) };
	let x0 = mapX(s.x), y0 = mapY(s.y), x1 = mapX(s.x + s.w), y1 = mapY(s.y + s.h);
	const out = {};
	if (LINE_KINDS.has(s.kind) && s.points.length) {
		const abs = s.points.map(([px, py]) => [mapX(s.x + px), mapY(s.y + py)]);
		const b = boundsOf(abs);
		out.x = round(b.x);
		out.y = round(b.y);
		out.w = round(b.w);
		out.h = round(b.h);
		out.points = abs.map(([x, y]) => [round(x - b.x), round(y - b.y)]);
		return out;
	}
	if (x1 < x0) [x0, x1] = [x1, x0];
	if (y1 < y0) [y0, y1] = [y1, y0];
	return { x: round(x0), y: round(y0), w: round(x1 - x0), h: round(y1 - y0) };
}

// The new box of one rotated shape resized by dragging handle `handle` (n, s, e, w, ne, ...)
// to canvas point (px, py): the opposite side or corner stays fixed on the canvas.
export function resizeRotated(s, handle, px, py, keepAspect = false) {
	const deg = s.rotation || 0;
	const [cx, cy] = center(s);
	const [lx, ly] = rotatePoint(px, py, cx, cy, -deg);
	let x0 = s.x, y0 = s.y, x1 = s.x + s.w, y1 = s.y + s.h;
	if (handle.includes('w')) x0 = lx;
	if (handle.includes('e')) x1 = lx;
	if (handle.includes('n')) y0 = ly;
	if (handle.includes('s')) y1 = ly;
	if (keepAspect && s.w > 0 && s.h > 0 && handle.length === 2) {
		const ratio = s.w / s.h;
		const w = Math.abs(x1 - x0), h = Math.abs(y1 - y0);
		if (w / h > ratio) {
			const nh = w / ratio;
			if (handle.includes('n')) y0 = y1 - Math.sign(y1 - y0 || 1) * nh; else y1 = y0 + Math.sign(y1 - y0 || 1) * nh;
		} else {
			const nw = h * ratio;
			if (handle.includes('w')) x0 = x1 - Math.sign(x1 - x0 || 1) * nw; else x1 = x0 + Math.sign(x1 - x0 || 1) * nw;
		}
	}
	if (x1 < x0) [x0, x1] = [x1, x0];
	if (y1 < y0) [y0, y1] = [y1, y0];
	// The fixed point: the anchor opposite the handle, which must not move on the canvas.
	const ax = handle.includes('w') ? s.x + s.w : handle.includes('e') ? s.x : cx;
	const ay = handle.includes('n') ? s.y + s.h : handle.includes('s') ? s.y : cy;
	const [wax, way] = rotatePoint(ax, ay, cx, cy, deg);
	const nw = x1 - x0, nh = y1 - y0;
	const nax = handle.includes('w') ? x1 : handle.includes('e') ? x0 : x0 + nw / 2;
	const nay = handle.includes('n') ? y1 : handle.includes('s') ? y0 : y0 + nh / 2;
	// Place the new box so that its anchor lands on (wax, way) after rotation about its centre.
	const ncx = x0 + nw / 2, ncy = y0 + nh / 2;
	const [rax, ray] = rotatePoint(nax, nay, ncx, ncy, deg);
	const dx = wax - rax, dy = way - ray;
	return { x: round(x0 + dx), y: round(y0 + dy), w: round(nw), h: round(nh) };
}

// The box a handle drag gives for an axis-aligned selection box `b`.
export function resizeBox(b, handle, px, py, keepAspect = false) {
	const s = { ...b, rotation: 0, kind: 'rect' };
	return resizeRotated(s, handle, px, py, keepAspect);
}

export function angleDeg(cx, cy, px, py) {
	return (Math.atan2(py - cy, px - cx) * 180) / Math.PI;
}
