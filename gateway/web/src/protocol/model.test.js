// Unit tests of the web client's reducer (src/protocol/model.js) against the semantics of
// docs/canvas-model.md §3. Run: npm test (Vitest)

import { test } from 'vitest';
import assert from 'node:assert/strict';
import { applyInOrder, applyOp, completeShape, paintOrder, stateFromShapes } from './model.js';

const rect = (id, extra = {}) => ({ shape_id: id, kind: 'rect', x: 1, y: 2, ...extra });

test('create_shape stores a complete shape with every default filled in', () => {
	const s = new Map();
	assert.equal(applyOp(s, 'create_shape', rect('a')), true);
	assert.deepEqual(s.get('a'), {
		id: 'a', kind: 'rect', x: 1, y: 2, w: 0, h: 0, rotation: 0, z: 0,
		style: { stroke: '#000000', fill: 'none', width: 1, opacity: 1 },
		text: '', points: [], from: null, to: null,
	});
});

test('a second create of an existing id replaces the whole shape', () => {
	const s = new Map();
	applyOp(s, 'create_shape', rect('a', { text: 'old', style: { fill: '#fff' } }));
	applyOp(s, 'create_shape', { shape_id: 'a', kind: 'ellipse', x: 5, y: 6 });
	assert.equal(s.get('a').kind, 'ellipse');
	assert.equal(s.get('a').text, '');
	assert.equal(s.get('a').style.fill, 'none');
});

test('ops on a missing shape are no-ops', () => {
	const s = new Map();
	for (const [type, payload] of [
		['move_shape', { shape_id: 'x', x: 1, y: 1 }],
		['resize_shape', { shape_id: 'x', x: 1, y: 1, w: 2, h: 2 }],
		['update_shape', { shape_id: 'x', text: 'hi' }],
		['delete_shape', { shape_id: 'x' }],
	]) {
		assert.equal(applyOp(s, type, payload), false, type);
		assert.equal(s.size, 0, type);
	}
});

test('update_shape merges style key by key and replaces text and points whole', () => {
	const s = new Map();
	applyOp(s, 'create_shape', rect('a', { style: { stroke: '#111111', fill: '#222222' }, points: [[0, 0], [1, 1]] }));
	applyOp(s, 'update_shape', { shape_id: 'a', style: { fill: '#333333' }, points: [[5, 5]] });
	assert.deepEqual(s.get('a').style, { stroke: '#111111', fill: '#333333', width: 1, opacity: 1 });
	assert.deepEqual(s.get('a').points, [[5, 5]]);
	assert.equal(s.get('a').x, 1);
});

test('shapes are never modified in place', () => {
	const s = new Map();
	applyOp(s, 'create_shape', rect('a'));
	const before = s.get('a');
	applyOp(s, 'move_shape', { shape_id: 'a', x: 9, y: 9 });
	applyOp(s, 'update_shape', { shape_id: 'a', style: { width: 3 } });
	assert.equal(before.x, 1);
	assert.equal(before.style.width, 1);
	assert.equal(s.get('a').x, 9);
});

test('malformed ops and unknown types are no-ops', () => {
	const s = new Map();
	applyOp(s, 'create_shape', rect('a'));
	assert.equal(applyOp(s, 'rotate', { shape_id: 'a' }), false);
	assert.equal(applyOp(s, 'move_shape', { shape_id: 'a', x: 'far' }), false);
	assert.equal(applyOp(s, 'create_shape', { shape_id: 'bad id!', kind: 'rect', x: 0, y: 0 }), false);
	assert.equal(applyOp(s, 'create_shape', { shape_id: 'b', kind: 'hexagon', x: 0, y: 0 }), false);
	assert.equal(applyOp(s, 'delete_shape', null), false);
	assert.deepEqual([...s.keys()], ['a']);
});

test('applyInOrder skips versions already applied and stops at a gap', () => {
	const s = new Map();
	const ops = [
		{ version: 3, type: 'move_shape', payload: { shape_id: 'a', x: 3, y: 3 } },
		{ version: 1, type: 'create_shape', payload: rect('a') },
		{ version: 2, type: 'move_shape', payload: { shape_id: 'a', x: 2, y: 2 } },
		{ version: 5, type: 'delete_shape', payload: { shape_id: 'a' } },
	];
	assert.equal(applyInOrder(s, 0, ops), 3);
	assert.equal(s.get('a').x, 3);
	assert.equal(applyInOrder(s, 3, ops), 3, 'version 4 is missing');
	assert.equal(s.has('a'), true);
});

test('a state-mode sync loads shapes keyed by id; paint order is z then id', () => {
	const s = stateFromShapes({
		b: { ...completeShape(rect('b')), z: 1 },
		a: { ...completeShape(rect('a')), z: 1 },
		c: completeShape(rect('c')),
	});
	assert.deepEqual(paintOrder(s).map((x) => x.id), ['c', 'a', 'b']);
});
