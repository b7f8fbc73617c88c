// In-place, multi-line text editing: a textarea laid exactly over the shape (same font, scaled
// with the zoom, rotated with the shape). Enter starts a new line; Esc, Ctrl+Enter or clicking
// elsewhere commits. A free text's box and a sticky's height grow to fit what was written, in
// the same commit, so the selection box follows the text.

import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { BOX_TEXT_PAD, FONT_FAMILY, FONT_SIZE, LINE_HEIGHT, STICKY_FILL, STICKY_PAD, textBox, wrappedHeight } from '../canvas/shapes.js';
import { useApp, useBoard } from './hooks.js';

const MAX_TEXT = 10000;

function clip(text) {
	// The server bounds text to 10,000 bytes of UTF-8.
	let t = text;
	while (new TextEncoder().encode(t).length > MAX_TEXT)
		t = t.slice(0, Math.floor(t.length * 0.9));
	return t;
}

export function commitText(board, editing, raw) {
	const text = clip(raw.replace(/\r\n?/g, '\n'));
	if (editing.id) {
		const sh = board.displayed(editing.id);
		if (sh) {
			if (sh.kind === 'text') {
				if (!text.trim()) {
					board.select([sh.id]);
					board.deleteSelection();
				} else {
					board.setText(sh.id, text, { x: sh.x, y: sh.y, ...textBox(text) });
				}
			} else if (sh.kind === 'sticky') {
				const need = Math.ceil(wrappedHeight(text, Math.max(1, sh.w - 2 * STICKY_PAD)) + 2 * STICKY_PAD);
				board.setText(sh.id, text, need > sh.h ? { x: sh.x, y: sh.y, w: sh.w, h: need } : null);
			} else {
				board.setText(sh.id, text, null);
			}
		}
	} else if (editing.at && text.trim()) {
		const st = board.get().style;
		board.createShape({
			kind: 'text', x: editing.at.x, y: editing.at.y, ...textBox(text), text,
			style: { stroke: st.stroke, fill: 'none', width: 1, opacity: st.opacity },
		});
	}
	board.set({ editing: null });
}

export function TextEditor() {
	const { board } = useApp();
	const editing = useBoard((s) => s.editing);
	const viewport = useBoard((s) => (s.editing ? s.viewport : null));
	const ref = useRef(null);
	const done = useRef(false);
	const [value, setValue] = useState('');
	const shape = editing && editing.id ? board.displayed(editing.id) : null;

	useEffect(() => {
		if (editing && editing.commitNow) {
			commitText(board, editing, editing.text || '');
			return;
		}
		done.current = false;
		if (editing) {
			const sh = editing.id ? board.displayed(editing.id) : null;
			setValue(sh ? sh.text : editing.text || '');
		}
	}, [editing, board]);

	useLayoutEffect(() => {
		const ta = ref.current;
		if (ta && editing && !editing.commitNow) {
			ta.focus({ preventScroll: true });
			ta.setSelectionRange(ta.value.length, ta.value.length);
		}
	}, [editing]);

	if (!editing || editing.commitNow || (editing.id && !shape))
		return null;

	const commit = () => {
		if (done.current)
			return;
		done.current = true;
		commitText(board, editing, ref.current ? ref.current.value : value);
	};

	const k = viewport.scale;
	const css = {
		fontFamily: FONT_FAMILY, fontSize: `${FONT_SIZE * k}px`, lineHeight: LINE_HEIGHT, color: '#1e1e1e',
	};
	let box;
	if (!shape || shape.kind === 'text') {
		const at = shape || editing.at;
		const b = textBox(value || ' ');
		box = { x: at.x, y: at.y, w: Math.max(b.w + 24, 60), h: b.h + 4 };
		css.color = shape ? shape.style.stroke : board.get().style.stroke;
		css.padding = 0;
		css.whiteSpace = 'pre';
		css.background = 'transparent';
	} else {
		box = { x: shape.x, y: shape.y, w: shape.w, h: shape.h };
		css.color = shape.style.stroke === 'none' || shape.style.stroke === 'transparent' ? '#1e1e1e' : shape.style.stroke;
		if (shape.kind === 'sticky') {
			css.padding = `${STICKY_PAD * k}px`;
			css.background = shape.style.fill === 'none' ? STICKY_FILL : shape.style.fill;
			const need = wrappedHeight(value || ' ', Math.max(1, shape.w - 2 * STICKY_PAD)) + 2 * STICKY_PAD;
			box.h = Math.max(shape.h, need);
		} else {
			const lines = wrappedHeight(value || ' ', Math.max(1, shape.w - 2 * BOX_TEXT_PAD));
			const top = Math.max(BOX_TEXT_PAD, (shape.h - lines) / 2);
			css.padding = `${top * k}px ${BOX_TEXT_PAD * k}px ${BOX_TEXT_PAD * k}px`;
			css.textAlign = 'center';
			css.background = 'transparent';
		}
	}
	const style = {
		...css,
		left: `${box.x * k + viewport.x}px`, top: `${box.y * k + viewport.y}px`,
		width: `${box.w * k}px`, height: `${box.h * k}px`,
		transform: shape && shape.rotation ? `rotate(${shape.rotation}deg)` : undefined,
	};
	return (
		<textarea ref={ref} className="text-editor" id="text-editor" aria-label="Text" value={value} style={style} spellCheck
			onChange={(e) => setValue(e.target.value)} onBlur={commit}
			onKeyDown={(e) => {
				e.stopPropagation();
				if (e.key === 'Escape' || (e.key === 'Enter' && (e.ctrlKey || e.metaKey))) {
					e.preventDefault();
					commit();
				}
			}} />
	);
}
