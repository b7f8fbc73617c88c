import { useApp, useBoard } from './hooks.js';

const SECTIONS = [
	['Tools', [
		['V', 'Select, move, resize, rotate'], ['H', 'Hand: pan'], ['R', 'Rectangle'], ['O', 'Ellipse'], ['S', 'Sticky note'],
		['L', 'Line'], ['A', 'Arrow'], ['C', 'Connector: drag from one shape to another'], ['T', 'Text'], ['P', 'Pen'],
		['M', 'Comment: click a shape or the canvas'], ['Q', 'Keep the tool after drawing'],
	]],
	['Edit', [
		['Ctrl+Z', 'Undo'], ['Ctrl+Shift+Z / Ctrl+Y', 'Redo'], ['Ctrl+A', 'Select all shapes'], ['Shift+click', 'Add to or remove from the selection'],
		['Drag on empty canvas', 'Select with a rectangle'], ['Ctrl+C / Ctrl+X / Ctrl+V', 'Copy, cut, paste (a Mermaid flowchart becomes a diagram)'], ['Ctrl+D', 'Duplicate'],
		['Delete', 'Delete'], ['Arrow keys', 'Nudge by 1 (Shift: 10)'], ['Enter / double-click', 'Edit the text of a shape'],
		['Ctrl+] / Ctrl+[', 'Bring forward, send backward'], ['Ctrl+Shift+] / [', 'Bring to front, send to back'],
		['Shift while dragging', 'Keep proportions, snap angles, move straight'], ['Esc', 'Finish text, clear the selection'],
	]],
	['View', [
		['Wheel / trackpad', 'Pan'], ['Ctrl+wheel / pinch', 'Zoom'], ['Space+drag', 'Pan'], ['Ctrl+= / Ctrl+-', 'Zoom in, out'],
		['Ctrl+0', 'Zoom to 100%'], ['Shift+1', 'Zoom to fit'], ['Alt+Shift+D', 'Dark mode'], ['?', 'This help'],
	]],
];

export function HelpDialog() {
	const open = useBoard((s) => s.help);
	const { board } = useApp();
	if (!open)
		return null;
	const close = () => board.set({ help: false });
	return (
		<div className="dialog-backdrop" onPointerDown={(e) => e.target === e.currentTarget && close()}>
			<div className="dialog help" role="dialog" aria-label="Keyboard shortcuts" id="help-dialog">
				<div className="dialog-head"><h2>Keyboard shortcuts</h2><button type="button" className="quiet" aria-label="Close" onClick={close}>✕</button></div>
				<div className="help-cols">
					{SECTIONS.map(([title, rows]) => (
						<section key={title}>
							<h3>{title}</h3>
							<dl>
								{rows.map(([k, what]) => <div key={k} className="help-row"><dt><kbd>{k}</kbd></dt><dd>{what}</dd></div>)}
							</dl>
						</section>
					))}
				</div>
			</div>
		</div>
	);
}
