// Unit tests of the client's comment model (comments.js). Run: npm test.

import { describe, expect, test } from 'vitest';
import { applyCommentEvent, commentRights, commentsFromThreads, pinPosition, threadsOf } from './comments.js';

const c = (id, extra = {}) => ({ id, author: { user_id: 'ada', display_name: 'Ada' }, body: id, parent_id: null, created_at: `2026-01-01T00:00:${id.slice(-2)}Z`, ...extra });

describe('comments', () => {
	test('threads from a list and back, oldest first, replies under their thread', () => {
		const m = commentsFromThreads([{ ...c('t02'), replies: [c('r05', { parent_id: 't02' }), c('r03', { parent_id: 't02' })] }, { ...c('t01'), replies: [] }]);
		expect(m.size).toBe(4);
		const t = threadsOf(m);
		expect(t.map((x) => x.id)).toEqual(['t01', 't02']);
		expect(t[1].replies.map((x) => x.id)).toEqual(['r03', 'r05']);
	});

	test('events: created and updated put, deleted removes (with replies), a null comment is skipped', () => {
		const m = new Map();
		expect(applyCommentEvent(m, { action: 'created', comment_id: 't01', comment: c('t01') })).toBe(true);
		expect(applyCommentEvent(m, { action: 'created', comment_id: 'r02', comment: c('r02', { parent_id: 't01' }) })).toBe(true);
		expect(applyCommentEvent(m, { action: 'updated', comment_id: 'x', comment: null })).toBe(false);
		applyCommentEvent(m, { action: 'updated', comment_id: 't01', comment: c('t01', { resolved: true }) });
		expect(m.get('t01').resolved).toBe(true);
		applyCommentEvent(m, { action: 'deleted', comment_id: 't01', comment: null });
		expect(m.size).toBe(0);
	});

	test('a pin sits on its shape (following it), else at its point', () => {
		const shapes = new Map([['s1', { x: 10, y: 20, w: 30, h: 40 }]]);
		expect(pinPosition({ shape_id: 's1', x: null, y: null }, (id) => shapes.get(id))).toEqual({ x: 40, y: 20 });
		expect(pinPosition({ shape_id: 'gone', x: 5, y: 6 }, (id) => shapes.get(id))).toEqual({ x: 5, y: 6 });
		expect(pinPosition({ shape_id: 'gone', x: null, y: null }, (id) => shapes.get(id))).toBe(null);
	});

	test('rights follow the role table', () => {
		const mine = c('t01');
		const theirs = c('t02', { author: { user_id: 'bob' } });
		expect(commentRights(mine, { role: 'commenter', userId: 'ada' })).toEqual({ reply: true, edit: true, resolve: true, remove: true });
		expect(commentRights(theirs, { role: 'commenter', userId: 'ada' })).toEqual({ reply: true, edit: false, resolve: false, remove: false });
		expect(commentRights(theirs, { role: 'editor', userId: 'ada' })).toEqual({ reply: true, edit: false, resolve: true, remove: false });
		expect(commentRights(theirs, { role: 'owner', userId: 'ada' }).remove).toBe(true);
		expect(commentRights(mine, { role: 'viewer', userId: 'ada' })).toEqual({ reply: false, edit: false, resolve: false, remove: false });
		expect(commentRights(c('r03', { parent_id: 't01' }), { role: 'owner', userId: 'ada' }).resolve).toBe(false);
	});
});
