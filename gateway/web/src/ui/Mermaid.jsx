// Mermaid import: a flowchart pasted on the board (Ctrl+V of text that starts with `graph` or
// `flowchart`) or written in the import dialog becomes shapes, laid out by the server (POST
// import/mermaid: one commit, delivered to everyone like any op). Once the session has applied
// it, the new shapes are selected and brought into view.

import { useState } from 'react';
import { plainError } from '../protocol/errors.js';
import { useApp, useBoard } from './hooks.js';

// Returns true when imported; reports failures as a notice (and to `onError` when given).
export async function importMermaid({ api, board, session, tools, canvasId, text, onError }) {
	try {
		const res = await api.importMermaid(canvasId, text);
		const ids = (res.operations || []).map((op) => op.payload && op.payload.shape_id).filter(Boolean);
		const n = res.operations_applied ?? ids.length;
		board.notify(`Imported ${res.nodes} box${res.nodes === 1 ? '' : 'es'} and ${res.edges} link${res.edges === 1 ? '' : 's'} (${n} shapes) from Mermaid.`, 'ok');
		const show = () => {
			board.select(ids.filter((id) => board.displayed(id)));
			// After the style panel (shown for a selection) is laid out: fit clear of it.
			requestAnimationFrame(() => tools.fit(board.selectionBounds()));
		};
		if (session.version !== null && session.version >= res.version) {
			show();
		} else {
			const off = session.on('ops', () => {
				if (session.version >= res.version) {
					off();
					show();
				}
			});
		}
		return true;
	} catch (e) {
		const msg = plainError(e);
		board.notify(msg, 'error');
		if (onError)
			onError(msg);
		return false;
	}
}

const EXAMPLE = 'flowchart LR\n  idea[Idea] --> draft[Draft]\n  draft -->|review| ship((Ship))';

export function MermaidDialog({ canvasId, tools, session }) {
	const { api, board } = useApp();
	const open = useBoard((s) => s.panel === 'mermaid');
	const [error, setError] = useState('');
	const [busy, setBusy] = useState(false);
	if (!open)
		return null;
	const close = () => {
		setError('');
		board.set({ panel: null });
	};
	const submit = async (ev) => {
		ev.preventDefault();
		const text = ev.currentTarget.diagram.value;
		setBusy(true);
		setError('');
		const ok = await importMermaid({ api, board, session, tools, canvasId, text, onError: setError });
		setBusy(false);
		if (ok)
			close();
	};
	return (
		<div className="dialog-backdrop" onPointerDown={(e) => e.target === e.currentTarget && close()}>
			<form className="dialog" role="dialog" aria-label="Import Mermaid" id="mermaid-dialog" onSubmit={submit}
				onKeyDown={(e) => e.key === 'Escape' && close()}>
				<div className="dialog-head"><h2>Import a Mermaid flowchart</h2><button type="button" className="quiet" aria-label="Close" onClick={close}>✕</button></div>
				<p className="muted small">Boxes and links become shapes and connectors, laid out to the right of the drawing. Tip: paste a diagram straight onto the canvas with <kbd>Ctrl+V</kbd>.</p>
				<textarea name="diagram" className="mermaid" required autoFocus spellCheck={false} defaultValue={EXAMPLE} aria-label="Mermaid diagram" />
				{error && <p className="form-error" role="alert">{error}</p>}
				<div className="actions">
					<button type="button" className="quiet" onClick={close}>Cancel</button>
					<button type="submit" className="primary" disabled={busy}>Import</button>
				</div>
			</form>
		</div>
	);
}
