// REST client for /api/v1 (docs/protocol.md). Holds the token pair: in memory, mirrored in
// sessionStorage so a reload of the tab stays logged in (sessionStorage is per tab and dies with
// it; nothing goes to localStorage or cookies). An authenticated request that answers 401 is
// retried once after rotating the pair with the refresh token; concurrent 401s share one refresh,
// because a refresh token is single-use and presenting it twice revokes the whole session.

const STORAGE_KEY = 'flowstate.session';

export class ApiError extends Error {
	constructor(status, code, detail) {
		super(detail || code || `HTTP ${status}`);
		this.status = status;
		this.code = code || '';
		this.detail = detail || '';
	}
}

export class Api {
	constructor(base = '/api/v1') {
		this.base = base;
		this.tokens = null; // {access_token, refresh_token}
		this.refreshing = null; // the in-flight refresh, shared
		this.onLogout = null; // called when the session is gone for good
		try {
			const saved = JSON.parse(sessionStorage.getItem(STORAGE_KEY) || 'null');
			if (saved && saved.access_token && saved.refresh_token)
				this.tokens = saved;
		} catch {
			this.tokens = null;
		}
	}

	get loggedIn() {
		return this.tokens !== null;
	}

	get accessToken() {
		return this.tokens ? this.tokens.access_token : null;
	}

	setTokens(pair) {
		this.tokens = pair ? { access_token: pair.access_token, refresh_token: pair.refresh_token } : null;
		try {
			if (this.tokens)
				sessionStorage.setItem(STORAGE_KEY, JSON.stringify(this.tokens));
			else
				sessionStorage.removeItem(STORAGE_KEY);
		} catch {
			// Storage may be disabled; memory is enough for this tab.
		}
	}

	async raw(method, path, body, token) {
		const headers = {};
		if (body !== undefined)
			headers['Content-Type'] = 'application/json';
		if (token)
			headers.Authorization = `Bearer ${token}`;
		let res;
		try {
			res = await fetch(this.base + path, {
				method,
				headers,
				body: body === undefined ? undefined : JSON.stringify(body),
				cache: 'no-store',
			});
		} catch (e) {
			throw new ApiError(0, 'network', `network error: ${e.message}`);
		}
		const text = await res.text();
		let data = null;
		if (text) {
			try {
				data = JSON.parse(text);
			} catch {
				data = null;
			}
		}
		if (!res.ok) {
			throw new ApiError(res.status, data && data.code,
					   (data && data.detail) || `${method} ${path}: HTTP ${res.status}`);
		}
		return data;
	}

	// Rotates the token pair. Returns false (and logs out) when the refresh token is refused.
	refresh() {
		if (!this.refreshing) {
			const presented = this.tokens && this.tokens.refresh_token;
			this.refreshing = (async () => {
				if (!presented)
					return false;
				try {
					const pair = await this.raw('POST', '/auth/refresh', { refresh_token: presented });
					this.setTokens(pair);
					return true;
				} catch (e) {
					if (e.status === 401) {
						this.setTokens(null);
						if (this.onLogout)
							this.onLogout();
						return false;
					}
					throw e;
				}
			})().finally(() => {
				this.refreshing = null;
			});
		}
		return this.refreshing;
	}

	async authed(method, path, body) {
		if (!this.tokens)
			throw new ApiError(401, 'unauthorized', 'not logged in');
		const token = this.tokens.access_token;
		try {
			return await this.raw(method, path, body, token);
		} catch (e) {
			if (e.status !== 401)
				throw e;
			// Someone else may have refreshed while this request was in flight.
			if (!this.tokens || this.tokens.access_token === token) {
				if (!(await this.refresh()))
					throw e;
			}
			return this.raw(method, path, body, this.tokens.access_token);
		}
	}

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
		return this.authed('GET', `/workspaces/${encodeURIComponent(id)}`);
	}

	members(workspaceId) {
		return this.authed('GET', `/workspaces/${encodeURIComponent(workspaceId)}/members`);
	}

	addMember(workspaceId, email, role) {
		return this.authed('POST', `/workspaces/${encodeURIComponent(workspaceId)}/members`,
				   { email, role });
	}

	canvases(workspaceId) {
		return this.authed('GET', `/workspaces/${encodeURIComponent(workspaceId)}/canvases`);
	}

	createCanvas(workspaceId, name) {
		return this.authed('POST', `/workspaces/${encodeURIComponent(workspaceId)}/canvases`,
				   { name });
	}

	canvas(id) {
		return this.authed('GET', `/canvases/${encodeURIComponent(id)}`);
	}
}
