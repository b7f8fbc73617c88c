import { useApp, useBoard } from './hooks.js';

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

export function Toolbar() {
	const { board } = useApp();
	const tool = useBoard((s) => s.tool);
	const locked = useBoard((s) => s.toolLocked);
	const canEdit = useBoard((s) => (s.role === 'editor' || s.role === 'owner') && !s.preview);
	const canComment = useBoard((s) => (s.role === 'commenter' || s.role === 'editor' || s.role === 'owner') && !s.preview);
	return (
		<div className="toolbar" role="toolbar" aria-label="Tools" id="tools">
			{TOOLS.map(([id, label, key]) => (
				<button key={id} type="button" data-tool={id} aria-pressed={tool === id} title={`${label} — ${key}`} aria-label={label}
					disabled={id === 'comment' ? !canComment : !canEdit && id !== 'select' && id !== 'hand'} onClick={() => board.setTool(id)}>
					<Icon name={id} />
					<span className="key">{key}</span>
				</button>
			))}
			<span className="tb-sep" />
			<button type="button" id="tool-lock" aria-pressed={locked} title="Keep the tool after drawing — Q" aria-label="Keep the tool after drawing"
				onClick={() => board.set({ toolLocked: !locked })}>
				<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.8"><rect x="5" y="11" width="14" height="9" rx="2" /><path d={locked ? 'M8 11V8a4 4 0 018 0v3' : 'M8 11V8a4 4 0 017.7-1.5'} /></svg>
			</button>
		</div>
	);
}
