// History: a slider over every version of the canvas, previewing any of them read-only (GET
// state?at=) with what changed since highlighted (GET diff?from=v&to=now), named checkpoints,
// and restore (POST restore: new forward ops, history is never rewritten).
// The side panel's other tab is Comments (CommentsPanel.jsx).

import { useCallback, useEffect, useRef, useState } from 'react';
import { plainError } from '../protocol/errors.js';
import { stateFromShapes } from '../protocol/model.js';
import { useApp, useBoard } from './hooks.js';
import { PanelTabs } from './CommentsPanel.jsx';

const PREVIEW_DEBOUNCE_MS = 120;

export function HistoryPanel({ canvasId }) {
	const { api, board } = useApp();
	const open = useBoard((s) => s.panel === 'history');
	const head = useBoard((s) => s.version);
	const preview = useBoard((s) => s.preview);
	const canEdit = useBoard((s) => s.role === 'editor' || s.role === 'owner');
	const [checkpoints, setCheckpoints] = useState([]);
	const [slider, setSlider] = useState(null);
	const [error, setError] = useState('');
	const [busy, setBusy] = useState(false);
	const timer = useRef(null);
	const seq = useRef(0);

	const load = useCallback(async () => {
		try {
			setCheckpoints(await api.versions(canvasId));
		} catch (e) {
			setError(plainError(e));
		}
	}, [api, canvasId]);

	useEffect(() => {
		if (open) {
			setError('');
			load();
		} else {
			board.set({ preview: null });
			setSlider(null);
		}
	}, [open, load, board]);

	useEffect(() => () => clearTimeout(timer.current), []);

	const showVersion = useCallback((v) => {
		clearTimeout(timer.current);
		const n = ++seq.current;
		if (v === null || v >= board.get().version) {
			board.set({ preview: null });
			return;
		}
		timer.current = setTimeout(async () => {
			try {
				const now = board.get().version;
				const [state, diff] = await Promise.all([api.state(canvasId, v), api.diff(canvasId, v, now)]);
				if (n !== seq.current)
					return;
				board.set({ preview: { version: v, shapes: stateFromShapes(state.shapes), diff }, selection: new Set(), editing: null });
			} catch (e) {
				if (n === seq.current)
					setError(plainError(e));
			}
		}, PREVIEW_DEBOUNCE_MS);
	}, [api, board, canvasId]);

	if (!open)
		return null;
	const value = slider === null ? head || 0 : slider;
	const pick = (v) => {
		setSlider(v);
		showVersion(v);
	};
	const saveCheckpoint = async (ev) => {
		ev.preventDefault();
		const f = ev.currentTarget;
		setError('');
		try {
			await api.createVersion(canvasId, f.name.value.trim(), preview ? preview.version : undefined);
			f.reset();
			load();
			board.notify('Checkpoint saved.', 'ok');
		} catch (e) {
			setError(plainError(e));
		}
	};
	const restore = async (v) => {
		setBusy(true);
		setError('');
		try {
			const res = await api.restore(canvasId, v);
			board.set({ preview: null });
			setSlider(null);
			board.notify(res.operations && res.operations.length
				? `Restored version ${v}. The newer versions stay in the history.`
				: `Version ${v} already matches the canvas.`, 'ok');
		} catch (e) {
			setError(plainError(e));
		} finally {
			setBusy(false);
		}
	};
	const d = preview && preview.diff;
	const count = (o) => (o ? Object.keys(o).length : 0);
	return (
		<aside className="side-panel" id="history-panel" aria-label="History">
			<PanelTabs current="history" />
			<label className="slider-label" htmlFor="history-slider">
				{preview ? <>Previewing <strong>version {preview.version}</strong> of {head}</> : <>Now: <strong>version {head ?? '…'}</strong></>}
			</label>
			<input type="range" id="history-slider" min="0" max={head || 0} step="1" value={value}
				onChange={(e) => pick(Number(e.target.value))} aria-label="Version" />
			<div className="history-nav">
				<button type="button" onClick={() => pick(Math.max(0, value - 1))} disabled={value <= 0}>‹ Older</button>
				<button type="button" onClick={() => pick(Math.min(head || 0, value + 1))} disabled={value >= (head || 0)}>Newer ›</button>
				<button type="button" onClick={() => pick(null)} disabled={!preview}>Now</button>
			</div>
			{d && (
				<div className="diff-summary" id="diff-summary">
					<span className="diff-restored">{count(d.removed)} deleted since</span>
					<span className="diff-modified">{count(d.modified)} changed since</span>
					<span className="diff-added">{count(d.added)} added since</span>
				</div>
			)}
			{preview && canEdit && (
				<button type="button" className="primary wide" id="restore" disabled={busy} onClick={() => restore(preview.version)}>
					Restore version {preview.version}
				</button>
			)}
			{canEdit && (
				<form className="inline-form" id="checkpoint-form" onSubmit={saveCheckpoint}>
					<input name="name" required maxLength={100} placeholder={preview ? `Name version ${preview.version}` : 'Name this version'} aria-label="Checkpoint name" />
					<button type="submit">Save</button>
				</form>
			)}
			<h3>Checkpoints</h3>
			<ul className="list checkpoints" id="checkpoint-list">
				{checkpoints.length === 0 && <li className="muted small">No checkpoints yet. Name a version to find it again later.</li>}
				{[...checkpoints].reverse().map((c) => (
					<li key={c.id} className={preview && preview.version === c.version ? 'current' : ''}>
						<button type="button" className="link" onClick={() => pick(c.version)}>{c.name}</button>
						<span className="muted small">v{c.version}</span>
					</li>
				))}
			</ul>
			{error && <p className="form-error">{error}</p>}
		</aside>
	);
}
