// A canvas: the Konva scene and input (canvas/), wired to the session (store/connect.js), with
// the chrome around it. React renders only the chrome; shapes, cursors and strokes are drawn
// by the scene straight from the store, so no React render happens per shape or per cursor.
// The side panel has History and Comments; the menu exports (SVG, PNG, Mermaid), imports
// Mermaid (also by pasting it) and, for owners, shares the workspace with an invite link.

import { useEffect, useRef, useState } from 'react';
import { plainError } from '../protocol/errors.js';
import { Scene } from '../canvas/scene.js';
import { Tools } from '../canvas/tools.js';
import { connectBoard } from '../store/connect.js';
import { useApp, useBoard, useCloseOnOutsidePointer, useViewportWidth } from './hooks.js';
import { TopBar } from './TopBar.jsx';
import { Toolbar } from './Toolbar.jsx';
import { StylePanel } from './StylePanel.jsx';
import { HistoryPanel } from './HistoryPanel.jsx';
import { HelpDialog } from './HelpDialog.jsx';
import { TextEditor } from './TextEditor.jsx';
import { ActivityHeatmap } from './ActivityHeatmap.jsx';
import { CommentComposer, CommentsPanel } from './CommentsPanel.jsx';
import { Invites } from './Invites.jsx';
import { MermaidDialog, importMermaid } from './Mermaid.jsx';

export function BoardView({ canvasId, me, onLogout }) {
	const { api, board } = useApp();
	const surface = useRef(null);
	const [ctl, setCtl] = useState(null); // {scene, tools, conn}
	const [meta, setMeta] = useState(null);
	const [workspace, setWorkspace] = useState(null);
	const [loadError, setLoadError] = useState('');

	useEffect(() => {
		board.reset();
		let live = true;
		const conn = connectBoard(api, board, canvasId);
		// The canvas's name and workspace: the session's first check already asks for it.
		(conn.session.checked || api.canvas(canvasId)).then((c) => {
			if (!live)
				return;
			setMeta(c);
			board.set({ canvas: c, role: c.role });
			document.title = `${c.name} · FlowState`;
			api.workspace(c.workspace_id).then((w) => live && setWorkspace(w)).catch(() => {});
		}).catch((e) => live && setLoadError(plainError(e)));
		const scene = new Scene(surface.current, board);
		const tools = new Tools(surface.current, scene, board, {
			session: () => conn.session,
			onEditText: (req) => board.set({ editing: req }),
			onMermaid: (text) => importMermaid({ api, board, session: conn.session, tools, canvasId, text }),
		});
		setCtl({ scene, tools, conn });
		// For the end-to-end test and the benchmark: read-only views of the board.
		window.flowstate = Object.freeze({
			snapshot() {
				const s = conn.session;
				return {
					canvas_id: canvasId, version: s.version, state: s.state, role: s.role,
					shapes: Object.fromEntries([...s.shapes].map(([k, v]) => [k, structuredClone(v)])),
					presence: [...s.presence.values()].map((p) => ({ ...p })),
					outbox: s.outbox.size,
				};
			},
			displayed: (id) => structuredClone(board.displayed(id) || null),
			selection: () => [...board.get().selection],
			viewport: () => ({ ...board.get().viewport }),
			toScreen: (x, y) => {
				const r = surface.current.getBoundingClientRect();
				const [sx, sy] = scene.toScreen(x, y);
				return { x: r.left + sx, y: r.top + sy };
			},
			handles: () => {
				const f = scene.selectionFrame();
				if (!f)
					return null;
				const r = surface.current.getBoundingClientRect();
				return Object.fromEntries(Object.entries(scene.handles(f)).map(([k, [x, y]]) => [k, { x: r.left + x, y: r.top + y }]));
			},
			stats: () => ({ ...scene.stats, lastMainDrawMs: scene.lastMainDrawMs, nodes: scene.nodes.size }),
			comments: () => [...board.get().comments.values()].map((c) => structuredClone(c)),
			// Others' selections as drawn: {session_id: {ids, color, name}}.
			selections: () => Object.fromEntries([...board.get().selections].map(([k, v]) => [k, { ids: [...v.ids], color: v.color, name: v.name }])),
			// Where a thread's pin is on the page (its bottom left corner), or null.
			pin: (threadId) => {
				const el = scene.pinEls.get(threadId);
				if (!el)
					return null;
				const r = el.getBoundingClientRect();
				return { x: r.left + r.width / 2, y: r.top + r.height / 2, text: el.textContent, resolved: el.classList.contains('resolved') };
			},
			built: () => [...scene.nodes.values()].filter((r) => r.group).length,
			// How a shape's text is laid out as drawn: lines and the widest line (canvas units).
			label: (id) => {
				const rec = scene.nodes.get(id);
				const t = rec && rec.group && rec.group.fsLabel;
				if (!t)
					return null;
				// A connector's text sits on a patch (`bg`) drawn between its line and the text.
				const bg = rec.group.fsLabelBg;
				const body = rec.group.findOne('.body');
				return {
					text: t.text(), lines: t.textArr.map((l) => l.text), widest: Math.max(0, ...t.textArr.map((l) => l.width)), width: t.width(), visible: t.visible(),
					box: { x: t.x(), y: t.y(), width: t.width(), height: t.height(), z: t.zIndex() },
					bg: bg ? { x: bg.x(), y: bg.y(), width: bg.width(), height: bg.height(), z: bg.zIndex(), fill: bg.fill(), visible: bg.visible() } : null,
					bodyZ: body ? body.zIndex() : null,
				};
			},
			// The colour the layer of shapes at rest has at a point of the page: [r, g, b, a].
			mainPixel: (x, y) => {
				const c = scene.main.getNativeCanvasElement();
				const r = c.getBoundingClientRect();
				const px = Math.floor((x - r.left) * (c.width / r.width)), py = Math.floor((y - r.top) * (c.height / r.height));
				return [...c.getContext('2d').getImageData(px, py, 1, 1).data];
			},
			strokes: () => board.get().strokes.size,
			layerOf: (id) => {
				const rec = scene.nodes.get(id);
				return rec && rec.group ? (rec.layer === scene.main ? 'main' : 'active') : null;
			},
			state: () => {
				const s = board.get();
				return { tool: s.tool, editing: s.editing, theme: s.theme, panel: s.panel, help: s.help, preview: s.preview && s.preview.version, conn: s.conn.state, outbox: s.outbox, notice: s.notice && s.notice.text, role: s.role, thread: s.thread };
			},
		});
		return () => {
			live = false;
			tools.destroy();
			scene.destroy();
			conn.close();
			board.reset();
			delete window.flowstate;
		};
	}, [api, board, canvasId]);

	const name = meta ? meta.name : '';
	return (
		<div className="board-page">
			<TopBar me={me} onLogout={onLogout} crumbs={[
				{ href: '#/', text: 'Workspaces' },
				workspace && { href: `#/w/${workspace.id}`, text: workspace.name },
				{ text: name || '…' },
			]}>
				<Presence />
				<ShareButton />
				<ConnBadge />
			</TopBar>
			<div className="board-area">
				<div className="surface" ref={surface} tabIndex={0} aria-label="Canvas" id="board" />
				{ctl && (
					<>
						<Toolbar tools={ctl.tools} />
						<StylePanel />
						<BottomBar tools={ctl.tools} session={ctl.conn.session} />
						<BoardMenu canvasId={canvasId} name={name} tools={ctl.tools} />
						<TextEditor scene={ctl.scene} />
						<EmptyHint />
						<PreviewBanner canvasId={canvasId} />
						<HistoryPanel canvasId={canvasId} />
						<CommentsPanel tools={ctl.tools} />
						<CommentComposer canvasId={canvasId} />
						<ShareDialog workspace={workspace} />
						<MermaidDialog canvasId={canvasId} tools={ctl.tools} session={ctl.conn.session} />
						<ActivityDialog />
						<HelpDialog />
					</>
				)}
				<Notice extra={loadError} />
			</div>
		</div>
	);
}

// How many people the top bar shows by name or initial before a "+N" chip counts the rest: on
// a phone the chips are initials and the bar also holds the brand, the canvas name, the
// connection badge and Log out, so two fit at 390 px and one at 320 px without overlapping.
function chipsFor(width) {
	return width > 700 ? 4 : width >= 360 ? 2 : 1;
}

function Presence() {
	const presence = useBoard((s) => s.presence);
	const you = useBoard((s) => s.you);
	const width = useViewportWidth();
	const mine = you && you.session_id;
	const list = [...presence].sort((a, b) => (a.session_id === mine ? -1 : b.session_id === mine ? 1 : a.display_name.localeCompare(b.display_name)));
	const shown = list.slice(0, chipsFor(width));
	return (
		<ul className="presence" id="presence" aria-label="Who is here">
			{shown.map((p) => (
				<li key={p.session_id} style={{ '--chip': p.color }} data-session-id={p.session_id} className={p.session_id === mine ? 'me' : ''}
					title={p.session_id === mine ? `${p.display_name} (you)` : p.display_name}>
					<span className="initial" aria-hidden="true">{(p.display_name || '?').slice(0, 1).toUpperCase()}</span>
					<span className="name">{p.display_name}{p.session_id === mine ? ' (you)' : ''}</span>
				</li>
			))}
			{list.length > shown.length && (
				<li className="more" title={list.slice(shown.length).map((p) => p.display_name).join(', ')}
					aria-label={`and ${list.length - shown.length} more`}>+{list.length - shown.length}</li>
			)}
		</ul>
	);
}

const CONN_TEXT = {
	idle: 'Starting…', connecting: 'Connecting…', live: 'Live', reconnecting: 'Reconnecting…',
	offline: 'Offline', failed: 'Not connected', closed: 'Closed',
};

function ConnBadge() {
	const conn = useBoard((s) => s.conn);
	const outbox = useBoard((s) => s.outbox);
	let text = CONN_TEXT[conn.state] || conn.state;
	if ((conn.state === 'offline' || conn.state === 'reconnecting') && outbox)
		text += ` · ${outbox} change${outbox === 1 ? '' : 's'} waiting`;
	const title = conn.state === 'offline'
		? 'Your device is offline. Keep working: changes are saved here and sent when you are back online.'
		: conn.state === 'reconnecting' ? 'The connection dropped. Changes are kept and sent when it is back.' : text;
	return <span className="conn" id="conn" data-state={conn.state} title={title} role="status">{text}</span>;
}

function BottomBar({ tools, session }) {
	const scale = useBoard((s) => s.viewport.scale);
	const canUndo = useBoard((s) => (s.role === 'editor' || s.role === 'owner') && !s.preview);
	return (
		<div className="bottombar">
			<div className="group zoom" role="group" aria-label="Zoom">
				<button type="button" id="zoom-out" title="Zoom out (Ctrl+-)" aria-label="Zoom out" onClick={() => tools.zoomBy(0.8)}>−</button>
				<button type="button" id="zoom-reset" title="Reset to 100% (Ctrl+0)" onClick={() => { const r = tools.el.getBoundingClientRect(); tools.board.zoomAt(1 / scale, r.width / 2, r.height / 2); }}>{Math.round(scale * 100)}%</button>
				<button type="button" id="zoom-in" title="Zoom in (Ctrl+=)" aria-label="Zoom in" onClick={() => tools.zoomBy(1.25)}>+</button>
				<button type="button" id="zoom-fit" title="Zoom to fit everything (Shift+1)" onClick={() => tools.fit()}>Fit</button>
			</div>
			<div className="group" role="group" aria-label="Undo and redo">
				<button type="button" id="undo" title="Undo (Ctrl+Z)" aria-label="Undo" disabled={!canUndo} onClick={() => session.undo()}>↶</button>
				<button type="button" id="redo" title="Redo (Ctrl+Shift+Z)" aria-label="Redo" disabled={!canUndo} onClick={() => session.redo()}>↷</button>
			</div>
		</div>
	);
}

function BoardMenu({ canvasId, name, tools }) {
	const { api, board } = useApp();
	const [open, setOpen] = useState(false);
	const theme = useBoard((s) => s.theme);
	const ref = useRef(null);
	useCloseOnOutsidePointer(ref, open, setOpen);
	const act = (fn) => () => {
		setOpen(false);
		fn();
	};
	const role = useBoard((s) => s.role);
	// Exports the previewed version while the history previews one, else the current one.
	const download = (what, ext, fetchBody) => async () => {
		try {
			const preview = board.get().preview;
			const body = await fetchBody(preview ? preview.version : undefined);
			const url = URL.createObjectURL(body);
			const a = document.createElement('a');
			a.href = url;
			a.download = `${(name || 'canvas').replace(/[\\/:*?"<>|]+/g, '_')}.${ext}`;
			document.body.append(a);
			a.click();
			a.remove();
			setTimeout(() => URL.revokeObjectURL(url), 10000);
			board.notify(`${what} downloaded.`, 'ok');
		} catch (e) {
			board.notify(plainError(e), 'error');
		}
	};
	const exportSvg = download('SVG', 'svg', async (at) => new Blob([await api.exportSvg(canvasId, at)], { type: 'image/svg+xml' }));
	// Twice the canvas units (sharp on high-density screens); a drawing too large for that is
	// exported smaller rather than refused.
	const exportPng = download('PNG', 'png', async (at) => {
		for (const scale of [2, 1, 0.5]) {
			try {
				return await api.exportPng(canvasId, { at, scale });
			} catch (e) {
				if (e.code !== 'too_large' || scale === 0.5)
					throw e;
			}
		}
		return null;
	});
	const exportMmd = download('Mermaid diagram', 'mmd', async (at) => new Blob([await api.exportMermaid(canvasId, at)], { type: 'text/plain' }));
	return (
		<div className="menu-wrap" ref={ref}>
			<button type="button" className="menu-btn" id="menu" aria-haspopup="menu" aria-expanded={open} aria-label="Menu" onClick={() => setOpen(!open)}>☰</button>
			{open && (
				<div className="menu" role="menu">
					<button type="button" role="menuitem" id="menu-history" onClick={act(() => board.set({ panel: 'history' }))}>History and versions</button>
					<button type="button" role="menuitem" id="menu-comments" onClick={act(() => board.set({ panel: 'comments' }))}>Comments <kbd>M</kbd></button>
					<button type="button" role="menuitem" id="menu-export-svg" onClick={act(exportSvg)}>Export as SVG</button>
					<button type="button" role="menuitem" id="menu-export-png" onClick={act(exportPng)}>Export as PNG</button>
					<button type="button" role="menuitem" id="menu-export-mmd" onClick={act(exportMmd)}>Export as Mermaid</button>
					{(role === 'editor' || role === 'owner') && (
						<button type="button" role="menuitem" id="menu-import-mmd" onClick={act(() => board.set({ panel: 'mermaid' }))}>Import Mermaid… <kbd>paste</kbd></button>
					)}
					{role === 'owner' && (
						<button type="button" role="menuitem" id="menu-share" onClick={act(() => board.set({ panel: 'share' }))}>Invite people</button>
					)}
					<button type="button" role="menuitem" id="menu-fit" onClick={act(() => tools.fit())}>Zoom to fit <kbd>Shift+1</kbd></button>
					<button type="button" role="menuitem" id="menu-activity" onClick={act(() => board.set({ panel: 'activity' }))}>Your activity</button>
					<button type="button" role="menuitem" id="menu-theme" onClick={act(() => board.setTheme(theme === 'dark' ? 'light' : 'dark'))}>{theme === 'dark' ? 'Light mode' : 'Dark mode'} <kbd>Alt+Shift+D</kbd></button>
					<button type="button" role="menuitem" id="menu-help" onClick={act(() => board.set({ help: true }))}>Keyboard shortcuts <kbd>?</kbd></button>
				</div>
			)}
		</div>
	);
}

// Owners invite from the top bar (on a phone, from the menu).
function ShareButton() {
	const owner = useBoard((s) => s.role === 'owner');
	const { board } = useApp();
	if (!owner)
		return null;
	return <button type="button" className="share-btn" id="share" title="Invite people with a link" onClick={() => board.set({ panel: 'share' })}>Share</button>;
}

function ShareDialog({ workspace }) {
	const open = useBoard((s) => s.panel === 'share');
	const { board } = useApp();
	if (!open || !workspace)
		return null;
	const close = () => board.set({ panel: null });
	return (
		<div className="dialog-backdrop" onPointerDown={(e) => e.target === e.currentTarget && close()}
			onKeyDown={(e) => e.key === 'Escape' && close()}>
			<div className="dialog" role="dialog" aria-label="Invite people" id="share-dialog">
				<div className="dialog-head"><h2>Invite people to {workspace.name}</h2><button type="button" className="quiet" aria-label="Close" onClick={close}>✕</button></div>
				<p className="muted small">Anyone who opens the link and logs in (or creates an account) joins the workspace with the role you pick, and sees its canvases.</p>
				<Invites workspaceId={workspace.id} />
			</div>
		</div>
	);
}

function EmptyHint() {
	const empty = useBoard((s) => s.version !== null && s.shapes.size === 0 && s.overrides.size === 0 && !s.preview && !s.editing);
	const canEdit = useBoard((s) => s.role === 'editor' || s.role === 'owner');
	if (!empty)
		return null;
	return (
		<div className="empty-hint" id="empty-hint">
			<strong>This canvas is empty</strong>
			{canEdit
				? <span>Pick a tool in the toolbar — <kbd>R</kbd> rectangle, <kbd>S</kbd> sticky note, <kbd>P</kbd> pen, <kbd>C</kbd> connector — or double-click anywhere to write. Press <kbd>?</kbd> for every shortcut.</span>
				: <span>Nothing here yet. You can watch others draw: your role is viewer.</span>}
		</div>
	);
}

function PreviewBanner() {
	const preview = useBoard((s) => s.preview);
	const { board } = useApp();
	if (!preview)
		return null;
	return (
		<div className="preview-banner" id="preview-banner" role="status">
			Viewing version {preview.version} — read-only.
			<button type="button" className="quiet" onClick={() => board.set({ preview: null })}>Back to now</button>
		</div>
	);
}

function ActivityDialog() {
	const open = useBoard((s) => s.panel === 'activity');
	const { board } = useApp();
	if (!open)
		return null;
	return (
		<div className="dialog-backdrop" onPointerDown={(e) => e.target === e.currentTarget && board.set({ panel: null })}>
			<div className="dialog" role="dialog" aria-label="Your activity" id="activity-dialog">
				<div className="dialog-head"><h2>Your activity</h2><button type="button" className="quiet" aria-label="Close" onClick={() => board.set({ panel: null })}>✕</button></div>
				<ActivityHeatmap />
			</div>
		</div>
	);
}

function Notice({ extra }) {
	const notice = useBoard((s) => s.notice);
	const { board } = useApp();
	const [visible, setVisible] = useState(false);
	useEffect(() => {
		if (!notice)
			return undefined;
		setVisible(true);
		const t = setTimeout(() => setVisible(false), notice.kind === 'error' ? 7000 : 3500);
		return () => clearTimeout(t);
	}, [notice]);
	const text = extra || (visible && notice ? notice.text : '');
	if (!text)
		return null;
	return (
		<div className={`notice ${extra ? 'error' : notice.kind}`} id="notice" role="status" onClick={() => board.notify(null)}>{text}</div>
	);
}
