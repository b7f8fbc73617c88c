// The realtime connection to one canvas: /api/v1/canvases/{id}/ws (docs/protocol.md).
//
// It owns the client's copy of the canvas (model.js) and keeps it equal to the server's:
// committed ops are applied strictly in version order, each once (an op at or below the last
// applied version is a duplicate from a reconnect overlap; one beyond a gap waits in a small
// buffer, and a gap that does not fill is repaired by reconnecting with ?since=). On any close
// it reconnects with ?since=<last applied version> and exponential backoff, so nothing is lost
// or applied twice across reconnects.
//
// Ops the user makes are kept in an outbox until acknowledged and re-sent with the same
// client_op_id after a reconnect: commits are idempotent, so a retry never commits twice.
//
// Events (CustomEvent, detail in parentheses): status ({state, attempt, retryIn}),
// sync ({mode, version}), op ({operation}) after each applied op, presence, cursor (message),
// stroke (message), ack (message), error (message), undo / redo (the result), rejected
// ({client_op_id, message}) when an op of ours was refused for good, settled ({client_op_id})
// once an op of ours is part of the applied state (the moment to drop its local preview).

import { applyOp, stateFromShapes } from './model.js';

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10000;
const GAP_REPAIR_MS = 3000;
const IDLE_PING_MS = 20000;
const PONG_TIMEOUT_MS = 10000;
const CURSOR_INTERVAL_MS = 34; // ~30 updates/s, the server's relay rate
const RETRY_OP_MS = 1000;

export function uuid() {
	if (globalThis.crypto && typeof crypto.randomUUID === 'function')
		return crypto.randomUUID();
	// randomUUID needs a secure context; a gateway reached by a LAN address over plain http is
	// not one, getRandomValues works everywhere.
	const b = crypto.getRandomValues(new Uint8Array(16));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
	return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class CanvasConnection extends EventTarget {
	constructor(api, canvasId) {
		super();
		this.api = api;
		this.canvasId = canvasId;
		this.shapes = new Map();
		this.version = null; // last applied version; null until the first sync
		this.state = 'idle'; // connecting | live | reconnecting | failed | closed
		this.you = null;
		this.role = null;
		this.presence = new Map(); // session_id -> {user_id, session_id, display_name, color}
		this.outbox = new Map(); // client_op_id -> {op_type, payload, client_op_id, sent}
		this.acked = new Map(); // client_op_id -> version, acknowledged but not applied yet
		this.buffer = new Map(); // version -> operation, beyond a gap
		this.ws = null;
		this.attempt = 0;
		this.timers = { retry: null, gap: null, liveness: null, cursor: null, resend: null };
		this.lastHeard = 0;
		this.pingSentAt = 0;
		this.cursorPending = null;
		this.cursorSentAt = 0;
	}

	emit(type, detail) {
		this.dispatchEvent(new CustomEvent(type, { detail }));
	}

	setState(state, extra = {}) {
		this.state = state;
		this.emit('status', { state, attempt: this.attempt, ...extra });
	}

	get live() {
		return this.state === 'live' && this.ws && this.ws.readyState === WebSocket.OPEN;
	}

	start() {
		this.closed = false;
		this.connect();
	}

	close() {
		this.closed = true;
		for (const k of Object.keys(this.timers)) {
			clearTimeout(this.timers[k]);
			clearInterval(this.timers[k]);
			this.timers[k] = null;
		}
		this.dropSocket(null);
		this.setState('closed');
	}

	url() {
		const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
		const params = new URLSearchParams({ token: this.api.accessToken });
		if (this.version !== null)
			params.set('since', String(this.version));
		return `${proto}//${location.host}${this.api.base}/canvases/${encodeURIComponent(this.canvasId)}/ws?${params}`;
	}

	async connect() {
		if (this.closed)
			return;
		this.setState(this.attempt ? 'reconnecting' : 'connecting');
		// The browser hides the status of a refused upgrade (401/404 both look like 1006), so
		// ask over REST first: it refreshes an expired access token and tells a canvas we may
		// no longer open from a network problem.
		try {
			const canvas = await this.api.canvas(this.canvasId);
			this.role = canvas.role;
		} catch (e) {
			if (this.closed)
				return;
			if (e.status === 401 || e.status === 403 || e.status === 404) {
				this.setState('failed', { reason: e.message });
				return;
			}
			this.scheduleReconnect(e.message);
			return;
		}
		if (this.closed)
			return;
		const ws = new WebSocket(this.url());
		this.ws = ws;
		this.lastHeard = Date.now();
		this.pingSentAt = 0;
		ws.onmessage = (ev) => {
			if (this.ws === ws)
				this.onMessage(ev.data);
		};
		ws.onclose = (ev) => {
			if (this.ws !== ws)
				return;
			this.ws = null;
			this.scheduleReconnect(`closed ${ev.code}${ev.reason ? ' ' + ev.reason : ''}`);
		};
		ws.onerror = () => {}; // a close always follows
	}

	// Forgets the current socket without waiting for its closing handshake (which never comes
	// on a dead network path); a new one is opened unless `reason` is null.
	dropSocket(reason) {
		const ws = this.ws;
		this.ws = null;
		if (ws) {
			ws.onmessage = ws.onclose = ws.onerror = null;
			try {
				ws.close(4000, 'client reconnects');
			} catch {
				// already closing
			}
		}
		if (reason !== null)
			this.scheduleReconnect(reason);
	}

	scheduleReconnect(reason) {
		clearInterval(this.timers.liveness);
		clearTimeout(this.timers.gap);
		this.timers.liveness = this.timers.gap = null;
		this.buffer.clear();
		this.presence.clear();
		this.emit('presence');
		if (this.closed)
			return;
		const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
		const delay = Math.round(base / 2 + Math.random() * base / 2);
		this.attempt++;
		this.setState('reconnecting', { retryIn: delay, reason });
		clearTimeout(this.timers.retry);
		this.timers.retry = setTimeout(() => this.connect(), delay);
	}

	send(msg) {
		if (!this.ws || this.ws.readyState !== WebSocket.OPEN)
			return false;
		this.ws.send(JSON.stringify(msg));
		return true;
	}

	// ---- incoming

	onMessage(data) {
		this.lastHeard = Date.now();
		this.pingSentAt = 0;
		let msg;
		try {
			msg = JSON.parse(data);
		} catch {
			return;
		}
		switch (msg.type) {
		case 'sync':
			this.onSync(msg);
			break;
		case 'operation':
			this.onOperation(msg.operation);
			break;
		case 'ack':
			this.outbox.delete(msg.client_op_id);
			// The ack and the op itself travel separately (the op through the canvas's
			// ordered delivery); after a resync in state mode the op never comes at all.
			if (this.version !== null && msg.version <= this.version)
				this.emit('settled', { client_op_id: msg.client_op_id });
			else
				this.acked.set(msg.client_op_id, msg.version);
			this.emit('ack', msg);
			break;
		case 'error':
			this.onError(msg);
			break;
		case 'presence_join':
			this.presence.set(msg.user.session_id, msg.user);
			this.emit('presence');
			break;
		case 'presence_leave':
			this.presence.delete(msg.session_id);
			this.emit('presence', { left: msg.session_id });
			break;
		case 'cursor':
			this.emit('cursor', msg);
			break;
		case 'stroke':
			this.emit('stroke', msg);
			break;
		case 'undo':
		case 'redo':
			this.emit(msg.type, msg);
			break;
		default: // pong, and types a newer server may add
			break;
		}
	}

	onSync(msg) {
		if (msg.mode === 'state') {
			this.shapes = stateFromShapes(msg.state && msg.state.shapes);
			this.version = msg.current_version;
		} else {
			const base = this.version === null ? 0 : this.version;
			for (const op of msg.operations || [])
				this.buffer.set(op.version, op);
			this.version = base;
			this.drain();
			if (this.version !== msg.current_version) {
				// Cannot happen with a correct server; start over from a full state.
				this.version = null;
				this.shapes = new Map();
				this.dropSocket('sync did not reach current_version');
				return;
			}
		}
		this.you = msg.you;
		this.role = msg.you ? msg.you.role : this.role;
		this.presence = new Map((msg.presence || []).map((p) => [p.session_id, p]));
		this.attempt = 0;
		this.setState('live', { version: this.version });
		this.settleAcked();
		this.emit('sync', { mode: msg.mode, version: this.version });
		this.emit('presence');
		this.startLiveness();
		// Whatever was sent on the old socket may or may not have been committed: send it
		// again with the same client_op_id (a committed one just gets a duplicate ack).
		for (const entry of this.outbox.values())
			entry.sent = false;
		this.flushOutbox();
	}

	onOperation(op) {
		if (!op || typeof op.version !== 'number' || this.version === null)
			return;
		if (op.version <= this.version)
			return; // already applied (reconnect overlap)
		this.buffer.set(op.version, op);
		this.drain();
	}

	// Applies buffered ops while the next version is there; arms the gap repair otherwise.
	drain() {
		let next;
		while ((next = this.buffer.get(this.version + 1))) {
			this.buffer.delete(next.version);
			applyOp(this.shapes, next.type, next.payload);
			this.version = next.version;
			let mine = false;
			if (next.client_op_id) {
				const queued = this.outbox.delete(next.client_op_id);
				const acked = this.acked.delete(next.client_op_id);
				mine = queued || acked;
			}
			this.emit('op', { operation: next });
			if (mine)
				this.emit('settled', { client_op_id: next.client_op_id });
		}
		this.settleAcked();
		for (const v of this.buffer.keys()) {
			if (v <= this.version)
				this.buffer.delete(v);
		}
		clearTimeout(this.timers.gap);
		this.timers.gap = null;
		if (this.buffer.size > 0 && this.state === 'live') {
			const stuckAt = this.version;
			this.timers.gap = setTimeout(() => {
				if (this.version === stuckAt && this.buffer.size > 0)
					this.dropSocket(`gap after version ${stuckAt}`);
			}, GAP_REPAIR_MS);
		}
	}

	settleAcked() {
		for (const [id, v] of this.acked) {
			if (this.version !== null && v <= this.version) {
				this.acked.delete(id);
				this.emit('settled', { client_op_id: id });
			}
		}
	}

	onError(msg) {
		const entry = msg.client_op_id && this.outbox.get(msg.client_op_id);
		if (entry) {
			if (msg.retryable || msg.code === 'rate_limited') {
				entry.sent = false;
				clearTimeout(this.timers.resend);
				this.timers.resend = setTimeout(() => this.flushOutbox(), RETRY_OP_MS);
			} else {
				this.outbox.delete(msg.client_op_id);
				this.emit('rejected', { client_op_id: msg.client_op_id, message: msg });
			}
		}
		this.emit('error', msg);
	}

	// Half-open TCP connections are silent: ping when nothing came for a while, and reconnect
	// when even the pong does not come.
	startLiveness() {
		clearInterval(this.timers.liveness);
		this.timers.liveness = setInterval(() => {
			if (!this.ws)
				return;
			const now = Date.now();
			if (this.pingSentAt && now - this.pingSentAt > PONG_TIMEOUT_MS) {
				this.dropSocket('no pong');
			} else if (!this.pingSentAt && now - this.lastHeard > IDLE_PING_MS) {
				this.pingSentAt = now;
				this.send({ type: 'ping' });
			}
		}, 2000);
	}

	// ---- outgoing

	flushOutbox() {
		if (!this.live)
			return;
		for (const entry of this.outbox.values()) {
			if (entry.sent)
				continue;
			entry.sent = this.send({
				type: 'operation', op_type: entry.op_type, payload: entry.payload,
				client_op_id: entry.client_op_id,
			});
		}
	}

	// Queues an op for commit; returns its client_op_id. Sent at once when live, else after
	// the next sync.
	submit(opType, payload) {
		const id = uuid();
		this.outbox.set(id, { op_type: opType, payload, client_op_id: id, sent: false });
		this.flushOutbox();
		return id;
	}

	undo() {
		return this.live && this.send({ type: 'undo' });
	}

	redo() {
		return this.live && this.send({ type: 'redo' });
	}

	// Coalesced to ~30/s, always ending on the latest position.
	cursor(x, y) {
		this.cursorPending = { x: Math.round(x * 10) / 10, y: Math.round(y * 10) / 10 };
		if (this.timers.cursor)
			return;
		const wait = this.cursorSentAt + CURSOR_INTERVAL_MS - Date.now();
		const fire = () => {
			this.timers.cursor = null;
			if (!this.cursorPending || !this.live)
				return;
			this.cursorSentAt = Date.now();
			this.send({ type: 'cursor', ...this.cursorPending });
			this.cursorPending = null;
		};
		if (wait <= 0)
			fire();
		else
			this.timers.cursor = setTimeout(fire, wait);
	}

	stroke(strokeId, points, done) {
		if (!this.live)
			return false;
		const msg = { type: 'stroke', stroke_id: strokeId, points };
		if (done)
			msg.done = true;
		return this.send(msg);
	}
}
