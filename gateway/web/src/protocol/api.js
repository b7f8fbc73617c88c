// REST client for /api/v1 (docs/protocol.md) and the login session. Framework-free.
//
// The token pair is kept in localStorage so that a canvas link opened in a new tab is still
// logged in. Refresh tokens rotate and are single-use: presenting one twice revokes the whole
// login (its family), and several tabs share one pair. So a refresh runs under a cross-tab lock
// (Web Locks) and, inside it, first re-reads the stored pair: if another tab rotated it
// meanwhile, that pair is used instead of refreshing again. Tabs learn of rotations and logouts
// through the `storage` event. An authenticated request answered 401 is retried once after a
// refresh; concurrent 401s in one tab share one refresh.
//
// Everything the environment provides is injectable (fetch, storage, locks, window events) so
// the module runs under Vitest in Node.

export const STORAGE_KEY = 'flowstate.session';
const LOCK_NAME = 'flowstate.refresh';

export class ApiError extends Error {
	constructor(status, code, detail, extra = null) {
		super(detail || code || `HTTP ${status}`);
		this.status = status;
		this.code = code || '';
		this.detail = detail || '';
		// Other fields of the error body (line and column of invalid_mermaid).
		if (extra)
			for (const k of ['line', 'column']) if (extra[k] !== undefined) this[k] = extra[k];
	}
}

function defaultStorage() {
	try {
		return globalThis.localStorage || null;
	} catch {
		return null; // storage disabled
	}
}

export class Api {
	constructor({ base = '/api/v1', fetchImpl, storage = defaultStorage(), locks, eventTarget } = {}) {
		this.base = base;
		this.fetch = fetchImpl || ((...a) => globalThis.fetch(...a));
		this.storage = storage;
		this.locks = locks !== undefined ? locks : (globalThis.navigator && globalThis.navigator.locks) || null;
		this.tokens = this.readStored();
		this.refreshing = null;
		this.listeners = new Set(); // called with (tokens|null) when the session changes
		const target = eventTarget !== undefined ? eventTarget : (typeof window !== 'undefined' ? window : null);
		if (target) {
			target.addEventListener('storage', (ev) => {
				if (ev.key !== STORAGE_KEY && ev.key !== null)
					return;
				const was = this.tokens;
				this.tokens = this.readStored();
				if (!!was !== !!this.tokens)
					this.notify();
			});
		}
	}

	readStored() {
		try {
			const saved = JSON.parse((this.storage && this.storage.getItem(STORAGE_KEY)) || 'null');
			if (saved && typeof saved.access_token === 'string' && typeof saved.refresh_token === 'string')
				return { access_token: saved.access_token, refresh_token: saved.refresh_token };
		} catch {
			// unreadable: treat as logged out
		}
		return null;
	}

	onSessionChange(fn) {
		this.listeners.add(fn);
		return () => this.listeners.delete(fn);
	}

	notify() {
		for (const fn of this.listeners)
			fn(this.tokens);
	}

	get loggedIn() {
		return this.tokens !== null;
	}

	get accessToken() {
		return this.tokens ? this.tokens.access_token : null;
	}

	setTokens(pair) {
		const was = this.tokens;
		this.tokens = pair ? { access_token: pair.access_token, refresh_token: pair.refresh_token } : null;
		try {
			if (this.storage) {
				if (this.tokens)
					this.storage.setItem(STORAGE_KEY, JSON.stringify(this.tokens));
				else
					this.storage.removeItem(STORAGE_KEY);
			}
		} catch {
			// storage full or disabled: memory is enough for this tab
		}
		if (!!was !== !!this.tokens)
			this.notify();
	}

	// `text`: answer the body as a string; `blob`: as a Blob; `contentType`: send `body` (a
	// string) as is with that type instead of as JSON.
	async raw(method, path, body, token, { text = false, blob = false, contentType = null } = {}) {
		const headers = {};
		if (body !== undefined)
			headers['Content-Type'] = contentType || 'application/json';
		if (token)
			headers.Authorization = `Bearer ${token}`;
		let res;
		try {
			res = await this.fetch(this.base + path, {
				method,
				headers,
				body: body === undefined ? undefined : contentType ? body : JSON.stringify(body),
				cache: 'no-store',
			});
		} catch (e) {
			throw new ApiError(0, 'network', `network error: ${e && e.message}`);
		}
		if (res.ok && blob)
			return res.blob();
		const raw = await res.text();
		if (res.ok && text)
			return raw;
		let data = null;
		if (raw) {
			try {
				data = JSON.parse(raw);
			} catch {
				data = null;
			}
		}
		if (!res.ok)
			throw new ApiError(res.status, data && data.code, data && data.detail, data);
		return data;
	}

	// Rotates the token pair. Resolves false (and logs out) when the refresh token is refused.
	refresh() {
		if (!this.refreshing) {
			const presented = this.tokens && this.tokens.refresh_token;
			const run = async () => {
				// Another tab may have rotated the pair since we read it.
				const stored = this.readStored();
				if (stored && stored.refresh_token !== presented) {
					this.tokens = stored;
					return true;
				}
				if (!presented)
					return false;
				try {
					this.setTokens(await this.raw('POST', '/auth/refresh', { refresh_token: presented }));
					return true;
				} catch (e) {
					if (e.status === 401) {
						this.setTokens(null);
						return false;
					}
					throw e;
				}
			};
			const locked = this.locks ? this.locks.request(LOCK_NAME, run) : run();
			this.refreshing = locked.finally(() => {
				this.refreshing = null;
			});
		}
		return this.refreshing;
	}

	async authed(method, path, body, opts) {
		if (!this.tokens)
			throw new ApiError(401, 'unauthorized', 'not logged in');
		const token = this.tokens.access_token;
		try {
			return await this.raw(method, path, body, token, opts);
		} catch (e) {
			if (e.status !== 401)
				throw e;
			if (!this.tokens || this.tokens.access_token === token) {
				if (!(await this.refresh()))
					throw e;
			}
			if (!this.tokens)
				throw e;
			return this.raw(method, path, body, this.tokens.access_token, opts);
		}
	}

	// A fresh access token for a WebSocket URL: the browser hides why an upgrade was refused,
	// so callers check over REST first (see session.js) and that refreshes an expired token.

	// ---- auth
	register(email, password, displayName) {
		const body = { email, password };
		if (displayName)
			body.display_name = displayName;
		return this.raw('POST', '/auth/register', body);
	}

	async login(email, password) {
		const pair = await this.raw('POST', '/auth/login', { email, password });
		this.setTokens(pair);
		return pair;
	}

	async logout() {
		const refresh = this.tokens && this.tokens.refresh_token;
		try {
			if (refresh)
				await this.authed('POST', '/auth/logout', { refresh_token: refresh });
		} finally {
			this.setTokens(null);
		}
	}

	me() {
		return this.authed('GET', '/auth/me');
	}

	// ---- workspaces and canvases
	workspaces() {
		return this.authed('GET', '/workspaces');
	}

	createWorkspace(name) {
		return this.authed('POST', '/workspaces', { name });
	}

	workspace(id) {
		return this.authed('GET', `/workspaces/${enc(id)}`);
	}

	members(workspaceId) {
		return this.authed('GET', `/workspaces/${enc(workspaceId)}/members`);
	}

	addMember(workspaceId, email, role) {
		return this.authed('POST', `/workspaces/${enc(workspaceId)}/members`, { email, role });
	}

	renameWorkspace(id, name) {
		return this.authed('PATCH', `/workspaces/${enc(id)}`, { name });
	}

	deleteWorkspace(id) {
		return this.authed('DELETE', `/workspaces/${enc(id)}`);
	}

	setMemberRole(workspaceId, userId, role) {
		return this.authed('PATCH', `/workspaces/${enc(workspaceId)}/members/${enc(userId)}`, { role });
	}

	removeMember(workspaceId, userId) {
		return this.authed('DELETE', `/workspaces/${enc(workspaceId)}/members/${enc(userId)}`);
	}

	renameCanvas(id, name) {
		return this.authed('PATCH', `/canvases/${enc(id)}`, { name });
	}

	deleteCanvas(id) {
		return this.authed('DELETE', `/canvases/${enc(id)}`);
	}

	canvases(workspaceId) {
		return this.authed('GET', `/workspaces/${enc(workspaceId)}/canvases`);
	}

	createCanvas(workspaceId, name) {
		return this.authed('POST', `/workspaces/${enc(workspaceId)}/canvases`, { name });
	}

	canvas(id) {
		return this.authed('GET', `/canvases/${enc(id)}`);
	}

	// ---- history
	state(canvasId, at) {
		const q = at === undefined || at === null ? '' : `?at=${Number(at)}`;
		return this.authed('GET', `/canvases/${enc(canvasId)}/state${q}`);
	}

	versions(canvasId) {
		return this.authed('GET', `/canvases/${enc(canvasId)}/versions`);
	}

	createVersion(canvasId, name, version) {
		const body = { name };
		if (version !== undefined && version !== null)
			body.version = version;
		return this.authed('POST', `/canvases/${enc(canvasId)}/versions`, body);
	}

	diff(canvasId, from, to) {
		return this.authed('GET', `/canvases/${enc(canvasId)}/diff?from=${Number(from)}&to=${Number(to)}`);
	}

	restore(canvasId, version) {
		return this.authed('POST', `/canvases/${enc(canvasId)}/restore`, { version });
	}

	activity(year) {
		return this.authed('GET', `/me/activity${year ? `?year=${Number(year)}` : ''}`);
	}

	exportSvg(canvasId, at) {
		const q = at === undefined || at === null ? '' : `?at=${Number(at)}`;
		return this.authed('GET', `/canvases/${enc(canvasId)}/export.svg${q}`, undefined, { text: true });
	}

	// ---- interop (PNG, Mermaid)
	exportPng(canvasId, { at, scale } = {}) {
		const q = new URLSearchParams();
		if (at !== undefined && at !== null)
			q.set('at', String(Number(at)));
		if (scale)
			q.set('scale', String(scale));
		const qs = q.toString();
		return this.authed('GET', `/canvases/${enc(canvasId)}/export.png${qs ? `?${qs}` : ''}`, undefined, { blob: true });
	}

	exportMermaid(canvasId, at) {
		const q = at === undefined || at === null ? '' : `?at=${Number(at)}`;
		return this.authed('GET', `/canvases/${enc(canvasId)}/export.mmd${q}`, undefined, { text: true });
	}

	importMermaid(canvasId, text) {
		return this.authed('POST', `/canvases/${enc(canvasId)}/import/mermaid`, text, { contentType: 'text/plain; charset=utf-8' });
	}

	// ---- comments
	comments(canvasId) {
		return this.authed('GET', `/canvases/${enc(canvasId)}/comments`);
	}

	createComment(canvasId, fields) {
		return this.authed('POST', `/canvases/${enc(canvasId)}/comments`, fields);
	}

	updateComment(id, fields) {
		return this.authed('PATCH', `/comments/${enc(id)}`, fields);
	}

	deleteComment(id) {
		return this.authed('DELETE', `/comments/${enc(id)}`);
	}

	// ---- invites
	createInvite(workspaceId, fields) {
		return this.authed('POST', `/workspaces/${enc(workspaceId)}/invites`, fields);
	}

	invites(workspaceId) {
		return this.authed('GET', `/workspaces/${enc(workspaceId)}/invites`);
	}

	revokeInvite(workspaceId, inviteId) {
		return this.authed('DELETE', `/workspaces/${enc(workspaceId)}/invites/${enc(inviteId)}`);
	}

	invite(token) {
		return this.authed('GET', `/invites/${enc(token)}`);
	}

	acceptInvite(token) {
		return this.authed('POST', `/invites/${enc(token)}/accept`);
	}
}

function enc(s) {
	return encodeURIComponent(s);
}
