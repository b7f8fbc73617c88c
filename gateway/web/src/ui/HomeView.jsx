// Workspaces, their canvases and members, and the user's activity.
// Phase 2 (issue 11) slots in here: invites, member role change and removal, rename and delete
// of workspaces and canvases — each as a control on the rows below once the endpoints exist.

import { useCallback, useEffect, useState } from 'react';
import { plainError } from '../protocol/errors.js';
import { useApp } from './hooks.js';
import { ActivityHeatmap } from './ActivityHeatmap.jsx';
import { TopBar } from './TopBar.jsx';

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
							<h2 id="workspace-title">{current.name}</h2>
							<p className="muted small">Your role: <span id="workspace-role">{current.role}</span></p>
							<h3>Canvases</h3>
							<ul className="list canvases" id="canvas-list">
								{detail && detail.id === current.id && detail.canvases.map((c) => (
									<li key={c.id} data-canvas-id={c.id}>
										<a href={`#/c/${c.id}`}>{c.name}</a>
										<span className="muted small">v{c.version}</span>
									</li>
								))}
								{detail && detail.id === current.id && !detail.canvases.length && <li className="muted">No canvases yet.</li>}
							</ul>
							{current.role !== 'viewer' && (
								<form className="inline-form" id="canvas-form" onSubmit={createCanvas}>
									<input name="name" placeholder="New canvas" required maxLength={100} aria-label="New canvas name" />
									<button type="submit" className="primary">Create canvas</button>
								</form>
							)}
							<h3>Members</h3>
							<ul className="list members" id="member-list">
								{detail && detail.id === current.id && detail.members.map((m) => (
									<li key={m.user_id}>
										<span>{m.display_name} <span className="muted small">{m.email}</span></span>
										<span className="tag">{m.role}</span>
									</li>
								))}
							</ul>
							{current.role === 'owner' && (
								<form className="inline-form" id="member-form" onSubmit={addMember}>
									<input name="email" type="email" placeholder="colleague@example.com" required aria-label="Member email" />
									<select name="role" aria-label="Role" defaultValue="editor">
										<option value="editor">editor</option>
										<option value="viewer">viewer</option>
										<option value="owner">owner</option>
									</select>
									<button type="submit">Add member</button>
								</form>
							)}
						</>
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
