// Unit tests of the REST client's session handling (api.js): token rotation shared by tabs.

import { describe, expect, test } from 'vitest';
import { Api, ApiError, STORAGE_KEY } from './api.js';
import { plainError } from './errors.js';

class MemStorage {
	constructor() {
		this.m = new Map();
	}
	getItem(k) {
		return this.m.has(k) ? this.m.get(k) : null;
	}
	setItem(k, v) {
		this.m.set(k, String(v));
	}
	removeItem(k) {
		this.m.delete(k);
	}
}

// One lock for all "tabs", granted in order, like navigator.locks.
function sharedLocks() {
	let chain = Promise.resolve();
	return {
		request(_name, fn) {
			const run = chain.then(() => fn());
			chain = run.catch(() => {});
			return run;
		},
	};
}

function server() {
	let n = 0;
	const live = new Set(['r0']);
	const used = new Set();
	const calls = [];
	const fetchImpl = async (url, init) => {
		const path = url.replace('/api/v1', '');
		calls.push(path);
		const json = (status, body) => ({ ok: status < 300, status, text: async () => JSON.stringify(body) });
		if (path === '/auth/refresh') {
			const { refresh_token: rt } = JSON.parse(init.body);
			if (used.has(rt)) {
				live.clear(); // reuse revokes the family
				return json(401, { code: 'invalid_refresh_token', detail: 'reused' });
			}
			if (!live.has(rt))
				return json(401, { code: 'invalid_refresh_token', detail: 'unknown' });
			used.add(rt);
			live.delete(rt);
			n++;
			live.add(`r${n}`);
			return json(200, { access_token: `a${n}`, refresh_token: `r${n}` });
		}
		const auth = init.headers.Authorization;
		if (auth !== `Bearer a${n}`)
			return json(401, { code: 'unauthorized', detail: 'expired' });
		return json(200, { ok: true, path });
	};
	return { fetchImpl, calls };
}

describe('Api', () => {
	test('two tabs sharing a session refresh once: the second uses the pair the first stored', async () => {
		const srv = server();
		const storage = new MemStorage();
		storage.setItem(STORAGE_KEY, JSON.stringify({ access_token: 'stale', refresh_token: 'r0' }));
		const locks = sharedLocks();
		const tab1 = new Api({ fetchImpl: srv.fetchImpl, storage, locks, eventTarget: null });
		const tab2 = new Api({ fetchImpl: srv.fetchImpl, storage, locks, eventTarget: null });
		const [a, b] = await Promise.all([tab1.workspaces(), tab2.workspaces()]);
		expect(a.ok).toBe(true);
		expect(b.ok).toBe(true);
		expect(srv.calls.filter((c) => c === '/auth/refresh').length).toBe(1);
		expect(JSON.parse(storage.getItem(STORAGE_KEY)).refresh_token).toBe('r1');
		expect(tab2.accessToken).toBe('a1');
	});

	test('concurrent 401s in one tab share one refresh', async () => {
		const srv = server();
		const storage = new MemStorage();
		storage.setItem(STORAGE_KEY, JSON.stringify({ access_token: 'stale', refresh_token: 'r0' }));
		const api = new Api({ fetchImpl: srv.fetchImpl, storage, locks: null, eventTarget: null });
		await Promise.all([api.me(), api.workspaces(), api.canvas('x')]);
		expect(srv.calls.filter((c) => c === '/auth/refresh').length).toBe(1);
	});

	test('a refused refresh logs out and tells the listeners', async () => {
		const srv = server();
		const storage = new MemStorage();
		storage.setItem(STORAGE_KEY, JSON.stringify({ access_token: 'stale', refresh_token: 'bogus' }));
		const api = new Api({ fetchImpl: srv.fetchImpl, storage, locks: null, eventTarget: null });
		let told = 0;
		api.onSessionChange((t) => told += t === null ? 1 : 0);
		await expect(api.me()).rejects.toBeInstanceOf(ApiError);
		expect(api.loggedIn).toBe(false);
		expect(storage.getItem(STORAGE_KEY)).toBe(null);
		expect(told).toBe(1);
	});

	test('errors read as plain sentences, never codes', () => {
		const cases = [
			new ApiError(401, 'invalid_credentials', 'invalid email or password'),
			new ApiError(409, 'email_taken', 'x'),
			new ApiError(422, 'invalid_field', 'password: must be 8 to 256 bytes'),
			new ApiError(422, 'invalid_field', 'payload.style.opacity: must be a number between 0 and 1'),
			new ApiError(0, 'network', 'network error: failed'),
			new ApiError(502, '', ''),
			{ code: 'rate_limited', detail: 'slow down' },
			{ code: 'some_future_code', status: 400 },
			new ApiError(410, 'invite_expired', 'expired'),
			new ApiError(410, 'invite_used_up', 'used up'),
			new ApiError(422, 'too_many_comments', 'x'),
			new ApiError(422, 'canvas_full', 'x'),
			new ApiError(422, 'invalid_field', 'body: must be 1 to 4000 bytes'),
			new ApiError(422, 'too_large', 'a PNG of 40000x40000 pixels is over the bound'),
			{ code: 'access_revoked' },
		];
		for (const e of cases) {
			const text = plainError(e);
			expect(text).toMatch(/^[A-Z].*[.!?]$/);
			expect(text).not.toMatch(/[a-z]+_[a-z]+/);
		}
		expect(plainError(cases[0])).toBe("That email and password don't match an account.");
		expect(plainError(cases[2])).toBe('Passwords need 8 to 256 characters.');
	});

	test('an invalid Mermaid diagram says where and what', () => {
		const e = new ApiError(422, 'invalid_mermaid', "line 3, column 5: unsupported: 'subgraph' (FlowState imports nodes and links only)", { line: 3, column: 5 });
		expect(e.line).toBe(3);
		expect(plainError(e)).toBe("That Mermaid diagram can't be imported (line 3, column 5): FlowState does not support 'subgraph' (FlowState imports nodes and links only)");
	});

	test('text bodies and binary answers', async () => {
		const seen = [];
		const api = new Api({
			storage: new MemStorage(), locks: null, eventTarget: null,
			fetchImpl: async (url, init) => {
				seen.push([url, init]);
				return { ok: true, status: 200, blob: async () => 'BLOB', text: async () => '{"version":3}' };
			},
		});
		api.setTokens({ access_token: 'a', refresh_token: 'r' });
		expect(await api.importMermaid('c1', 'graph TD\nA-->B')).toEqual({ version: 3 });
		expect(seen[0][1].body).toBe('graph TD\nA-->B');
		expect(seen[0][1].headers['Content-Type']).toMatch(/^text\/plain/);
		expect(await api.exportPng('c1', { at: 2, scale: 2 })).toBe('BLOB');
		expect(seen[1][0]).toBe('/api/v1/canvases/c1/export.png?at=2&scale=2');
	});
});
