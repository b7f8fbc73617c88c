// Wires a canvas session (protocol) to the board store: committed ops, acks, presence, cursors
// and strokes flow into the store; the store's commits flow into the session's outbox. No
// React here, so the bench and the tests can drive a board without a view.

import { CanvasSession } from '../protocol/session.js';
import { plainError } from '../protocol/errors.js';

const STROKE_LINGER_MS = 3000; // a finished stroke waits this long for its committed path
const STROKE_STALE_MS = 30000;

export function connectBoard(api, board, canvasId, { WebSocketImpl } = {}) {
	const session = new CanvasSession({ api, canvasId, WebSocketImpl });
	board.setSubmitter((ops) => session.submitMany(ops));
	board.set({ canvasId });
	const timers = new Set();
	const later = (fn, ms) => {
		const t = setTimeout(() => {
			timers.delete(t);
			fn();
		}, ms);
		timers.add(t);
	};

	session.on('status', (d) => {
		board.set({ conn: d, role: session.role || board.get().role });
		if (d.state === 'failed')
			board.notify(d.error ? plainError(d.error) : "This canvas can't be opened.", 'error');
	});
	session.on('sync', () => {
		board.set({ role: session.role, you: session.you, cursors: new Map(), strokes: new Map(), outbox: session.outbox.size });
	});
	session.on('comments', () => board.set({ comments: new Map(session.comments) }));
	const syncSelections = () => board.setSelections(session.presence.values(), session.you && session.you.session_id);
	session.on('selection', syncSelections);
	session.on('role', ({ role }) => {
		const was = board.get().role;
		board.set({ role });
		const s = board.get();
		// A tool the new role does not allow goes back to select.
		board.setTool(s.tool);
		if (was && was !== role)
			board.notify(`Your role here is now ${role}.`, 'info');
	});
	// Our selection, for the others to see.
	const unsubSelection = board.subscribe((s, prev) => {
		if (s.selection !== prev.selection)
			session.select([...s.selection]);
	});
	session.on('ops', ({ operations, changed }) => {
		board.applyCommitted(session.shapes, session.version, changed);
		// A committed path replaces the live stroke it was relayed as (same id).
		const strokes = board.get().strokes;
		if (strokes.size && operations.length) {
			let next = null;
			for (const op of operations) {
				if (op.type !== 'create_shape')
					continue;
				for (const key of strokes.keys()) {
					if (key.endsWith(':' + op.payload.shape_id)) {
						next = next || new Map(strokes);
						next.delete(key);
					}
				}
			}
			if (next)
				board.set({ strokes: next });
		}
	});
	session.on('settled', ({ client_op_id: id }) => board.settle(id));
	session.on('rejected', ({ client_op_id: id, message }) => {
		board.settle(id);
		board.notify(plainError(message), 'error');
	});
	session.on('outbox', ({ size }) => board.set({ outbox: size }));
	session.on('error', (m) => {
		if (m.client_op_id && (m.retryable || m.code === 'rate_limited'))
			return; // retried quietly
		if (!m.client_op_id)
			board.notify(plainError(m), 'error');
	});
	session.on('presence', () => {
		const presence = [...session.presence.values()];
		const cursors = board.get().cursors;
		let next = cursors;
		for (const sid of cursors.keys()) {
			if (!session.presence.has(sid)) {
				next = next === cursors ? new Map(cursors) : next;
				next.delete(sid);
			}
		}
		board.set({ presence, cursors: next });
		syncSelections();
	});
	session.on('cursor', (m) => {
		if (session.you && m.session_id === session.you.session_id)
			return;
		const cursors = new Map(board.get().cursors);
		cursors.set(m.session_id, { x: m.x, y: m.y });
		board.set({ cursors });
	});
	session.on('stroke', (m) => {
		const key = `${m.session_id}:${m.stroke_id}`;
		const strokes = new Map(board.get().strokes);
		const prev = strokes.get(key);
		const who = session.presence.get(m.session_id);
		strokes.set(key, {
			points: prev ? prev.points.concat(m.points) : m.points.slice(),
			color: who ? who.color : '#888888',
		});
		board.set({ strokes });
		const drop = () => {
			const cur = board.get().strokes;
			if (cur.get(key) && cur.get(key).points.length === strokes.get(key).points.length) {
				const next = new Map(cur);
				next.delete(key);
				board.set({ strokes: next });
			}
		};
		later(drop, m.done ? STROKE_LINGER_MS : STROKE_STALE_MS);
	});
	const onHistory = (m) => {
		const what = m.type === 'redo' ? 'Redo' : 'Undo';
		if (m.status === 'empty')
			board.notify(`Nothing to ${what.toLowerCase()}.`);
		else if (m.status === 'noop')
			board.notify(`${what}: nothing left to change.`);
		else if (m.status === 'conflict')
			board.notify(`${what} skipped: someone else has changed that since. Their edit is kept.`, 'warn');
		else if (m.status === 'partial')
			board.notify(`${what} done, except what others changed since (kept as they left it).`, 'warn');
		else
			board.notify(`${what} done.`, 'ok');
	};
	session.on('undo', onHistory);
	session.on('redo', onHistory);
	session.start();
	return {
		session,
		close() {
			unsubSelection();
			for (const t of timers)
				clearTimeout(t);
			session.close();
			board.setSubmitter(() => []);
		},
	};
}
