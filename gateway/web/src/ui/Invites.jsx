// Invites (owners): a link for a role, optionally for one email address, that expires; shown
// once when created, with a Copy button (the server keeps only a hash of its token). The list
// shows every invite's status and revokes one. InviteView is where a link leads: what it is
// for, and Join.

import { useCallback, useEffect, useState } from 'react';
import { plainError } from '../protocol/errors.js';
import { useApp } from './hooks.js';
import { TopBar } from './TopBar.jsx';

const ROLES = ['viewer', 'commenter', 'editor', 'owner'];
const EXPIRY = [['86400', '1 day'], ['604800', '7 days'], ['2592000', '30 days']];
const STATUS = { active: 'active', revoked: 'revoked', expired: 'expired', used_up: 'used up' };

// The link to share: the server answers a relative one unless FLOWSTATE_PUBLIC_URL is set.
export function absoluteLink(url) {
	try {
		return new URL(url, location.origin).href;
	} catch {
		return url;
	}
}

export async function copyText(text, input) {
	try {
		if (navigator.clipboard && window.isSecureContext) {
			await navigator.clipboard.writeText(text);
			return true;
		}
	} catch {
		// fall back below
	}
	if (input) {
		input.select();
		try {
			return document.execCommand('copy');
		} catch {
			return false;
		}
	}
	return false;
}

export function Invites({ workspaceId }) {
	const { api } = useApp();
	const [list, setList] = useState([]);
	const [created, setCreated] = useState(null);
	const [copied, setCopied] = useState(false);
	const [error, setError] = useState('');

	const load = useCallback(async () => {
		try {
			setList(await api.invites(workspaceId));
		} catch (e) {
			setError(plainError(e));
		}
	}, [api, workspaceId]);

	useEffect(() => {
		setCreated(null);
		load();
	}, [load]);

	const create = async (ev) => {
		ev.preventDefault();
		const f = ev.currentTarget;
		setError('');
		setCopied(false);
		const body = { role: f.role.value, expires_in: Number(f.expires.value) };
		const email = f.email.value.trim();
		if (email)
			body.email = email;
		try {
			const inv = await api.createInvite(workspaceId, body);
			setCreated({ ...inv, link: absoluteLink(inv.url) });
			f.email.value = '';
			load();
		} catch (e) {
			setError(plainError(e));
		}
	};
	const copy = async () => {
		setCopied(await copyText(created.link, document.getElementById('invite-url')));
	};
	const revoke = async (inv) => {
		setError('');
		try {
			await api.revokeInvite(workspaceId, inv.id);
			if (created && created.id === inv.id)
				setCreated(null);
			load();
		} catch (e) {
			setError(plainError(e));
		}
	};
	return (
		<div className="invites-box" id="invites">
			<form className="inline-form" id="invite-form" onSubmit={create}>
				<select name="role" aria-label="Invite role" defaultValue="editor">
					{ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
				</select>
				<input name="email" type="email" placeholder="Only for this email (optional)" aria-label="Invite email (optional)" />
				<select name="expires" aria-label="Invite expires after" defaultValue="604800">
					{EXPIRY.map(([v, t]) => <option key={v} value={v}>{t}</option>)}
				</select>
				<button type="submit" className="primary">Create invite link</button>
			</form>
			{created && (
				<div className="invite-link">
					<input id="invite-url" readOnly value={created.link} aria-label="Invite link" onFocus={(e) => e.target.select()} />
					<button type="button" id="copy-invite" onClick={copy}>{copied ? 'Copied' : 'Copy link'}</button>
					<span className="muted small">
						For {created.email || 'anyone with the link'} as {created.role}. Shown once: copy it now.
					</span>
				</div>
			)}
			<ul className="list invites" id="invite-list">
				{list.map((inv) => (
					<li key={inv.id} data-invite-id={inv.id} data-status={inv.status}>
						<span>{inv.role} · {inv.email || 'anyone with the link'} <span className="muted small">{inv.uses} used{inv.max_uses ? ` of ${inv.max_uses}` : ''}</span></span>
						<span className="row-actions">
							<span className="tag">{STATUS[inv.status] || inv.status}</span>
							{inv.status === 'active' && <button type="button" className="quiet small-btn" onClick={() => revoke(inv)}>Revoke</button>}
						</span>
					</li>
				))}
			</ul>
			{error && <p className="form-error" role="alert">{error}</p>}
		</div>
	);
}

export function InviteView({ token, me, onLogout }) {
	const { api } = useApp();
	const [info, setInfo] = useState(null);
	const [error, setError] = useState('');
	const [busy, setBusy] = useState(false);

	useEffect(() => {
		let live = true;
		api.invite(token).then((i) => live && setInfo(i)).catch((e) => {
			if (!live)
				return;
			setError(e.status === 403 ? 'This invite is for another email address. Log in with that account to use it.' : plainError(e));
		});
		return () => { live = false; };
	}, [api, token]);

	const accept = async () => {
		setBusy(true);
		setError('');
		try {
			const res = await api.acceptInvite(token);
			location.hash = `#/w/${res.workspace_id}`;
		} catch (e) {
			setError(plainError(e));
		} finally {
			setBusy(false);
		}
	};
	const rank = (r) => ROLES.indexOf(r);
	const already = info && info.your_role && rank(info.your_role) >= rank(info.role);
	return (
		<div className="home-page">
			<TopBar me={me} onLogout={onLogout} crumbs={[{ href: '#/', text: 'Workspaces' }, { text: 'Invite' }]} />
			<main className="invite-page">
				<div className="auth-card" id="invite-card">
					{!info && !error && <p className="muted">Opening the invite…</p>}
					{info && (
						<>
							<h2>Join {info.workspace.name}</h2>
							<p>
								{info.invited_by ? info.invited_by.display_name : 'Someone'} invited you to <strong>{info.workspace.name}</strong> as <strong>{info.role}</strong>.
							</p>
							{already
								? <p className="muted">You are already {info.your_role === 'owner' ? 'an owner' : `a${/^[aeiou]/.test(info.your_role) ? 'n' : ''} ${info.your_role}`} there.</p>
								: <button type="button" className="primary" id="accept-invite" disabled={busy} onClick={accept}>Join as {info.role}</button>}
							<a href={already ? `#/w/${info.workspace.id}` : '#/'}>{already ? 'Open the workspace' : 'Not now'}</a>
						</>
					)}
					{error && <p className="form-error" id="invite-error" role="alert">{error}</p>}
					{error && <a href="#/">Go to your workspaces</a>}
				</div>
			</main>
		</div>
	);
}
