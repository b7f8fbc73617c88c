// Comments: threads in the side panel (next to History), pins on the canvas (scene.js), and a
// composer where a new comment is placed (the comment tool, M). Comments come from the session
// (the sync and its `comment` events, applied in order), so every change made here shows up
// through the same stream as everyone else's: the REST calls below do not touch the store.

import { useEffect, useRef, useState } from 'react';
import { plainError } from '../protocol/errors.js';
import { commentRights, pinPosition, roleAtLeast, threadsOf } from '../protocol/comments.js';
import { useApp, useBoard } from './hooks.js';

export const MAX_COMMENT_BYTES = 4000;

// A safe subset of Markdown as React elements (never HTML): **bold**, *italic*, `code`.
export function CommentBody({ text }) {
	const parts = [];
	const re = /(\*\*[^*\n]+\*\*|`[^`\n]+`|\*[^*\n]+\*)/g;
	let last = 0, m, i = 0;
	while ((m = re.exec(text))) {
		if (m.index > last)
			parts.push(text.slice(last, m.index));
		const t = m[0];
		if (t.startsWith('**'))
			parts.push(<strong key={i++}>{t.slice(2, -2)}</strong>);
		else if (t.startsWith('`'))
			parts.push(<code key={i++}>{t.slice(1, -1)}</code>);
		else
			parts.push(<em key={i++}>{t.slice(1, -1)}</em>);
		last = m.index + t.length;
	}
	if (last < text.length)
		parts.push(text.slice(last));
	return <div className="comment-body">{parts}</div>;
}

function when(iso) {
	const d = new Date(iso);
	if (Number.isNaN(d.getTime()))
		return '';
	const today = new Date().toDateString() === d.toDateString();
	return today ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : d.toLocaleDateString();
}

function tooLong(text) {
	return new TextEncoder().encode(text).length > MAX_COMMENT_BYTES;
}

// Enter sends, Shift+Enter is a new line, Esc cancels.
function CommentInput({ placeholder, onSubmit, onCancel, autoFocus, id, label, submitText = 'Send', initial = '' }) {
	const [text, setText] = useState(initial);
	const [busy, setBusy] = useState(false);
	const send = async () => {
		if (!text.trim() || busy)
			return;
		setBusy(true);
		try {
			if (await onSubmit(text.trim()) !== false)
				setText('');
		} finally {
			setBusy(false);
		}
	};
	return (
		<form className="comment-form" id={id} onSubmit={(e) => { e.preventDefault(); send(); }}>
			<textarea value={text} placeholder={placeholder} aria-label={label || placeholder} autoFocus={autoFocus} maxLength={MAX_COMMENT_BYTES}
				onChange={(e) => setText(e.target.value)}
				onKeyDown={(e) => {
					if (e.key === 'Enter' && !e.shiftKey) {
						e.preventDefault();
						send();
					} else if (e.key === 'Escape' && onCancel) {
						e.preventDefault();
						onCancel();
					}
				}} />
			<div className="composer-actions">
				{onCancel && <button type="button" className="quiet" onClick={onCancel}>Cancel</button>}
				<button type="submit" className="primary" disabled={!text.trim() || busy || tooLong(text)}>{submitText}</button>
			</div>
		</form>
	);
}

// Where a new comment is being placed (board.commentDraft), in screen space.
export function CommentComposer({ canvasId }) {
	const { api, board } = useApp();
	const draft = useBoard((s) => s.commentDraft);
	const viewport = useBoard((s) => s.viewport);
	const [error, setError] = useState('');
	useEffect(() => setError(''), [draft]);
	if (!draft)
		return null;
	const close = () => {
		const s = board.get();
		board.set({ commentDraft: null });
		if (!s.toolLocked)
			board.setTool('select');
	};
	const submit = async (body) => {
		const fields = draft.shape_id ? { body, shape_id: draft.shape_id } : { body, x: draft.x, y: draft.y };
		try {
			const c = await api.createComment(canvasId, fields);
			board.set({ thread: c.id });
			close();
			return true;
		} catch (e) {
			setError(plainError(e));
			return false;
		}
	};
	// Beside the click, kept on screen (the composer is at most 280 px wide).
	const left = Math.max(8, Math.min(draft.x * viewport.scale + viewport.x + 12, window.innerWidth - 296));
	const top = Math.max(8, draft.y * viewport.scale + viewport.y - 12);
	return (
		<div className="comment-composer" id="comment-composer" style={{ left, top }} role="dialog" aria-label="New comment"
			onPointerDown={(e) => e.stopPropagation()}>
			<span className="muted small">{draft.shape_id ? 'Comment on this shape' : 'Comment here'}</span>
			<CommentInput placeholder="Write a comment… (Enter to send)" label="New comment" autoFocus onSubmit={submit} onCancel={close} submitText="Comment" />
			{error && <p className="form-error">{error}</p>}
		</div>
	);
}

export function PanelTabs({ current }) {
	const { board } = useApp();
	const tabs = [['history', 'History'], ['comments', 'Comments']];
	return (
		<div className="panel-head">
			<div className="panel-tabs" role="tablist">
				{tabs.map(([id, text]) => (
					<button key={id} type="button" role="tab" id={`tab-${id}`} aria-selected={current === id} onClick={() => board.set({ panel: id })}>{text}</button>
				))}
			</div>
			<button type="button" className="quiet" aria-label={`Close ${current}`} onClick={() => board.set({ panel: null, thread: null })}>✕</button>
		</div>
	);
}

export function CommentsPanel({ tools }) {
	const { api, board } = useApp();
	const open = useBoard((s) => s.panel === 'comments');
	const comments = useBoard((s) => s.comments);
	const current = useBoard((s) => s.thread);
	const showResolved = useBoard((s) => s.showResolved);
	const role = useBoard((s) => s.role);
	const you = useBoard((s) => s.you);
	const [error, setError] = useState('');
	const [editing, setEditing] = useState(null); // id of our comment being edited
	const list = useRef(null);

	useEffect(() => {
		if (!open || !current || !list.current)
			return;
		const el = list.current.querySelector(`[data-thread-id="${CSS.escape(current)}"]`);
		if (el)
			el.scrollIntoView({ block: 'nearest' });
	}, [open, current, comments]);

	if (!open)
		return null;
	const threads = threadsOf(comments);
	const shown = threads.filter((t) => showResolved || !t.resolved || t.id === current);
	const resolvedCount = threads.filter((t) => t.resolved).length;
	const who = { role, userId: you && you.user_id };
	const run = async (fn) => {
		setError('');
		try {
			await fn();
			return true;
		} catch (e) {
			setError(plainError(e));
			return false;
		}
	};
	const showOnCanvas = (t) => {
		board.set({ thread: t.id });
		const at = pinPosition(t, (id) => board.displayed(id));
		if (at && tools) {
			const r = tools.el.getBoundingClientRect();
			const v = board.get().viewport;
			board.setViewport({ x: r.width / 2 - at.x * v.scale, y: r.height / 2 - at.y * v.scale, scale: v.scale });
		}
	};
	return (
		<aside className="side-panel" id="comments-panel" aria-label="Comments">
			<PanelTabs current="comments" />
			{roleAtLeast(role, 'commenter')
				? <p className="muted small">Press <kbd>M</kbd> (or the comment tool) and click the canvas or a shape to start a thread.</p>
				: <p className="muted small">You can read comments. Commenting needs the commenter role or higher.</p>}
			<label className="check"><input type="checkbox" id="show-resolved" checked={showResolved} onChange={(e) => board.set({ showResolved: e.target.checked })} />
				Show resolved ({resolvedCount})</label>
			<ul className="threads" id="thread-list" ref={list}>
				{shown.length === 0 && <li className="muted small">No open comments.</li>}
				{shown.map((t) => {
					const rights = commentRights(t, who);
					return (
						<li key={t.id} className={`thread${t.resolved ? ' resolved' : ''}${t.id === current ? ' current' : ''}`} data-thread-id={t.id}>
							{[t, ...t.replies].map((c) => {
								const r = commentRights(c, who);
								return (
									<div key={c.id} className={`comment${c.parent_id ? ' reply' : ''}`} data-comment-id={c.id}>
										<div className="comment-head">
											<strong>{c.author ? c.author.display_name : '?'}</strong>
											<span className="muted">{when(c.created_at)}</span>
											{r.edit && editing !== c.id && (
												<button type="button" className="link small edit" aria-label="Edit comment"
													onClick={() => setEditing(c.id)}>Edit</button>
											)}
											{c.parent_id && r.remove && (
												<button type="button" className="link small" aria-label="Delete reply"
													onClick={() => run(() => api.deleteComment(c.id))}>Delete</button>
											)}
										</div>
										{editing === c.id
											? <CommentInput initial={c.body} label="Edit comment" submitText="Save" autoFocus onCancel={() => setEditing(null)}
												onSubmit={async (body) => {
													const ok = await run(() => api.updateComment(c.id, { body }));
													if (ok)
														setEditing(null);
													return ok;
												}} />
											: <CommentBody text={c.body} />}
									</div>
								);
							})}
							{t.resolved && <span className="muted small">Resolved{t.resolved_at ? ` ${when(t.resolved_at)}` : ''}</span>}
							<div className="thread-actions">
								<button type="button" className="small-btn" onClick={() => showOnCanvas(t)}>Show</button>
								{rights.resolve && (
									<button type="button" className="small-btn resolve" onClick={() => run(() => api.updateComment(t.id, { resolved: !t.resolved }))}>
										{t.resolved ? 'Reopen' : 'Resolve'}
									</button>
								)}
								{rights.remove && (
									<button type="button" className="small-btn quiet" onClick={() => run(() => api.deleteComment(t.id))}>Delete</button>
								)}
							</div>
							{rights.reply && !t.resolved && (
								<CommentInput placeholder="Reply…" label="Reply" submitText="Reply"
									onSubmit={(body) => run(() => api.createComment(board.get().canvasId, { body, parent_id: t.id }))} />
							)}
						</li>
					);
				})}
			</ul>
			{error && <p className="form-error" role="alert">{error}</p>}
		</aside>
	);
}
