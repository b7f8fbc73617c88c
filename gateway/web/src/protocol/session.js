// The realtime session of one canvas: /api/v1/canvases/{id}/ws (docs/protocol.md). Framework-
// free: no DOM beyond WebSocket and the window's online/offline events, both injectable, so it
// runs under Vitest in Node and can be reused by any front end.
//
// It owns the client's copy of the canvas (model.js) and keeps it equal to the server's:
// committed ops are applied strictly in version order, each once (an op at or below the last
// applied version is a duplicate from a reconnect overlap; one beyond a gap waits in a small
// buffer, and a gap that does not fill is repaired by reconnecting with ?since=). On any close
// it reconnects with ?since=<last applied version> and exponential backoff, so nothing is lost
// or applied twice across reconnects.
//
// Ops are kept in an outbox until acknowledged and re-sent with the same client_op_id after a
// reconnect: commits are idempotent, so a retry never commits twice.
//
// Liveness: the browser's `offline` event drops the socket at once (state `offline`, edits
// keep queueing); its `online` event reconnects at once instead of waiting for the backoff
// timer. A path that dies silently is caught by pings: one when an op waits for its ack longer
// than ACK_PROBE_MS, and one after IDLE_PING_MS of silence; no answer within PONG_TIMEOUT_MS
// means the socket is dead.
//
// Events (on(type, fn) → unsubscribe):
//   status   {state, attempt, retryIn?, reason?}   state: connecting | live | reconnecting |
//                                                  offline | failed | closed
//   sync     {mode, version}
//   ops      {operations, changed}   after each run of applied ops; changed = Set of shape ids
//   settled  {client_op_id}          an op of ours is part of the applied state (drop its preview)
//   rejected {client_op_id, message} an op of ours was refused for good
//   outbox   {size}
//   presence, cursor (msg), stroke (msg), ack (msg), error (msg), undo / redo (the result)
//   comments {changed: Set of comment ids | null}   after comment events (null: all replaced)
//   selection {session_id, shape_ids}   another session's selection changed
//   role     {role}                     the user's role changed (role_changed)
//
// Comments have their own gap-free stream (`seq`), kept like the ops: applied in seq order,
// each once, a gap repaired by reconnecting with ?comment_since=<last applied seq>.
//
// A close with 4403 (access revoked) or 4404 (canvas deleted) is final: state `failed` with
// reason `access_revoked` or `deleted`, and no reconnect (the upgrade would answer 404).

import { applyOp, stateFromShapes } from './model.js';
import { applyCommentEvent, commentsFromThreads } from './comments.js';

export const BACKOFF_MIN_MS = 250;
export const BACKOFF_MAX_MS = 8000;
export const GAP_REPAIR_MS = 3000;
export const IDLE_PING_MS = 10000;
export const ACK_PROBE_MS = 500;
export const PONG_TIMEOUT_MS = 1000;
export const LIVENESS_TICK_MS = 250;
export const OFFLINE_RETRY_MS = 5000;
export const CURSOR_INTERVAL_MS = 34; // ~30 updates/s, the server's relay rate
export const RETRY_OP_MS = 1000;
export const MAX_OPS_PER_MESSAGE = 64;
export const MAX_SELECTION_IDS = 256;
const FINAL_CLOSE = { 4403: 'access_revoked', 4404: 'deleted' };
// What the REST check of a canvas answers when we may not open it.
const REFUSED_STATUS = new Set([401, 403, 404]);

export function uuid() {
	const c = globalThis.crypto;
	if (c && typeof c.randomUUID === 'function')
		return c.randomUUID();
	// randomUUID needs a secure context; a gateway reached over plain http by a LAN address is
	// not one, getRandomValues works everywhere.
	const b = c.getRandomValues(new Uint8Array(16));
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
	return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const OPEN = 1;

export class CanvasSession {
	// api: {canvas(id) → Promise<{role}>, accessToken, base}; everything else is optional.
	constructor({ api, canvasId, WebSocketImpl, env, clock, baseUrl } = {}) {
		this.api = api;
		this.canvasId = canvasId;
		this.WebSocket = WebSocketImpl || globalThis.WebSocket;
		this.env = env !== undefined ? env : (typeof window !== 'undefined' ? window : null);
		this.clock = clock || {
			now: () => Date.now(),
			setTimeout: (f, ms) => setTimeout(f, ms),
			clearTimeout: (t) => clearTimeout(t),
		};
		this.baseUrl = baseUrl || defaultWsBase();
		this.shapes = new Map();
		this.version = null; // last applied version; null until the first sync
		this.state = 'idle';
		this.you = null;
		this.role = null;
		this.presence = new Map(); // session_id -> {user_id, session_id, display_name, color}
		this.outbox = new Map(); // client_op_id -> {op_type, payload, client_op_id, sentAt}
		this.acked = new Map(); // client_op_id -> version, acknowledged but not applied yet
		this.buffer = new Map(); // version -> operation, beyond a gap
		this.comments = new Map(); // comment id -> comment (comments.js)
		this.commentSeq = null; // last applied comment event; null until a sync carried comments
		this.commentBuffer = new Map(); // seq -> event, beyond a gap
		this.selectionIds = []; // ours, sent to the others
		this.selectionSent = null; // JSON of the last selection sent on this socket
		this.ws = null;
		this.attempt = 0;
		this.timers = {};
		this.lastHeard = 0;
		this.pingSentAt = 0;
		this.cursorPending = null;
		this.cursorSentAt = 0;
		this.listeners = new Map();
		this.closed = true;
		this.onOnline = () => this.reconnectNow('back online');
		this.onOffline = () => this.goOffline();
	}

	on(type, fn) {
		let set = this.listeners.get(type);
		if (!set)
			this.listeners.set(type, (set = new Set()));
		set.add(fn);
		return () => set.delete(fn);
	}

	emit(type, detail) {
		const set = this.listeners.get(type);
		if (set) {
			for (const fn of [...set])
				fn(detail);
		}
	}

	setState(state, extra = {}) {
		this.state = state;
		this.emit('status', { state, attempt: this.attempt, ...extra });
	}

	get live() {
		return this.state === 'live' && this.ws && this.ws.readyState === OPEN;
	}

	get online() {
		const nav = this.env && this.env.navigator;
		return !nav || nav.onLine !== false;
	}

	timer(name, fn, ms) {
		this.clock.clearTimeout(this.timers[name]);
		this.timers[name] = this.clock.setTimeout(() => {
			this.timers[name] = null;
			fn();
		}, ms);
	}

	cancel(name) {
		this.clock.clearTimeout(this.timers[name]);
		this.timers[name] = null;
	}

	start() {
		this.closed = false;
		if (this.env && this.env.addEventListener) {
			this.env.addEventListener('online', this.onOnline);
			this.env.addEventListener('offline', this.onOffline);
		}
		if (!this.online)
			this.goOffline();
		else
			this.connect();
	}

	close() {
		this.closed = true;
		if (this.env && this.env.removeEventListener) {
			this.env.removeEventListener('online', this.onOnline);
			this.env.removeEventListener('offline', this.onOffline);
		}
		for (const k of Object.keys(this.timers))
			this.cancel(k);
		this.dropSocket();
		this.setState('closed');
	}

	url() {
		const params = new URLSearchParams({ token: this.api.accessToken || '' });
		if (this.version !== null)
			params.set('since', String(this.version));
		if (this.commentSeq !== null)
			params.set('comment_since', String(this.commentSeq));
		return `${this.baseUrl}/canvases/${encodeURIComponent(this.canvasId)}/ws?${params}`;
	}

	// Opens the socket and, at the same time, checks the canvas over REST. The browser hides the
	// status of a refused upgrade (401 and 404 both look like 1006), so the check is what tells a
	// canvas we may no longer open from a network problem, and it refreshes an expired access
	// token. Sending it first cost a round trip before the upgrade, and on a page still setting
	// up much more: its answer waited for the main thread. A socket that closes before its sync
	// waits for the check to say what to do.
	connect() {
		if (this.closed)
			return;
		mark('flowstate:connect');
		this.cancel('retry');
		const token = (this.connectToken = {});
		this.setState(this.attempt ? 'reconnecting' : 'connecting');
		const presented = this.api.accessToken;
		let asked;
		try {
			asked = Promise.resolve(this.api.canvas(this.canvasId));
		} catch (error) {
			asked = Promise.reject(error);
		}
		this.checked = asked; // the canvas as this attempt's check answers it (BoardView reads it)
		const check = asked.then((canvas) => ({ canvas }), (error) => ({ error }));
		check.then(({ canvas, error }) => {
			if (this.closed || token !== this.connectToken)
				return;
			if (canvas && canvas.role)
				this.role = canvas.role;
			// Refused while the socket is still on its way: that is final. Once synced, the
			// socket speaks for itself (the server closes it with 4403 or 4404).
			if (error && REFUSED_STATUS.has(error.status) && this.state !== 'live') {
				this.dropSocket();
				this.setState('failed', { reason: error.code || 'refused', error });
			}
		});
		mark('flowstate:ws-connect');
		let ws;
		try {
			ws = new this.WebSocket(this.url());
		} catch (e) {
			this.scheduleReconnect('socket');
			return;
		}
		this.ws = ws;
		this.lastHeard = this.clock.now();
		this.pingSentAt = 0;
		let synced = false;
		ws.onmessage = (ev) => {
			if (this.ws !== ws)
				return;
			this.onMessage(ev.data);
			synced = synced || this.state === 'live';
		};
		ws.onclose = (ev) => {
			if (this.ws !== ws)
				return;
			this.ws = null;
			const final = ev && FINAL_CLOSE[ev.code];
			if (final) {
				this.dropSocket();
				this.setState('failed', { reason: final, error: { code: final } });
				return;
			}
			const reason = `closed ${ev && ev.code}`;
			if (synced) {
				this.scheduleReconnect(reason);
				return;
			}
			// Closed before its sync: refused, or the network. The check tells which.
			this.dropSocket();
			this.connectToken = token;
			check.then(({ error }) => {
				if (this.closed || token !== this.connectToken || this.state === 'failed')
					return;
				if (error)
					this.scheduleReconnect(error.code || 'network');
				else if (this.api.accessToken !== presented)
					this.connect(); // the check refreshed the token the upgrade was refused for
				else
					this.scheduleReconnect(reason);
			});
		};
		ws.onerror = () => {}; // a close always follows
	}

	// Forgets the current socket without waiting for its closing handshake (which never comes
	// on a dead network path).
	dropSocket() {
		const ws = this.ws;
		this.ws = null;
		this.connectToken = null;
		this.cancel('liveness');
		this.cancel('gap');
		if (ws) {
			ws.onmessage = ws.onclose = ws.onerror = null;
			try {
				ws.close(4000, 'client reconnects');
			} catch {
				// already closing
			}
		}
		this.buffer.clear();
		this.commentBuffer.clear();
		this.selectionSent = null;
		if (this.presence.size) {
			this.presence.clear();
			this.emit('presence');
		}
	}

	scheduleReconnect(reason) {
		this.dropSocket();
		if (this.closed)
			return;
		if (!this.online) {
			this.goOffline();
			return;
		}
		const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
		const delay = Math.round(base / 2 + Math.random() * base / 2);
		this.attempt++;
		this.setState('reconnecting', { retryIn: delay, reason });
		this.timer('retry', () => this.connect(), delay);
	}

	goOffline() {
		if (this.closed)
			return;
		this.dropSocket();
		this.setState('offline', { reason: 'offline' });
		// The event can lie (a captive network, a VPN); try now and then anyway.
		this.timer('retry', () => this.connect(), OFFLINE_RETRY_MS);
	}

	reconnectNow(reason) {
		if (this.closed || this.live)
			return;
		this.dropSocket();
		this.attempt = Math.max(this.attempt, 1);
		this.setState('reconnecting', { retryIn: 0, reason });
		this.connect();
	}

	send(msg) {
		if (!this.ws || this.ws.readyState !== OPEN)
			return false;
		try {
			this.ws.send(JSON.stringify(msg));
		} catch {
			return false;
		}
		return true;
	}

	// ---- incoming

	onMessage(data) {
		if (this.version === null && typeof data === 'string' && data.startsWith('{"type":"sync"'))
			mark('flowstate:sync-received');
		this.lastHeard = this.clock.now();
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
		case 'operations':
			// A batch of consecutive ops, in version order: what the server held back while
			// this client was behind (its socket full) or catching up after the sync.
			for (const o of msg.operations || [])
				this.onOperation(o);
			break;
		case 'ack':
			this.outbox.delete(msg.client_op_id);
			// The ack and the op travel separately (the op through the canvas's ordered
			// delivery); after a resync in state mode the op never comes at all.
			if (this.version !== null && msg.version <= this.version)
				this.emit('settled', { client_op_id: msg.client_op_id });
			else
				this.acked.set(msg.client_op_id, msg.version);
			this.emit('ack', msg);
			this.emit('outbox', { size: this.outbox.size });
			break;
		case 'error':
			this.onError(msg);
			break;
		case 'presence_join':
			if (msg.user) {
				this.presence.set(msg.user.session_id, msg.user);
				this.emit('presence');
			}
			break;
		case 'comment':
			this.onCommentEvent(msg);
			break;
		case 'selection': {
			const p = this.presence.get(msg.session_id);
			if (p)
				this.presence.set(msg.session_id, { ...p, selection: msg.shape_ids || [] });
			this.emit('selection', { session_id: msg.session_id, shape_ids: msg.shape_ids || [] });
			break;
		}
		case 'role_changed':
			if (typeof msg.role === 'string') {
				this.role = msg.role;
				if (this.you)
					this.you = { ...this.you, role: msg.role };
				this.emit('role', { role: msg.role });
			}
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
		mark('flowstate:sync');
		if (msg.mode === 'state') {
			this.shapes = stateFromShapes(msg.state && msg.state.shapes);
			this.version = msg.current_version;
			this.emit('ops', { operations: [], changed: null }); // null: everything changed
		} else {
			const base = this.version === null ? 0 : this.version;
			if (this.version === null)
				this.shapes = new Map();
			for (const op of msg.operations || [])
				this.buffer.set(op.version, op);
			this.version = base;
			this.drain();
			if (this.version !== msg.current_version) {
				// Cannot happen with a correct server; start over from a full state.
				this.version = null;
				this.shapes = new Map();
				this.scheduleReconnect('sync did not reach current_version');
				return;
			}
		}
		// A server without the team features (comments, selections) sends no `comments`:
		// then we send it no `selection` either (it would answer unknown_type).
		this.teamFeatures = !!msg.comments;
		if (msg.comments)
			this.syncComments(msg.comments);
		this.you = msg.you || null;
		if (msg.you && msg.you.role)
			this.role = msg.you.role;
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
			entry.sentAt = 0;
		this.flushOutbox();
		this.sendSelection();
	}

	// ---- comments

	syncComments(c) {
		if (c.mode === 'state') {
			this.comments = commentsFromThreads(c.threads);
			this.commentSeq = c.seq;
			this.commentBuffer.clear();
			this.emit('comments', { changed: null });
			return;
		}
		if (this.commentSeq === null) {
			// Events after a seq we never had: cannot happen (we send no comment_since before
			// a sync gave us one); treat the list as empty up to there.
			this.commentSeq = Math.max(0, c.seq - (c.events || []).length);
		}
		for (const ev of c.events || [])
			this.commentBuffer.set(ev.seq, ev);
		this.drainComments();
		if (this.commentSeq < c.seq)
			this.commentSeq = c.seq; // nothing can be missing below the sync's position
	}

	onCommentEvent(ev) {
		if (typeof ev.seq !== 'number' || this.commentSeq === null || ev.seq <= this.commentSeq)
			return; // duplicate from a reconnect overlap
		this.commentBuffer.set(ev.seq, ev);
		this.drainComments();
	}

	drainComments() {
		const changed = new Set();
		let ev;
		while ((ev = this.commentBuffer.get(this.commentSeq + 1))) {
			this.commentBuffer.delete(ev.seq);
			if (applyCommentEvent(this.comments, ev))
				changed.add(ev.comment_id);
			this.commentSeq = ev.seq;
		}
		for (const seq of this.commentBuffer.keys()) {
			if (seq <= this.commentSeq)
				this.commentBuffer.delete(seq);
		}
		if (changed.size)
			this.emit('comments', { changed });
		this.cancel('commentGap');
		if (this.commentBuffer.size > 0 && this.state === 'live') {
			const stuckAt = this.commentSeq;
			this.timer('commentGap', () => {
				if (this.commentSeq === stuckAt && this.commentBuffer.size > 0)
					this.scheduleReconnect(`comment gap after ${stuckAt}`);
			}, GAP_REPAIR_MS);
		}
	}

	// ---- selection

	// Tells the others what we have selected (latest wins, at most ~30 a second). Kept across
	// reconnects: a new socket starts with an empty selection on the server.
	select(shapeIds) {
		this.selectionIds = [...new Set(shapeIds)].slice(0, MAX_SELECTION_IDS);
		if (this.timers.selection)
			return;
		const wait = (this.selectionAt || 0) + CURSOR_INTERVAL_MS - this.clock.now();
		if (wait <= 0)
			this.sendSelection();
		else
			this.timer('selection', () => this.sendSelection(), wait);
	}

	sendSelection() {
		if (!this.live || !this.teamFeatures)
			return;
		const json = JSON.stringify(this.selectionIds);
		if (json === this.selectionSent || (this.selectionSent === null && !this.selectionIds.length))
			return;
		if (this.send({ type: 'selection', shape_ids: this.selectionIds })) {
			this.selectionSent = json;
			this.selectionAt = this.clock.now();
		}
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
		const applied = [];
		const changed = new Set();
		const mine = [];
		while ((next = this.buffer.get(this.version + 1))) {
			this.buffer.delete(next.version);
			applyOp(this.shapes, next.type, next.payload);
			this.version = next.version;
			applied.push(next);
			if (next.payload && next.payload.shape_id)
				changed.add(next.payload.shape_id);
			if (next.client_op_id) {
				const queued = this.outbox.delete(next.client_op_id);
				const acked = this.acked.delete(next.client_op_id);
				if (queued || acked)
					mine.push(next.client_op_id);
			}
		}
		if (applied.length)
			this.emit('ops', { operations: applied, changed });
		for (const id of mine)
			this.emit('settled', { client_op_id: id });
		this.settleAcked();
		for (const v of this.buffer.keys()) {
			if (v <= this.version)
				this.buffer.delete(v);
		}
		this.cancel('gap');
		if (this.buffer.size > 0 && this.state === 'live') {
			const stuckAt = this.version;
			this.timer('gap', () => {
				if (this.version === stuckAt && this.buffer.size > 0)
					this.scheduleReconnect(`gap after version ${stuckAt}`);
			}, GAP_REPAIR_MS);
		}
		if (mine.length)
			this.emit('outbox', { size: this.outbox.size });
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
				entry.sentAt = 0;
				this.timer('resend', () => this.flushOutbox(), RETRY_OP_MS);
			} else {
				this.outbox.delete(msg.client_op_id);
				this.emit('rejected', { client_op_id: msg.client_op_id, message: msg });
				this.emit('outbox', { size: this.outbox.size });
			}
		}
		this.emit('error', msg);
	}

	// Half-open TCP connections are silent: ping when an op waits for its ack, or when nothing
	// came for a while, and reconnect when even the pong does not come.
	startLiveness() {
		const tick = () => {
			if (!this.ws || this.closed)
				return;
			const now = this.clock.now();
			if (this.pingSentAt) {
				if (now - this.pingSentAt > PONG_TIMEOUT_MS) {
					this.scheduleReconnect('no answer from the server');
					return;
				}
			} else {
				let waiting = false;
				for (const e of this.outbox.values()) {
					if (e.sentAt && now - e.sentAt > ACK_PROBE_MS && now - this.lastHeard > ACK_PROBE_MS) {
						waiting = true;
						break;
					}
				}
				if (waiting || now - this.lastHeard > IDLE_PING_MS) {
					this.pingSentAt = now;
					this.send({ type: 'ping' });
				}
			}
			this.timer('liveness', tick, LIVENESS_TICK_MS);
		};
		this.timer('liveness', tick, LIVENESS_TICK_MS);
	}

	// ---- outgoing

	flushOutbox() {
		if (!this.live)
			return;
		const now = this.clock.now();
		let batch = [];
		const flush = () => {
			if (!batch.length)
				return;
			const ok = batch.length === 1
				? this.send({ type: 'operation', op_type: batch[0].op_type, payload: batch[0].payload, client_op_id: batch[0].client_op_id })
				: this.send({ type: 'operations', ops: batch.map((e) => ({ op_type: e.op_type, payload: e.payload, client_op_id: e.client_op_id })) });
			if (ok) {
				for (const e of batch)
					e.sentAt = now;
			}
			batch = [];
		};
		for (const entry of this.outbox.values()) {
			if (entry.sentAt)
				continue;
			batch.push(entry);
			if (batch.length === MAX_OPS_PER_MESSAGE)
				flush();
		}
		flush();
	}

	// Queues ops for commit ([{op_type, payload}]); returns their client_op_ids. Sent at once,
	// together, when live; else after the next sync.
	submitMany(ops) {
		const ids = [];
		for (const op of ops) {
			const id = op.client_op_id || uuid();
			this.outbox.set(id, { op_type: op.op_type, payload: op.payload, client_op_id: id, sentAt: 0 });
			ids.push(id);
		}
		this.flushOutbox();
		this.emit('outbox', { size: this.outbox.size });
		return ids;
	}

	submit(opType, payload) {
		return this.submitMany([{ op_type: opType, payload }])[0];
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
		const fire = () => {
			if (!this.cursorPending || !this.live)
				return;
			this.cursorSentAt = this.clock.now();
			this.send({ type: 'cursor', ...this.cursorPending });
			this.cursorPending = null;
		};
		const wait = this.cursorSentAt + CURSOR_INTERVAL_MS - this.clock.now();
		if (wait <= 0)
			fire();
		else
			this.timer('cursor', fire, wait);
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

// Timeline marks for the benchmark (performance.getEntriesByType('mark')); no-ops elsewhere.
function mark(name) {
	if (typeof performance !== 'undefined' && performance.mark)
		performance.mark(name);
}

function defaultWsBase() {
	if (typeof location === 'undefined')
		return 'ws://127.0.0.1/api/v1';
	const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
	return `${proto}//${location.host}/api/v1`;
}
