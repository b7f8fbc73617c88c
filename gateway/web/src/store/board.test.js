// Unit tests of the board store (board.js): overlays, edits as ops, selection, view.

import { describe, expect, test } from 'vitest';
import { applyOp, completeShape } from '../protocol/model.js';
import { createBoardStore } from './board.js';

function setup(shapes = []) {
	const b = createBoardStore({ theme: 'light' });
	const sent = [];
	let n = 0;
	b.setSubmitter((ops) => ops.map((op) => {
		sent.push(op);
		return `op${++n}`;
	}));
	const committed = new Map(shapes.map((s) => [s.id, completeShape(s)]));
	b.applyCommitted(committed, 1, null);
	b.set({ role: 'editor' });
	return { b, sent, committed };
}

const rect = (id, x, y, extra = {}) => ({ id, kind: 'rect', x, y, w: 100, h: 50, ...extra });

// Plays the submitted ops back as the server would deliver them.
function deliver(b, committed, sent, opIds) {
	const changed = new Set();
	for (const op of sent) {
		applyOp(committed, op.op_type, op.payload);
		changed.add(op.payload.shape_id);
	}
	b.applyCommitted(committed, 2, changed);
	for (const id of opIds)
		b.settle(id);
}

describe('board store', () => {
	test('a commit is drawn at once and the overlay goes when the op is settled', () => {
		const { b, sent, committed } = setup([rect('a', 0, 0)]);
		const ids = b.commit([{ op_type: 'move_shape', payload: { shape_id: 'a', x: 50, y: 60 } }]);
		expect(b.displayed('a').x).toBe(50);
		expect(b.get().shapes.get('a').x).toBe(0);
		const before = b.get().shapes.get('a');
		deliver(b, committed, sent, ids);
		expect(b.get().overrides.size).toBe(0);
		expect(b.displayed('a').x).toBe(50);
		expect(b.get().shapes.get('a')).not.toBe(before);
	});

	test('only the changed shape gets a new object', () => {
		const { b, sent, committed } = setup([rect('a', 0, 0), rect('b', 200, 0)]);
		const bObj = b.get().shapes.get('b');
		const ids = b.commit([{ op_type: 'update_shape', payload: { shape_id: 'a', text: 'hi' } }]);
		deliver(b, committed, sent, ids);
		expect(b.get().shapes.get('b')).toBe(bObj);
	});

	test('a live drag overlay survives the settle of older ops until the gesture ends', () => {
		const { b } = setup([rect('a', 0, 0)]);
		b.setLive(new Map([['a', { ...b.displayed('a'), x: 10 }]]));
		b.settle('unrelated');
		expect(b.displayed('a').x).toBe(10);
		b.endLive(['a']);
		expect(b.displayed('a').x).toBe(0);
	});

	test('delete takes the attached connectors along', () => {
		const { b, sent } = setup([rect('a', 0, 0), rect('b', 300, 0),
			{ id: 'c', kind: 'connector', x: 0, y: 0, from: 'a', to: 'b' }, rect('d', 0, 300)]);
		b.select(['a']);
		b.deleteSelection();
		expect(sent.map((o) => [o.op_type, o.payload.shape_id]).sort()).toEqual([['delete_shape', 'a'], ['delete_shape', 'c']]);
		expect(b.displayed('a')).toBeUndefined();
		expect(b.get().selection.size).toBe(0);
	});

	test('paste gives fresh ids, offsets, and re-attaches connectors between pasted shapes', () => {
		const { b, sent } = setup([rect('a', 0, 0), rect('b', 300, 0),
			{ id: 'c', kind: 'connector', x: 0, y: 0, from: 'a', to: 'b' }]);
		b.selectAll();
		b.copy();
		const ids = b.paste();
		expect(ids.length).toBe(3);
		const created = new Map(sent.map((o) => [o.payload.shape_id, o.payload]));
		const conn = [...created.values()].find((p) => p.kind === 'connector');
		expect(ids).toContain(conn.from);
		expect(ids).toContain(conn.to);
		expect(created.get(conn.from).x).toBe(24);
		expect(new Set(b.get().selection)).toEqual(new Set(ids));
		b.paste();
		expect([...new Map(sent.map((o) => [o.payload.shape_id, o.payload])).values()].filter((p) => p.kind === 'rect' && p.y === 48).length).toBe(2);
	});

	test('duplicate copies the selection without touching the clipboard', () => {
		const { b } = setup([rect('a', 0, 0), rect('b', 300, 0)]);
		b.select(['b']);
		b.copy();
		b.select(['a']);
		const [dup] = b.duplicate();
		expect(b.displayed(dup).x).toBe(24);
		expect(b.get().clipboard.map((s) => s.id)).toEqual(['b']);
	});

	test('bring to front and send to back keep the selection order', () => {
		const { b, sent } = setup([rect('a', 0, 0, { z: 1 }), rect('b', 0, 0, { z: 2 }), rect('c', 0, 0, { z: 3 }), rect('d', 0, 0, { z: 4 })]);
		b.select(['a', 'b']);
		b.reorder('front');
		expect(b.displayed('a').z).toBe(5);
		expect(b.displayed('b').z).toBe(6);
		b.reorder('back');
		expect(b.displayed('a').z).toBeLessThan(b.displayed('b').z);
		expect(b.displayed('b').z).toBeLessThan(3);
		expect(sent.every((o) => o.op_type === 'update_shape')).toBe(true);
	});

	test('forward swaps past the next overlapping shape only', () => {
		const { b } = setup([rect('a', 0, 0, { z: 1 }), rect('far', 5000, 5000, { z: 2 }), rect('b', 10, 10, { z: 3 })]);
		b.select(['a']);
		b.reorder('forward');
		expect(b.displayed('a').z).toBeGreaterThan(3);
	});

	test('restyle updates only the style keys that differ, and becomes the current style', () => {
		const { b, sent } = setup([rect('a', 0, 0, { style: { stroke: '#ff0000' } }), rect('b', 0, 0)]);
		b.select(['a', 'b']);
		b.restyle({ stroke: '#ff0000' });
		expect(sent.length).toBe(1);
		expect(sent[0].payload).toEqual({ shape_id: 'b', style: { stroke: '#ff0000' } });
		expect(b.get().style.stroke).toBe('#ff0000');
	});

	test('nudge moves every selected shape but not connectors', () => {
		const { b, sent } = setup([rect('a', 0, 0), rect('b', 10, 10), { id: 'c', kind: 'connector', x: 0, y: 0, from: 'a', to: 'b' }]);
		b.selectAll();
		b.nudge(10, 0);
		expect(sent.map((o) => o.payload.shape_id).sort()).toEqual(['a', 'b']);
		expect(b.displayed('b').x).toBe(20);
	});

	test('viewers cannot edit and cannot pick drawing tools', () => {
		const { b, sent } = setup([rect('a', 0, 0)]);
		b.set({ role: 'viewer' });
		b.select(['a']);
		b.nudge(1, 1);
		b.deleteSelection();
		b.setTool('rect');
		expect(sent.length).toBe(0);
		expect(b.get().tool).toBe('select');
	});

	test('commenters may pick the comment tool but not drawing tools; viewers neither', () => {
		const { b } = setup();
		b.set({ role: 'commenter' });
		b.setTool('comment');
		expect(b.get().tool).toBe('comment');
		b.setTool('rect');
		expect(b.get().tool).toBe('select');
		b.set({ role: 'viewer' });
		b.setTool('comment');
		expect(b.get().tool).toBe('select');
	});

	test("others' selections come from presence, without our own, and change only when they do", () => {
		const { b } = setup();
		const presence = [
			{ session_id: 'me', selection: ['a'], color: '#111' },
			{ session_id: 's2', selection: ['a', 'b'], color: '#f00', display_name: 'Bob' },
			{ session_id: 's3', selection: [], color: '#0f0' },
		];
		b.setSelections(presence, 'me');
		const first = b.get().selections;
		expect([...first.keys()]).toEqual(['s2']);
		expect([...first.get('s2').ids]).toEqual(['a', 'b']);
		b.setSelections(presence.map((p) => ({ ...p })), 'me');
		expect(b.get().selections).toBe(first);
		b.setSelections([{ session_id: 's2', selection: ['b'], color: '#f00' }], 'me');
		expect([...b.get().selections.get('s2').ids]).toEqual(['b']);
	});

	test('zooming keeps the point under the pointer fixed; fit frames every shape', () => {
		const { b } = setup([rect('a', 0, 0), rect('b', 900, 400)]);
		b.setViewport({ x: 100, y: 50, scale: 1 });
		const before = b.toWorld(400, 300);
		b.zoomAt(2, 400, 300);
		const after = b.toWorld(400, 300);
		expect(after.x).toBeCloseTo(before.x);
		expect(after.y).toBeCloseTo(before.y);
		expect(b.get().viewport.scale).toBe(2);
		b.fit(1000, 600);
		const { x, y, scale } = b.get().viewport;
		expect(0 * scale + x).toBeGreaterThanOrEqual(0);
		expect(1000 * scale + x).toBeLessThanOrEqual(1000);
		expect(450 * scale + y).toBeLessThanOrEqual(600);
	});

	test('a committed delete by someone else drops the shape from the selection', () => {
		const { b, committed } = setup([rect('a', 0, 0), rect('b', 0, 0)]);
		b.selectAll();
		committed.delete('a');
		b.applyCommitted(committed, 3, new Set(['a']));
		expect([...b.get().selection]).toEqual(['b']);
	});

	test('text edits grow the box with a resize in the same commit', () => {
		const { b, sent } = setup([{ id: 't', kind: 'text', x: 0, y: 0, w: 10, h: 20, text: 'a' }]);
		b.setText('t', 'a longer\ntext', { x: 0, y: 0, w: 80, h: 40 });
		expect(sent.map((o) => o.op_type)).toEqual(['update_shape', 'resize_shape']);
		expect(b.displayed('t')).toMatchObject({ text: 'a longer\ntext', w: 80, h: 40 });
	});
});
