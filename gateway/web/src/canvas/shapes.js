// Konva nodes for shapes: one Konva.Group per shape, built once and updated in place when the
// shape object changes. Drawing conventions follow the server's export (docs/protocol.md), with
// two refinements: connectors end on their shapes' outlines rather than at their centres, and
// text wraps inside stickies, rectangles and ellipses. A connector's text (a Mermaid link's
// label) sits on the middle of its line, on a patch of the canvas colour.

import Konva from './konva.js';
import { center, linePoints } from './geometry.js';

export const FONT_SIZE = 16;
export const LINE_HEIGHT = 1.25;
export const FONT_FAMILY = 'Inter, "Segoe UI", Roboto, "Helvetica Neue", Arial, "DejaVu Sans", sans-serif';
export const STICKY_FILL = '#fff59d';
export const STICKY_PAD = 10;
export const BOX_TEXT_PAD = 8;

const paintColor = (c) => (c === 'none' || c === 'transparent' ? undefined : c);

let measureCtx = null;
export function measureText(text) {
	if (!measureCtx) {
		const c = typeof document !== 'undefined' ? document.createElement('canvas') : null;
		measureCtx = c && c.getContext('2d');
	}
	if (!measureCtx)
		return text.length * FONT_SIZE * 0.55;
	measureCtx.font = `${FONT_SIZE}px ${FONT_FAMILY}`;
	return measureCtx.measureText(text).width;
}

// The box a free text needs: its widest line, its number of lines.
export function textBox(text) {
	const lines = (text || ' ').split('\n');
	const w = Math.ceil(Math.max(...lines.map((l) => measureText(l || ' ')))) + 4;
	return { w, h: Math.ceil(lines.length * FONT_SIZE * LINE_HEIGHT) + 2 };
}

// Height the text needs when wrapped to `width` (word wrap, as Konva.Text does).
export function wrappedHeight(text, width) {
	const probe = new Konva.Text({ text, width, fontSize: FONT_SIZE, lineHeight: LINE_HEIGHT, fontFamily: FONT_FAMILY, wrap: 'word' });
	const h = probe.height();
	probe.destroy();
	return h;
}

function flat(pts) {
	const out = new Array(pts.length * 2);
	for (let i = 0; i < pts.length; i++) {
		out[2 * i] = pts[i][0];
		out[2 * i + 1] = pts[i][1];
	}
	return out;
}

function textNode(attrs) {
	return new Konva.Text({
		fontSize: FONT_SIZE, lineHeight: LINE_HEIGHT, fontFamily: FONT_FAMILY, wrap: 'word',
		perfectDrawEnabled: false, listening: false, ...attrs,
	});
}

// Builds the children of `group` for shape `s`. Rebuilt whole when the kind changes; otherwise
// children are updated in place (updateShapeNode).
function build(group, s, get) {
	group.destroyChildren();
	group.fsLabel = null;
	group.fsLabelBg = null;
	const st = s.style;
	const common = { stroke: paintColor(st.stroke), strokeWidth: st.width, perfectDrawEnabled: false, listening: false, strokeScaleEnabled: true };
	switch (s.kind) {
	case 'rect':
		group.add(new Konva.Rect({ ...common, name: 'body', x: s.x, y: s.y, width: s.w, height: s.h, fill: paintColor(st.fill), cornerRadius: 2 }));
		break;
	case 'ellipse':
		group.add(new Konva.Ellipse({ ...common, name: 'body', x: s.x + s.w / 2, y: s.y + s.h / 2, radiusX: s.w / 2, radiusY: s.h / 2, fill: paintColor(st.fill) }));
		break;
	case 'sticky':
		group.add(new Konva.Rect({ ...common, name: 'body', x: s.x, y: s.y, width: s.w, height: s.h,
			fill: st.fill === 'none' ? STICKY_FILL : paintColor(st.fill), stroke: undefined, strokeWidth: 0,
			shadowColor: 'rgba(0,0,0,0.18)', shadowOffsetY: 2, shadowBlur: 0, shadowForStrokeEnabled: false }));
		break;
	case 'text':
		break;
	case 'arrow':
	case 'connector':
		group.add(new Konva.Arrow({ ...common, name: 'body', points: flat(linePoints(s, get)), fill: paintColor(st.stroke),
			pointerLength: 8 + 2 * st.width, pointerWidth: 8 + 2 * st.width, lineCap: 'round', lineJoin: 'round' }));
		break;
	default: // line, path
		group.add(new Konva.Line({ ...common, name: 'body', points: flat(linePoints(s, get)),
			fill: s.kind === 'path' ? paintColor(st.fill) : undefined, closed: false, lineCap: 'round', lineJoin: 'round',
			tension: 0 }));
	}
	group.setAttr('kind', s.kind);
	group.setAttr('labelOf', null);
}

function place(group, s) {
	if (s.rotation && s.kind !== 'connector') {
		const [cx, cy] = center(s);
		group.setAttrs({ x: cx, y: cy, offsetX: cx, offsetY: cy, rotation: s.rotation });
	} else {
		group.setAttrs({ x: 0, y: 0, offsetX: 0, offsetY: 0, rotation: 0 });
	}
	group.opacity(s.style.opacity);
}

// Updates `group` (or makes one) so that it draws shape `s`.
export function shapeNode(s, get, group = null, { hideLabel = null, labels = true } = {}) {
	if (!group) {
		group = new Konva.Group({ listening: false });
		build(group, s, get);
	} else if (group.getAttr('kind') !== s.kind) {
		build(group, s, get);
	}
	group.setAttr('shapeId', s.id);
	place(group, s);
	const st = s.style;
	const body = group.findOne('.body');
	switch (s.kind) {
	case 'rect':
		body.setAttrs({ x: s.x, y: s.y, width: s.w, height: s.h, fill: paintColor(st.fill), stroke: paintColor(st.stroke), strokeWidth: st.width });
		break;
	case 'ellipse':
		body.setAttrs({ x: s.x + s.w / 2, y: s.y + s.h / 2, radiusX: s.w / 2, radiusY: s.h / 2, fill: paintColor(st.fill), stroke: paintColor(st.stroke), strokeWidth: st.width });
		break;
	case 'sticky':
		body.setAttrs({ x: s.x, y: s.y, width: s.w, height: s.h, fill: st.fill === 'none' ? STICKY_FILL : paintColor(st.fill) });
		break;
	case 'text':
		break;
	case 'arrow':
	case 'connector': {
		const pts = linePoints(s, get);
		body.setAttrs({ points: flat(pts), stroke: paintColor(st.stroke), fill: paintColor(st.stroke), strokeWidth: st.width,
			pointerLength: 8 + 2 * st.width, pointerWidth: 8 + 2 * st.width });
		if (s.kind === 'connector' && pts.length) {
			const a = pts[0], b = pts[pts.length - 1];
			group.setAttr('labelMid', [(a[0] + b[0]) / 2, (a[1] + b[1]) / 2]);
		}
		break;
	}
	default:
		body.setAttrs({ points: flat(linePoints(s, get)), stroke: paintColor(st.stroke), strokeWidth: st.width,
			fill: s.kind === 'path' ? paintColor(st.fill) : undefined });
	}
	updateLabel(group, s, labels && hideLabel !== s.id);
	return group;
}

const LABEL_KINDS = new Set(['text', 'sticky', 'rect', 'ellipse', 'connector']);
const CONNECTOR_LABEL_MAX = 220;

function labelAttrs(s, group) {
	const color = paintColor(s.style.stroke) || '#1e1e1e';
	if (s.kind === 'connector') {
		const [mx, my] = group.getAttr('labelMid') || [s.x, s.y];
		const lines = s.text.split('\n');
		const w = Math.min(CONNECTOR_LABEL_MAX, Math.ceil(Math.max(...lines.map((l) => measureText(l || ' ')))) + 2 * 4 + 2);
		return { x: mx - w / 2, y: my - (lines.length * FONT_SIZE * LINE_HEIGHT) / 2 - 2, width: w, text: s.text, fill: color,
			padding: 2, align: 'center', verticalAlign: 'top' };
	}
	if (s.kind === 'text') {
		return { x: s.x, y: s.y, text: s.text, fill: color, width: s.w > 0 ? s.w + 2 : undefined,
			align: 'left', verticalAlign: 'top', padding: 0, wrap: s.w > 0 ? 'word' : 'none' };
	}
	if (s.kind === 'sticky') {
		return { x: s.x, y: s.y, width: Math.max(1, s.w), height: Math.max(1, s.h), text: s.text, fill: color,
			padding: STICKY_PAD, align: 'left', verticalAlign: 'top', ellipsis: true };
	}
	return { x: s.x, y: s.y, width: Math.max(1, s.w), height: Math.max(1, s.h), text: s.text, fill: color,
		padding: BOX_TEXT_PAD, align: 'center', verticalAlign: 'middle', ellipsis: true };
}

// The text of a shape, laid out by Konva. Laying out text is the most expensive part of a
// shape (every word is measured), so a label is made only when it will be seen (`show`: the
// shape is in view and the text is large enough on screen to read), once, with all its
// attributes at construction, and laid out again only when the shape changed.
export function updateLabel(group, s, show) {
	let label = group.fsLabel;
	const wanted = show && LABEL_KINDS.has(s.kind) && !!s.text;
	const bg = group.fsLabelBg;
	if (!wanted) {
		if (label && label.visible())
			label.visible(false);
		if (bg && bg.visible())
			bg.visible(false);
		return;
	}
	// A connector's label moves with its ends, which are not part of its own object.
	const mid = s.kind === 'connector' ? group.getAttr('labelMid') : null;
	if (label && group.getAttr('labelOf') === s && group.getAttr('labelAt') === mid) {
		if (!label.visible())
			label.visible(true);
		if (bg && !bg.visible())
			bg.visible(true);
		return;
	}
	if (!label) {
		label = textNode({ name: 'label', ...labelAttrs(s, group) });
		group.add(label);
		group.fsLabel = label;
	} else {
		label.setAttrs({ ...labelAttrs(s, group), visible: true });
	}
	if (s.kind === 'connector') {
		let patch = bg;
		if (!patch) {
			patch = new Konva.Rect({ name: 'label-bg', fill: '#ffffff', cornerRadius: 3, listening: false, perfectDrawEnabled: false });
			group.add(patch);
			group.fsLabelBg = patch;
			label.moveToTop();
		}
		patch.setAttrs({ x: label.x(), y: label.y(), width: label.width(), height: label.height(), visible: true });
	}
	group.setAttr('labelOf', s);
	group.setAttr('labelAt', mid);
}

// Whether the group shows the up-to-date text of `s` (or `s` has no text to show).
export function hasLabelFor(group, s) {
	if (!LABEL_KINDS.has(s.kind) || !s.text)
		return true;
	const label = group.fsLabel;
	return !!label && label.visible() && group.getAttr('labelOf') === s;
}
