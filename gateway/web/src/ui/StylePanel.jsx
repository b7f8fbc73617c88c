// Stroke, fill, width, opacity and stacking of the selection (or of what the current tool will
// draw). A change applies to every selected shape as one batch of update_shape ops.

import { useState } from 'react';
import { useApp, useBoard } from './hooks.js';

const STROKES = ['#1e1e1e', '#e03131', '#2f9e44', '#1971c2', '#f08c00', '#9c36b5'];
const FILLS = ['none', '#ffc9c9', '#b2f2bb', '#a5d8ff', '#ffec99', '#eebefa'];
const WIDTHS = [[1, 'Thin'], [2, 'Medium'], [4, 'Bold'], [8, 'Extra bold']];

function Swatch({ color, active, onPick, label, name }) {
	return (
		<button type="button" className={`swatch${active ? ' active' : ''}${color === 'none' ? ' none' : ''}`} data-color={color} data-style={name}
			style={color === 'none' ? undefined : { '--sw': color }} aria-label={label} aria-pressed={active} title={label} onClick={() => onPick(color)} />
	);
}

export function StylePanel() {
	const { board } = useApp();
	const selection = useBoard((s) => s.selection);
	const tool = useBoard((s) => s.tool);
	const current = useBoard((s) => s.style);
	const canEdit = useBoard((s) => (s.role === 'editor' || s.role === 'owner') && !s.preview);
	// Re-render when the first selected shape's style changes, not on every drag frame.
	useBoard((s) => {
		const id = s.selection.values().next().value;
		if (!id)
			return '';
		const o = s.overrides.get(id);
		const sh = o ? o.shape : s.shapes.get(id);
		return sh ? `${s.selection.size}:${sh.style.stroke}:${sh.style.fill}:${sh.style.width}:${sh.style.opacity}` : '';
	});
	const [open, setOpen] = useState(false);
	const selected = board.selectedShapes();
	const drawing = tool !== 'select' && tool !== 'hand' && tool !== 'comment';
	if (!canEdit || (!selected.length && !drawing))
		return null;
	const style = selected.length ? selected[0].style : current;
	const apply = (patch) => board.restyle(patch);
	return (
		<div className={`style-panel${open ? ' open' : ''}`} id="style-panel" aria-label="Style">
			<button type="button" className="style-toggle" aria-expanded={open} onClick={() => setOpen(!open)} title="Style">
				<span className="dot" style={{ background: style.stroke }} /> Style
			</button>
			<div className="style-body">
				<div className="row"><span className="label">Stroke</span>
					{STROKES.map((c) => <Swatch key={c} name="stroke" color={c} active={style.stroke === c} label={`Stroke ${c}`} onPick={(v) => apply({ stroke: v })} />)}
					<input type="color" aria-label="Custom stroke colour" value={/^#[0-9a-f]{6}$/i.test(style.stroke) ? style.stroke : '#1e1e1e'} onChange={(e) => apply({ stroke: e.target.value })} />
				</div>
				<div className="row"><span className="label">Fill</span>
					{FILLS.map((c) => <Swatch key={c} name="fill" color={c} active={style.fill === c} label={c === 'none' ? 'No fill' : `Fill ${c}`} onPick={(v) => apply({ fill: v })} />)}
					<input type="color" aria-label="Custom fill colour" value={/^#[0-9a-f]{6}$/i.test(style.fill) ? style.fill : '#ffffff'} onChange={(e) => apply({ fill: e.target.value })} />
				</div>
				<div className="row"><span className="label">Width</span>
					{WIDTHS.map(([w, label]) => (
						<button key={w} type="button" className={`width-btn${style.width === w ? ' active' : ''}`} data-width={w} aria-pressed={style.width === w} title={label} aria-label={`Stroke width ${label}`} onClick={() => apply({ width: w })}>
							<span style={{ height: Math.min(8, w) }} />
						</button>
					))}
				</div>
				<div className="row"><span className="label">Opacity</span>
					<input type="range" id="opacity" min="10" max="100" step="5" value={Math.round(style.opacity * 100)} aria-label="Opacity"
						onChange={(e) => apply({ opacity: Number(e.target.value) / 100 })} />
					<span className="small muted">{Math.round(style.opacity * 100)}%</span>
				</div>
				{selected.length > 0 && (
					<div className="row layers"><span className="label">Layer</span>
						<button type="button" id="z-back" title="Send to back (Ctrl+Shift+[)" onClick={() => board.reorder('back')}>⤓</button>
						<button type="button" id="z-backward" title="Send backward (Ctrl+[)" onClick={() => board.reorder('backward')}>↓</button>
						<button type="button" id="z-forward" title="Bring forward (Ctrl+])" onClick={() => board.reorder('forward')}>↑</button>
						<button type="button" id="z-front" title="Bring to front (Ctrl+Shift+])" onClick={() => board.reorder('front')}>⤒</button>
						<span className="tb-sep" />
						<button type="button" id="duplicate" title="Duplicate (Ctrl+D)" aria-label="Duplicate" onClick={() => board.duplicate()}>
							<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" strokeWidth="1.8" aria-hidden="true"><rect x="8" y="8" width="12" height="12" rx="2" /><path d="M16 8V6a2 2 0 00-2-2H6a2 2 0 00-2 2v8a2 2 0 002 2h2" /></svg>
						</button>
						<button type="button" id="delete" title="Delete (Del)" aria-label="Delete" onClick={() => board.deleteSelection()}>
							<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" strokeWidth="1.8" aria-hidden="true"><path d="M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3" /></svg>
						</button>
					</div>
				)}
			</div>
		</div>
	);
}
