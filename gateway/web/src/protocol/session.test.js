// Unit tests of the canvas session (session.js) against a scripted server: a fake WebSocket,
// a manual clock and fake online/offline events. Run: npm test.

import { describe, expect, test } from 'vitest';
import { ACK_PROBE_MS, CanvasSession, GAP_REPAIR_MS, PONG_TIMEOUT_MS } from './session.js';

class Clock {
	constructor() {
		this.t = 1000;
		this.seq = 0;
		this.pending = new Map();
	}
	now() {
		return this.t;
	}
	setTimeout(fn, ms) {
		const id = ++this.seq;
		this.pending.set(id, { at: this.t + ms, fn });
		return id;
	}
	clearTimeout(id) {
		this.pending.delete(id);
	}
	async advance(ms) {
		const end = this.t + ms;
		for (;;) {
			let next = null;
			for (const [id, p] of this.pending) {
				if (p.at <= end && (!next || p.at < next[1].at))
					next = [id, p];
			}
			if (!next)
				break;
			this.pending.delete(next[0]);
			this.t = next[1].at;
			next[1].fn();
			await flush();
		}
		this.t = end;
	}
}

const flush = () => new Promise((r) => setTimeout(r, 0));

class Env {
	constructor() {
		this.navigator = { onLine: true };
		this.handlers = new Map();
	}
	addEventListener(t, f) {
		this.handlers.set(t, f);
	}
	removeEventListener(t) {
		this.handlers.delete(t);
	}
	fire(t) {
		this.navigator.onLine = t === 'online';
		const f = this.handlers.get(t);
		if (f)
			f();
	}
}

function harness({ canvasError = null, held = false } = {}) {
	const sockets = [];
	class FakeSocket {
		constructor(url) {
			this.url = new URL(url);
			this.readyState = 1;
			this.sent = [];
			this.closed = false;
			sockets.push(this);
		}
		send(data) {
			this.sent.push(JSON.parse(data));
		}
		close() {
			this.closed = true;
			this.readyState = 3;
		}
		deliver(msg) {
			this.onmessage({ data: JSON.stringify(msg) });
		}
		serverClose(code = 1001) {
			this.readyState = 3;
			this.onclose({ code });
		}
	}
	const clock = new Clock();
	const env = new Env();
	const checks = [];
	const api = {
		accessToken: 'tok',
		// With `held`, each check waits until the test answers it (checks[i].answer()).
		canvas: () => {
			const answer = () => {
				if (canvasError)
					throw canvasError;
				return { role: 'editor' };
			};
			if (!held)
				return Promise.resolve().then(answer);
			return new Promise((resolve, reject) => checks.push({
				answer: (fn = answer) => {
					try {
						resolve(fn());
					} catch (e) {
						reject(e);
					}
				},
			}));
		},
	};
	const s = new CanvasSession({ api, canvasId: 'c1', WebSocketImpl: FakeSocket, env, clock, baseUrl: 'ws://gw/api/v1' });
	const events = [];
	for (const t of ['status', 'ops', 'settled', 'rejected', 'sync', 'comments', 'selection', 'role'])
		s.on(t, (d) => events.push([t, d]));
	return { s, api, checks, sockets, clock, env, events, last: () => sockets[sockets.length - 1] };
}

const op = (version, type, payload, extra = {}) => ({ version, type, payload, canvas_id: 'c1', ...extra });
const rect = (id, x = 0) => ({ shape_id: id, kind: 'rect', x, y: 0, w: 10, h: 10 });
const sync = (version, ops = [], extra = {}) => ({
	type: 'sync', canvas_id: 'c1', current_version: version, mode: 'operations', operations: ops,
	presence: [], you: { user_id: 'u', session_id: 's', display_name: 'Ada', color: '#123456', role: 'editor' },
	...extra,
});

describe('CanvasSession', () => {
	test('applies ops strictly in version order, buffering past a gap and skipping duplicates', async () => {
		const h = harness();
		h.s.start();
		await flush();
		const ws = h.last();
		expect(ws.url.searchParams.get('token')).toBe('tok');
		expect(ws.url.searchParams.has('since')).toBe(false);
		ws.deliver(sync(1, [op(1, 'create_shape', rect('a'))]));
		expect(h.s.state).toBe('live');
		expect(h.s.shapes.get('a').x).toBe(0);
		ws.deliver({ type: 'operation', operation: op(3, 'move_shape', { shape_id: 'a', x: 30, y: 0 }) });
		expect(h.s.version).toBe(1); // waits for 2
		ws.deliver({ type: 'operation', operation: op(2, 'move_shape', { shape_id: 'a', x: 20, y: 0 }) });
		expect(h.s.version).toBe(3);
		expect(h.s.shapes.get('a').x).toBe(30);
		ws.deliver({ type: 'operation', operation: op(2, 'move_shape', { shape_id: 'a', x: 20, y: 0 }) });
		expect(h.s.shapes.get('a').x).toBe(30);
		const opsEvents = h.events.filter(([t]) => t === 'ops');
		expect([...opsEvents[opsEvents.length - 1][1].changed]).toEqual(['a']);
	});

	test('an operations batch applies each op in order, as if they had come alone', async () => {
		const h = harness();
		h.s.start();
		await flush();
		const ws = h.last();
		ws.deliver(sync(1, [op(1, 'create_shape', rect('a'))]));
		ws.deliver({ type: 'operations', operations: [
			op(2, 'move_shape', { shape_id: 'a', x: 20, y: 0 }),
			op(3, 'create_shape', rect('b')),
			op(4, 'move_shape', { shape_id: 'a', x: 40, y: 0 }),
		] });
		expect(h.s.version).toBe(4);
		expect(h.s.shapes.get('a').x).toBe(40);
		expect(h.s.shapes.has('b')).toBe(true);
		ws.deliver({ type: 'operation', operation: op(5, 'delete_shape', { shape_id: 'b' }) });
		expect(h.s.version).toBe(5);
		expect(h.s.shapes.has('b')).toBe(false);
	});

	test('a gap that does not fill reconnects with since = the last applied version', async () => {
		const h = harness();
		h.s.start();
		await flush();
		h.last().deliver(sync(2, [op(1, 'create_shape', rect('a')), op(2, 'create_shape', rect('b'))]));
		h.last().deliver({ type: 'operation', operation: op(4, 'delete_shape', { shape_id: 'a' }) });
		await h.clock.advance(GAP_REPAIR_MS + 10);
		await h.clock.advance(5000);
		const ws = h.last();
		expect(h.sockets.length).toBe(2);
		expect(ws.url.searchParams.get('since')).toBe('2');
		ws.deliver(sync(4, [op(3, 'update_shape', { shape_id: 'a', text: 'x' }), op(4, 'delete_shape', { shape_id: 'a' })]));
		expect(h.s.version).toBe(4);
		expect(h.s.shapes.has('a')).toBe(false);
		expect(h.s.shapes.has('b')).toBe(true);
	});

	test('ops made while disconnected wait in the outbox and are sent once after sync', async () => {
		const h = harness();
		const id = h.s.submit('create_shape', rect('a'));
		h.s.start();
		await flush();
		const ws = h.last();
		expect(ws.sent).toEqual([]);
		ws.deliver(sync(0));
		expect(ws.sent).toEqual([{ type: 'operation', op_type: 'create_shape', payload: rect('a'), client_op_id: id }]);
		ws.deliver({ type: 'ack', client_op_id: id, version: 1, duplicate: false });
		expect(h.events.some(([t, d]) => t === 'settled' && d.client_op_id === id)).toBe(false);
		ws.deliver({ type: 'operation', operation: op(1, 'create_shape', rect('a'), { client_op_id: id }) });
		expect(h.events.some(([t, d]) => t === 'settled' && d.client_op_id === id)).toBe(true);
		expect(h.s.outbox.size).toBe(0);
	});

	test('unacknowledged ops are re-sent with the same client_op_id after a reconnect', async () => {
		const h = harness();
		h.s.start();
		await flush();
		h.last().deliver(sync(0));
		const id = h.s.submit('create_shape', rect('a'));
		h.last().serverClose(1001);
		expect(h.s.state).toBe('reconnecting');
		await h.clock.advance(300);
		const ws = h.last();
		expect(h.sockets.length).toBe(2);
		expect(ws.url.searchParams.get('since')).toBe('0');
		ws.deliver(sync(1, [op(1, 'create_shape', rect('a'), { client_op_id: id })]));
		// It was committed before the close: the sync brought it, nothing is sent again.
		expect(ws.sent.filter((m) => m.type === 'operation')).toEqual([]);
		expect(h.events.some(([t, d]) => t === 'settled' && d.client_op_id === id)).toBe(true);
	});

	test('many ops go out together in `operations` messages of at most 64', async () => {
		const h = harness();
		h.s.start();
		await flush();
		h.last().deliver(sync(0));
		const ids = h.s.submitMany(Array.from({ length: 70 }, (_, i) => ({ op_type: 'create_shape', payload: rect(`s${i}`) })));
		const sent = h.last().sent;
		expect(sent.length).toBe(2);
		expect(sent[0].type).toBe('operations');
		expect(sent[0].ops.length).toBe(64);
		expect(sent[1].ops.length).toBe(6);
		expect(sent[1].ops[5].client_op_id).toBe(ids[69]);
	});

	test('the offline event drops the socket at once; the online event reconnects at once', async () => {
		const h = harness();
		h.s.start();
		await flush();
		h.last().deliver(sync(0));
		h.env.fire('offline');
		expect(h.s.state).toBe('offline');
		expect(h.sockets[0].closed).toBe(true);
		h.s.submit('create_shape', rect('a'));
		expect(h.s.outbox.size).toBe(1);
		h.env.fire('online');
		await flush();
		expect(h.sockets.length).toBe(2); // no backoff wait
		h.last().deliver(sync(0));
		expect(h.last().sent[0].type).toBe('operation');
	});

	test('a silent socket is detected by a ping while an op waits for its ack', async () => {
		const h = harness();
		h.s.start();
		await flush();
		const ws = h.last();
		ws.deliver(sync(0));
		h.s.submit('create_shape', rect('a'));
		await h.clock.advance(ACK_PROBE_MS + 300);
		expect(ws.sent.some((m) => m.type === 'ping')).toBe(true);
		expect(h.s.state).toBe('live');
		await h.clock.advance(PONG_TIMEOUT_MS + 300);
		expect(h.s.state).toBe('reconnecting');
		expect(ws.closed).toBe(true);
	});

	test('an answered ping keeps the session live', async () => {
		const h = harness();
		h.s.start();
		await flush();
		const ws = h.last();
		ws.deliver(sync(0));
		h.s.submit('create_shape', rect('a'));
		await h.clock.advance(ACK_PROBE_MS + 300);
		ws.deliver({ type: 'pong' });
		await h.clock.advance(PONG_TIMEOUT_MS + 300);
		expect(h.s.state).toBe('live');
	});

	test('a refused op is dropped and reported; a retryable one is sent again', async () => {
		const h = harness();
		h.s.start();
		await flush();
		const ws = h.last();
		ws.deliver(sync(0));
		const bad = h.s.submit('update_shape', { shape_id: 'a' });
		const retry = h.s.submit('create_shape', rect('b'));
		ws.deliver({ type: 'error', code: 'missing_field', detail: 'payload: ...', client_op_id: bad });
		ws.deliver({ type: 'error', code: 'unavailable', detail: 'db', client_op_id: retry, retryable: true });
		expect(h.events.some(([t, d]) => t === 'rejected' && d.client_op_id === bad)).toBe(true);
		expect(h.s.outbox.has(bad)).toBe(false);
		const before = ws.sent.length;
		await h.clock.advance(1100);
		expect(ws.sent.length).toBe(before + 1);
		expect(ws.sent[ws.sent.length - 1].client_op_id).toBe(retry);
	});

	test('a state-mode sync replaces the whole state', async () => {
		const h = harness();
		h.s.start();
		await flush();
		h.last().deliver({ ...sync(7), mode: 'state', operations: undefined, state: { shapes: { z: { id: 'z', kind: 'ellipse', x: 1, y: 2 } } } });
		expect(h.s.version).toBe(7);
		expect([...h.s.shapes.keys()]).toEqual(['z']);
		expect(h.s.shapes.get('z').style.stroke).toBe('#000000');
	});

	test('a canvas we may not open fails without retrying', async () => {
		const err = Object.assign(new Error('nope'), { status: 404, code: 'not_found' });
		const h = harness({ canvasError: err });
		h.s.start();
		await flush();
		expect(h.s.state).toBe('failed');
		expect(h.sockets.length).toBe(1); // the upgrade went out with the check
		expect(h.last().closed).toBe(true);
		await h.clock.advance(20000);
		expect(h.sockets.length).toBe(1);
	});

	test('the upgrade goes out without waiting for the REST check', async () => {
		const h = harness({ held: true });
		h.s.start();
		expect(h.sockets.length).toBe(1);
		expect(h.checks.length).toBe(1);
		h.last().deliver(sync(0));
		expect(h.s.state).toBe('live');
		h.checks[0].answer(() => ({ role: 'viewer', name: 'Plan' }));
		await flush();
		expect(h.s.role).toBe('viewer');
		expect((await h.s.checked).name).toBe('Plan'); // one request serves the page too
		expect(h.s.state).toBe('live');
	});

	test('an upgrade refused before its sync waits for the check: refused is final', async () => {
		const h = harness({ held: true });
		h.s.start();
		h.last().serverClose(1006);
		await flush();
		expect(h.s.state).toBe('connecting');
		h.checks[0].answer(() => {
			throw Object.assign(new Error('gone'), { status: 403, code: 'forbidden' });
		});
		await flush();
		expect(h.s.state).toBe('failed');
		await h.clock.advance(20000);
		expect(h.sockets.length).toBe(1);
	});

	test('an upgrade refused for an expired token reconnects at once once the check refreshed it', async () => {
		const h = harness({ held: true });
		h.s.start();
		expect(h.last().url.searchParams.get('token')).toBe('tok');
		h.last().serverClose(1006);
		await flush();
		h.checks[0].answer(() => {
			h.api.accessToken = 'fresh';
			return { role: 'editor' };
		});
		await flush();
		expect(h.sockets.length).toBe(2); // no backoff wait
		expect(h.last().url.searchParams.get('token')).toBe('fresh');
	});

	test('a socket lost before its sync, with the canvas still ours, retries after a backoff', async () => {
		const h = harness({ held: true });
		h.s.start();
		h.last().serverClose(1006);
		h.checks[0].answer();
		await flush();
		expect(h.s.state).toBe('reconnecting');
		expect(h.sockets.length).toBe(1);
		await h.clock.advance(5000);
		expect(h.sockets.length).toBe(2);
	});

	test('a network failure of the check does not end a live session', async () => {
		const h = harness({ held: true });
		h.s.start();
		h.last().deliver(sync(0));
		expect(h.s.state).toBe('live');
		h.checks[0].answer(() => {
			throw Object.assign(new Error('offline'), { status: 0, code: 'network' });
		});
		await flush();
		expect(h.s.state).toBe('live');
		expect(h.sockets.length).toBe(1);
	});
});

const comment = (id, extra = {}) => ({
	id, canvas_id: 'c1', author: { user_id: 'u', display_name: 'Ada' }, body: `body ${id}`, shape_id: null, x: 1, y: 2,
	parent_id: null, resolved: false, resolved_by: null, resolved_at: null, created_at: `2026-01-01T00:00:0${id.length}Z`, updated_at: '', ...extra,
});
const cev = (seq, action, c, id = c && c.id) => ({ type: 'comment', seq, action, comment_id: id, comment: c });

describe('CanvasSession: comments, selections, live permissions', () => {
	test('comment events apply in seq order, each once; a reconnect asks for comment_since', async () => {
		const h = harness();
		h.s.start();
		await flush();
		h.last().deliver(sync(0, [], { comments: { seq: 1, mode: 'state', threads: [{ ...comment('t1'), replies: [] }] } }));
		expect([...h.s.comments.keys()]).toEqual(['t1']);
		const ws = h.last();
		ws.deliver(cev(3, 'updated', comment('t1', { resolved: true })));
		expect(h.s.commentSeq).toBe(1); // waits for 2
		ws.deliver(cev(2, 'created', comment('r1', { parent_id: 't1', x: null, y: null })));
		expect(h.s.commentSeq).toBe(3);
		expect(h.s.comments.get('t1').resolved).toBe(true);
		expect(h.s.comments.get('r1').parent_id).toBe('t1');
		ws.deliver(cev(2, 'created', comment('r1', { parent_id: 't1', body: 'stale' })));
		expect(h.s.comments.get('r1').body).toBe('body r1');
		ws.serverClose(1001);
		await h.clock.advance(300);
		expect(h.last().url.searchParams.get('comment_since')).toBe('3');
		h.last().deliver(sync(0, [], { comments: { seq: 5, mode: 'events', events: [cev(4, 'deleted', null, 'r1'), cev(5, 'deleted', null, 't1')] } }));
		expect(h.s.comments.size).toBe(0);
		expect(h.s.commentSeq).toBe(5);
	});

	test('a comment gap that does not fill reconnects with comment_since', async () => {
		const h = harness();
		h.s.start();
		await flush();
		h.last().deliver(sync(0, [], { comments: { seq: 0, mode: 'state', threads: [] } }));
		h.last().deliver(cev(2, 'created', comment('t2')));
		await h.clock.advance(GAP_REPAIR_MS + 10);
		await h.clock.advance(5000);
		expect(h.sockets.length).toBe(2);
		expect(h.last().url.searchParams.get('comment_since')).toBe('0');
	});

	test('our selection goes out coalesced, and again on a new socket; others\' arrive as events', async () => {
		const h = harness();
		h.s.start();
		await flush();
		const other = { user_id: 'u2', session_id: 's2', display_name: 'Bob', color: '#ff0000', selection: ['x'] };
		h.last().deliver(sync(0, [], { comments: { seq: 0, mode: 'state', threads: [] }, presence: [other] }));
		expect(h.s.presence.get('s2').selection).toEqual(['x']);
		h.s.select(['a']);
		h.s.select(['a', 'b']);
		h.s.select(['b', 'b']);
		await h.clock.advance(100);
		const sent = () => h.last().sent.filter((m) => m.type === 'selection');
		expect(sent()).toEqual([{ type: 'selection', shape_ids: ['a'] }, { type: 'selection', shape_ids: ['b'] }]);
		h.last().deliver({ type: 'selection', user_id: 'u2', session_id: 's2', shape_ids: ['y', 'z'] });
		expect(h.s.presence.get('s2').selection).toEqual(['y', 'z']);
		expect(h.events.some(([t, d]) => t === 'selection' && d.session_id === 's2')).toBe(true);
		h.last().serverClose(1001);
		await h.clock.advance(300);
		h.last().deliver(sync(0, [], { comments: { seq: 0, mode: 'events', events: [] } }));
		expect(sent()).toEqual([{ type: 'selection', shape_ids: ['b'] }]);
	});

	test('a server without comments gets no selection messages', async () => {
		const h = harness();
		h.s.start();
		await flush();
		h.last().deliver(sync(0));
		h.s.select(['a']);
		await h.clock.advance(100);
		expect(h.last().sent.filter((m) => m.type === 'selection')).toEqual([]);
		expect(h.last().url.searchParams.has('comment_since')).toBe(false);
	});

	test('role_changed updates the role; a 4403 close is final', async () => {
		const h = harness();
		h.s.start();
		await flush();
		h.last().deliver(sync(0, [], { comments: { seq: 0, mode: 'state', threads: [] } }));
		h.last().deliver({ type: 'role_changed', role: 'viewer' });
		expect(h.s.role).toBe('viewer');
		expect(h.events.some(([t, d]) => t === 'role' && d.role === 'viewer')).toBe(true);
		h.last().serverClose(4403);
		expect(h.s.state).toBe('failed');
		await h.clock.advance(20000);
		expect(h.sockets.length).toBe(1);
	});
});
