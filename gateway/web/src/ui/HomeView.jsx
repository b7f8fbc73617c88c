// Workspaces, their canvases and members, and the user's activity. Owners change members'
// roles, remove members, rename and delete the workspace and its canvases; editors rename
// canvases; anyone may leave. Owners invite people with a link (Invites.jsx).

import { useCallback, useEffect, useState } from 'react';

const ROLES = ['viewer', 'commenter', 'editor', 'owner'];

// A button that asks once more in place ("Delete? Yes / No") instead of a browser dialog.
function ConfirmButton({ label, question, onConfirm, id }) {
	const [asking, setAsking] = useState(false);
	if (!asking)
		return <button type="button" className="quiet small-btn" id={id} onClick={() => setAsking(true)}>{label}</button>;
	return (
		<span className="confirm">
			<span className="small">{question}</span>
			<button type="button" className="danger small-btn" id={id && `${id}-yes`} onClick={() => { setAsking(false); onConfirm(); }}>Yes</button>
			<button type="button" className="quiet small-btn" onClick={() => setAsking(false)}>No</button>
		</span>
	);
}

// A name that turns into a text field to rename it.
function Renamable({ name, href, canRename, onRename, id }) {
	const [editing, setEditing] = useState(false);
	if (editing) {
		return (
			<form className="rename" onSubmit={(e) => { e.preventDefault(); setEditing(false); onRename(e.currentTarget.name.value.trim()); }}>
				<input name="name" defaultValue={name} maxLength={100} required autoFocus aria-label="New name" id={id && `${id}-input`}
					onKeyDown={(e) => e.key === 'Escape' && setEditing(false)} />
				<button type="submit" className="small-btn">Save</button>
			</form>
		);
	}
	return (
		<span className="renamable">
			{href ? <a href={href}>{name}</a> : <span>{name}</span>}
			{canRename && <button type="button" className="quiet small-btn" id={id} title="Rename" aria-label={`Rename ${name}`} onClick={() => setEditing(true)}>✎</button>}
		</span>
	);
}
import { plainError } from '../protocol/errors.js';
import { useApp } from './hooks.js';
import { ActivityHeatmap } from './ActivityHeatmap.jsx';
import { TopBar } from './TopBar.jsx';
import { Invites } from './Invites.jsx';

export function HomeView({ workspaceId, me, onLogout }) {
	const { api } = useApp();
	const [list, setList] = useState(null);
	const [detail, setDetail] = useState(null); // {canvases, members}
	const [error, setError] = useState('');
	const current = list && (list.find((w) => w.id === workspaceId) || (!workspaceId && list[0]) || null);

	const loadList = useCallback(async () => {
		try {
			setList(await api.workspaces());
		} catch (e) {
			setError(plainError(e));
		}
	}, [api]);

	useEffect(() => {
		document.title = 'FlowState';
		loadList();
	}, [loadList]);

	const loadDetail = useCallback(async (ws) => {
		if (!ws) {
			setDetail(null);
			return;
		}
		try {
			const [canvases, members] = await Promise.all([api.canvases(ws.id), api.members(ws.id)]);
			setDetail({ id: ws.id, canvases, members });
		} catch (e) {
			setError(plainError(e));
		}
	}, [api]);

	useEffect(() => {
		loadDetail(current);
	}, [current && current.id, loadDetail]); // eslint-disable-line react-hooks/exhaustive-deps

	const run = (fn) => async (ev) => {
		ev.preventDefault();
		const f = ev.currentTarget;
		setError('');
		try {
			await fn(f);
			f.reset();
		} catch (e) {
			setError(plainError(e));
		}
	};

	const act = async (fn) => {
		setError('');
		try {
			await fn();
		} catch (e) {
			setError(plainError(e));
		}
	};
	const owner = current && current.role === 'owner';
	const editor = current && (current.role === 'editor' || owner);

	const createWorkspace = run(async (f) => {
		const ws = await api.createWorkspace(f.name.value.trim());
		await loadList();
		location.hash = `#/w/${ws.id}`;
	});
	const createCanvas = run(async (f) => {
		const c = await api.createCanvas(current.id, f.name.value.trim());
		location.hash = `#/c/${c.id}`;
	});
	const addMember = run(async (f) => {
		await api.addMember(current.id, f.email.value.trim(), f.role.value);
		await loadDetail(current);
	});

	return (
		<div className="home-page">
			<TopBar me={me} onLogout={onLogout} crumbs={[{ href: '#/', text: 'Workspaces' }, current && { text: current.name }]} />
			<main className="home">
				<aside className="card workspaces">
					<h2>Workspaces</h2>
					<ul className="list" id="workspace-list">
						{(list || []).map((w) => (
							<li key={w.id} className={current && w.id === current.id ? 'current' : ''} data-workspace-id={w.id}>
								<a href={`#/w/${w.id}`}>{w.name}</a>
								<span className="tag">{w.role}</span>
							</li>
						))}
					</ul>
					{list && !list.length && <p className="muted">No workspace yet. Create one to start.</p>}
					<form className="inline-form" id="workspace-form" onSubmit={createWorkspace}>
						<input name="name" placeholder="New workspace" required maxLength={100} aria-label="New workspace name" />
						<button type="submit">Create</button>
					</form>
				</aside>
				<section className="card detail" id="workspace-detail">
					{!current && <p className="muted">Create or pick a workspace.</p>}
					{current && (
						<>
							<h2 id="workspace-title">
								<Renamable name={current.name} canRename={owner} id="rename-workspace"
									onRename={(name) => act(async () => { await api.renameWorkspace(current.id, name); await loadList(); })} />
							</h2>
							<p className="muted small">Your role: <span id="workspace-role">{current.role}</span></p>
							<h3>Canvases</h3>
							<ul className="list canvases" id="canvas-list">
								{detail && detail.id === current.id && detail.canvases.map((c) => (
									<li key={c.id} data-canvas-id={c.id}>
										<Renamable name={c.name} href={`#/c/${c.id}`} canRename={editor} id={`rename-canvas-${c.id}`}
											onRename={(name) => act(async () => { await api.renameCanvas(c.id, name); await loadDetail(current); })} />
										<span className="row-actions">
											<span className="muted small">v{c.version}</span>
											{owner && <ConfirmButton label="Delete" question="Delete this canvas?" id={`delete-canvas-${c.id}`}
												onConfirm={() => act(async () => { await api.deleteCanvas(c.id); await loadDetail(current); })} />}
										</span>
									</li>
								))}
								{detail && detail.id === current.id && !detail.canvases.length && <li className="muted">No canvases yet.</li>}
							</ul>
							{editor && (
								<form className="inline-form" id="canvas-form" onSubmit={createCanvas}>
									<input name="name" placeholder="New canvas" required maxLength={100} aria-label="New canvas name" />
									<button type="submit" className="primary">Create canvas</button>
								</form>
							)}
							<h3>Members</h3>
							<ul className="list members" id="member-list">
								{detail && detail.id === current.id && detail.members.map((m) => (
									<li key={m.user_id} data-user-id={m.user_id}>
										<span>{m.display_name}{m.user_id === me.id ? ' (you)' : ''} <span className="muted small">{m.email}</span></span>
										<span className="row-actions">
											{owner
												? <select aria-label={`Role of ${m.display_name}`} value={m.role} className="role-select"
													onChange={(e) => act(async () => { await api.setMemberRole(current.id, m.user_id, e.target.value); await loadDetail(current); await loadList(); })}>
													{ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
												</select>
												: <span className="tag">{m.role}</span>}
											{(owner || m.user_id === me.id) && (
												<ConfirmButton label={m.user_id === me.id ? 'Leave' : 'Remove'} id={`remove-${m.user_id}`}
													question={m.user_id === me.id ? 'Leave this workspace?' : `Remove ${m.display_name}?`}
													onConfirm={() => act(async () => {
														await api.removeMember(current.id, m.user_id);
														if (m.user_id === me.id) {
															await loadList();
															location.hash = '#/';
														} else {
															await loadDetail(current);
														}
													})} />
											)}
										</span>
									</li>
								))}
							</ul>
							{current.role === 'owner' && (
								<form className="inline-form" id="member-form" onSubmit={addMember}>
									<input name="email" type="email" placeholder="colleague@example.com" required aria-label="Member email" />
									<select name="role" aria-label="Role" defaultValue="editor">
										{ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
									</select>
									<button type="submit">Add member</button>
								</form>
							)}
							{current.role === 'owner' && (
								<>
									<h3>Invite with a link</h3>
									<p className="muted small">For people without an account yet, or to let anyone with the link join.</p>
									<Invites workspaceId={current.id} />
								</>
							)}
						</>
					)}
					{owner && (
						<p className="danger-zone">
							<ConfirmButton label="Delete workspace" question="Delete this workspace and its canvases?" id="delete-workspace"
								onConfirm={() => act(async () => { await api.deleteWorkspace(current.id); await loadList(); location.hash = '#/'; })} />
						</p>
					)}
					<p className="form-error" id="home-error" role="alert">{error}</p>
				</section>
				<section className="card activity">
					<h2>Your activity</h2>
					<ActivityHeatmap />
				</section>
			</main>
		</div>
	);
}
