// SVG rendering of a canvas state, following the conventions of the server's export
// (docs/protocol.md, "export.svg"): one <g data-shape-id data-kind> per shape in ascending z then
// id; `points` are offsets from (x, y); rotation is clockwise in degrees about the centre of the
// box (not for connectors); text is drawn in the stroke colour, one <tspan> per line; a sticky
// is pale yellow when its fill is "none"; a connector joins the centres of its `from`/`to`
// shapes, a dangling end falling back to its own box corner.
//
// Rendering rebuilds the layers from scratch: boards are small, and it keeps the DOM a pure
// function of the model.

import { paintOrder } from './model.js';

const NS = 'http://www.w3.org/2000/svg';
const FONT_SIZE = 16;
const STICKY_FILL = '#fff59d';

export function el(tag, attrs = {}, children = []) {
	const node = document.createElementNS(NS, tag);
	for (const [k, v] of Object.entries(attrs)) {
		if (v !== undefined && v !== null)
			node.setAttribute(k, String(v));
	}
	for (const c of children)
		node.append(c);
	return node;
}

function paint(style, fillOverride) {
	const fill = fillOverride !== undefined ? fillOverride : style.fill;
	return {
		stroke: style.stroke === 'transparent' ? 'none' : style.stroke,
		fill: fill === 'transparent' ? 'none' : fill,
		'stroke-width': style.width,
	};
}

function absPoints(shape) {
	return shape.points.map(([px, py]) => [shape.x + px, shape.y + py]);
}

function center(shape) {
	return [shape.x + shape.w / 2, shape.y + shape.h / 2];
}

// The two ends of a connector (see the file comment).
function connectorEnds(shape, shapes) {
	const a = shape.from && shapes.get(shape.from);
	const b = shape.to && shapes.get(shape.to);
	return [a ? center(a) : [shape.x, shape.y], b ? center(b) : [shape.x + shape.w, shape.y + shape.h]];
}

// The polyline a line-like shape is drawn along, in canvas coordinates.
function lineOf(shape, shapes) {
	if (shape.kind === 'connector')
		return connectorEnds(shape, shapes);
	if (shape.points.length >= 2 || shape.kind === 'path')
		return absPoints(shape);
	return [[shape.x, shape.y], [shape.x + shape.w, shape.y + shape.h]];
}

function isLineLike(kind) {
	return kind === 'line' || kind === 'arrow' || kind === 'path' || kind === 'connector';
}

// Bounding box {x, y, w, h} of a shape before rotation.
export function shapeBounds(shape, shapes) {
	if (!isLineLike(shape.kind))
		return { x: shape.x, y: shape.y, w: shape.w, h: shape.h };
	const pts = lineOf(shape, shapes);
	if (!pts.length)
		return { x: shape.x, y: shape.y, w: 0, h: 0 };
	let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
	for (const [x, y] of pts) {
		x0 = Math.min(x0, x);
		y0 = Math.min(y0, y);
		x1 = Math.max(x1, x);
		y1 = Math.max(y1, y);
	}
	return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

function pointsAttr(pts) {
	return pts.map(([x, y]) => `${x},${y}`).join(' ');
}

function arrowHead(pts, style) {
	if (pts.length < 2)
		return null;
	const [x1, y1] = pts[pts.length - 1];
	let i = pts.length - 2;
	while (i > 0 && pts[i][0] === x1 && pts[i][1] === y1)
		i--;
	const [x0, y0] = pts[i];
	const len = Math.hypot(x1 - x0, y1 - y0);
	if (len === 0)
		return null;
	const size = 8 + 2 * style.width;
	const ux = (x1 - x0) / len, uy = (y1 - y0) / len;
	const bx = x1 - ux * size, by = y1 - uy * size;
	const px = -uy * size * 0.5, py = ux * size * 0.5;
	const stroke = style.stroke === 'transparent' ? 'none' : style.stroke;
	return el('polygon', {
		points: `${x1},${y1} ${bx + px},${by + py} ${bx - px},${by - py}`,
		fill: stroke,
		stroke: 'none',
	});
}

function textElement(x, y, text, color) {
	const t = el('text', { x, y, fill: color === 'transparent' ? 'none' : color, 'font-size': FONT_SIZE });
	const lines = text.split('\n');
	lines.forEach((line, i) => {
		const span = el('tspan', { x, dy: i === 0 ? FONT_SIZE : FONT_SIZE * 1.25 });
		span.textContent = line;
		t.append(span);
	});
	return t;
}

// One shape as a <g>. `attrs` are extra attributes for the group (ids, classes).
export function shapeElement(shape, shapes, attrs = {}) {
	const g = el('g', { 'data-kind': shape.kind, ...attrs });
	if (shape.style.opacity !== 1)
		g.setAttribute('opacity', shape.style.opacity);
	if (shape.rotation && shape.kind !== 'connector') {
		const [cx, cy] = center(shape);
		g.setAttribute('transform', `rotate(${shape.rotation} ${cx} ${cy})`);
	}
	const style = shape.style;
	switch (shape.kind) {
	case 'rect':
		g.append(el('rect', { x: shape.x, y: shape.y, width: shape.w, height: shape.h, ...paint(style) }));
		break;
	case 'ellipse':
		g.append(el('ellipse', {
			cx: shape.x + shape.w / 2, cy: shape.y + shape.h / 2, rx: shape.w / 2, ry: shape.h / 2,
			...paint(style),
		}));
		break;
	case 'sticky':
		g.append(el('rect', {
			x: shape.x, y: shape.y, width: shape.w, height: shape.h,
			...paint(style, style.fill === 'none' ? STICKY_FILL : style.fill),
		}));
		if (shape.text)
			g.append(textElement(shape.x + 8, shape.y + 6, shape.text, style.stroke));
		break;
	case 'text':
		g.append(textElement(shape.x, shape.y, shape.text || ' ', style.stroke));
		break;
	default: { // line, arrow, path, connector
		const pts = lineOf(shape, shapes);
		g.append(el('polyline', {
			points: pointsAttr(pts), ...paint(style, shape.kind === 'path' ? style.fill : 'none'),
			'stroke-linecap': 'round', 'stroke-linejoin': 'round',
		}));
		if (shape.kind === 'arrow' || shape.kind === 'connector') {
			const head = arrowHead(pts, style);
			if (head)
				g.append(head);
		}
		// Thin lines are hard to hit: a wide invisible stroke takes the pointer.
		g.append(el('polyline', {
			class: 'hit', points: pointsAttr(pts), fill: 'none', stroke: 'transparent',
			'stroke-width': Math.max(12, style.width + 8),
		}));
	}
	}
	return g;
}

// Redraws the shape layer. `overrides` maps shape id to {x, y} (a drag in progress or a move
// not yet committed); `pending` lists shapes created locally and not yet committed.
export function renderShapes(layer, shapes, { selectedId = null, overrides = new Map(), pending = [] } = {}) {
	const view = new Map(shapes);
	for (const [id, pos] of overrides) {
		const s = view.get(id);
		if (s)
			view.set(id, { ...s, x: pos.x, y: pos.y });
	}
	const nodes = [];
	for (const shape of paintOrder(view)) {
		const g = shapeElement(shape, view, { 'data-shape-id': shape.id });
		if (shape.id === selectedId) {
			g.classList.add('selected');
			const b = shapeBounds(shape, view);
			g.append(el('rect', {
				class: 'selection', x: b.x - 4, y: b.y - 4, width: b.w + 8, height: b.h + 8,
			}));
		}
		nodes.push(g);
	}
	for (const shape of pending)
		nodes.push(shapeElement(shape, view, { 'data-pending-id': shape.id, class: 'pending' }));
	layer.replaceChildren(...nodes);
}

// In-progress freehand strokes of other sessions: [{points: [[x, y]...], color}].
export function renderStrokes(layer, strokes) {
	const nodes = [];
	for (const s of strokes) {
		if (s.points.length === 0)
			continue;
		nodes.push(el('polyline', {
			class: 'remote-stroke', points: pointsAttr(s.points), stroke: s.color, fill: 'none',
			'stroke-width': 2, 'stroke-linecap': 'round', 'stroke-linejoin': 'round',
		}));
	}
	layer.replaceChildren(...nodes);
}

// Cursors of other sessions: [{session_id, x, y, color, name}].
export function renderCursors(layer, cursors) {
	const nodes = [];
	for (const c of cursors) {
		const label = el('text', { x: 14, y: 26, class: 'cursor-label' });
		label.textContent = c.name;
		const width = 10 + 7.2 * c.name.length;
		nodes.push(el('g', {
			class: 'cursor', 'data-session-id': c.session_id, transform: `translate(${c.x} ${c.y})`,
		}, [
			el('path', { d: 'M0,0 L0,16 L4.5,12 L8,19 L10.5,18 L7,11 L13,11 Z', fill: c.color, stroke: '#fff', 'stroke-width': 1 }),
			el('rect', { x: 10, y: 13, width, height: 18, rx: 4, fill: c.color }),
			label,
		]));
	}
	layer.replaceChildren(...nodes);
}
