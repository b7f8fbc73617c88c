import { useEffect, useRef, useState } from 'react';
import { useApp, useBoard, useCloseOnOutsidePointer, useViewportWidth } from './hooks.js';

// Icons are inline SVG paths (24×24): no icon font, no network.
const ICONS = {
	select: 'M5 3l14 8-6 1.5L10 19z',
	hand: 'M8 12V5.5a1.5 1.5 0 013 0V11m0-6.5a1.5 1.5 0 013 0V11m0-4.5a1.5 1.5 0 013 0V13c0 4-2.5 7-6.5 7S5 17 4.5 14L3.5 11a1.5 1.5 0 012.8-1L8 13',
	rect: 'M4 6h16v12H4z',
	ellipse: 'M12 5c4.4 0 8 3.1 8 7s-3.6 7-8 7-8-3.1-8-7 3.6-7 8-7z',
	sticky: 'M5 4h14v10l-5 6H5zM14 20v-6h5',
	line: 'M5 19L19 5',
	arrow: 'M5 19L19 5M10 5h9v9',
	connector: 'M6 6h4v4H6zM14 14h4v4h-4zM10 8h3a2 2 0 012 2v4',
	text: 'M5 6V4h14v2M12 4v16M9 20h6',
	path: 'M4 17c3-6 5-9 7-5s4 4 9-6',
	comment: 'M5 5h14v10H10l-4 4v-4H5z',
	more: 'M5 12h.01M12 12h.01M19 12h.01',
};

export const TOOLS = [
	['select', 'Select', 'V'], ['hand', 'Hand (pan)', 'H'], ['rect', 'Rectangle', 'R'], ['ellipse', 'Ellipse', 'O'],
	['sticky', 'Sticky note', 'S'], ['line', 'Line', 'L'], ['arrow', 'Arrow', 'A'], ['connector', 'Connector: drag from shape to shape', 'C'],
	['text', 'Text', 'T'], ['path', 'Pen', 'P'], ['comment', 'Comment: click a shape or the canvas', 'M'],
];

export function Icon({ name }) {
	return (
		<svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round">
			<path d={ICONS[name]} />
		</svg>
	);
}

// What stays on the bar when not every tool fits, most wanted first. Editors draw; those who
// may only comment get the comment tool early, as the drawing tools are off for them.
const EDIT_PRIORITY = ['select', 'path', 'rect', 'ellipse', 'sticky', 'text', 'arrow', 'connector', 'hand', 'line', 'comment'];
const VIEW_PRIORITY = ['select', 'hand', 'comment', 'path', 'rect', 'ellipse', 'sticky', 'text', 'arrow', 'connector', 'line'];

// Geometry of the bar (styles.css, .toolbar): 40 px buttons 2 px apart, 4 px padding and a
// 1 px border, 12 px from each side of the board; the separator before the lock takes 11 px.
const BUTTON = 40, GAP = 2, CHROME = 24 + 2 * 4 + 2, SEPARATOR = 9 + GAP;

// How many tools fit on the bar of a window `width` px wide: all of them with the lock, or
// as many as fit next to a "More tools" button that holds the rest and the lock (as on
// Excalidraw's and tldraw's phone layouts: no sideways scrolling, every tool two taps away
// at most).
export function toolsOnBar(width) {
	const all = TOOLS.length + 1; // + the lock
	const inner = width - CHROME;
	if (all * BUTTON + (all - 1) * GAP + SEPARATOR <= inner)
		return TOOLS.length;
	// n tools and More: (n + 1) × 40 + n × 2; at least one tool goes to the menu with the lock.
	return Math.max(1, Math.min(TOOLS.length - 1, Math.floor((inner - BUTTON) / (BUTTON + GAP))));
}

export function Toolbar() {
	const { board } = useApp();
	const tool = useBoard((s) => s.tool);
	const locked = useBoard((s) => s.toolLocked);
	const canEdit = useBoard((s) => (s.role === 'editor' || s.role === 'owner') && !s.preview);
	const canComment = useBoard((s) => (s.role === 'commenter' || s.role === 'editor' || s.role === 'owner') && !s.preview);
	const width = useViewportWidth();
	const [open, setOpen] = useState(false);
	const ref = useRef(null);
	const moreRef = useRef(null);
	const fit = toolsOnBar(width);
	const overflow = fit < TOOLS.length;
	// The current tool always shows on the bar: it takes the place of the least wanted one.
	let onBar = (canEdit ? EDIT_PRIORITY : VIEW_PRIORITY).slice(0, fit);
	if (overflow && !onBar.includes(tool))
		onBar = [...onBar.slice(0, fit - 1), tool];
	const shown = TOOLS.filter(([id]) => !overflow || onBar.includes(id));
	const hidden = overflow ? TOOLS.filter(([id]) => !onBar.includes(id)) : [];
	const disabled = (id) => (id === 'comment' ? !canComment : !canEdit && id !== 'select' && id !== 'hand');

	useCloseOnOutsidePointer(ref, open, setOpen);
	useEffect(() => {
		if (!overflow)
			setOpen(false);
	}, [overflow]);

	const pick = (id) => {
		setOpen(false);
		board.setTool(id);
	};
	// Arrow keys move between the menu's items, Escape closes it and returns to its button.
	const menuKeys = (e) => {
		const items = [...e.currentTarget.querySelectorAll('button:not(:disabled)')];
		const i = items.indexOf(document.activeElement);
		if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
			e.preventDefault();
			const next = items[(i + (e.key === 'ArrowDown' ? 1 : items.length - 1)) % items.length];
			if (next)
				next.focus();
		} else if (e.key === 'Escape') {
			e.preventDefault();
			e.stopPropagation();
			setOpen(false);
			if (moreRef.current)
				moreRef.current.focus();
		}
	};
	const lockIcon = (
		<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.8"><rect x="5" y="11" width="14" height="9" rx="2" /><path d={locked ? 'M8 11V8a4 4 0 018 0v3' : 'M8 11V8a4 4 0 017.7-1.5'} /></svg>
	);
	return (
		<div className="toolbar" role="toolbar" aria-label="Tools" id="tools" ref={ref}>
			{shown.map(([id, label, key]) => (
				<button key={id} type="button" data-tool={id} aria-pressed={tool === id} title={`${label} — ${key}`} aria-label={label}
					disabled={disabled(id)} onClick={() => pick(id)}>
					<Icon name={id} />
					<span className="key">{key}</span>
				</button>
			))}
			{overflow ? (
				<button type="button" id="tool-more" ref={moreRef} aria-haspopup="menu" aria-expanded={open} title="More tools" aria-label="More tools"
					onClick={() => setOpen(!open)}>
					<Icon name="more" />
				</button>
			) : (
				<>
					<span className="tb-sep" />
					<button type="button" id="tool-lock" aria-pressed={locked} title="Keep the tool after drawing — Q" aria-label="Keep the tool after drawing"
						onClick={() => board.set({ toolLocked: !locked })}>
						{lockIcon}
					</button>
				</>
			)}
			{open && (
				<div className="tool-menu" id="tool-more-menu" role="menu" aria-label="More tools" onKeyDown={menuKeys}
					ref={(el) => el && !el.contains(document.activeElement) && el.querySelector('button:not(:disabled)')?.focus()}>
					{hidden.map(([id, label, key]) => (
						<button key={id} type="button" role="menuitemradio" aria-checked={tool === id} data-tool={id} disabled={disabled(id)} onClick={() => pick(id)}>
							<Icon name={id} />
							<span className="tool-name">{label.split(':')[0]}</span>
							<kbd>{key}</kbd>
						</button>
					))}
					<button type="button" role="menuitemcheckbox" id="tool-lock" aria-checked={locked} onClick={() => { setOpen(false); board.set({ toolLocked: !locked }); }}>
						{lockIcon}
						<span className="tool-name">Keep the tool after drawing</span>
						<kbd>Q</kbd>
					</button>
				</div>
			)}
		</div>
	);
}
