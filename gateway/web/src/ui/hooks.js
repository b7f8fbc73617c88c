// React access to the app's singletons: the REST client and the board store.
import { createContext, useContext, useEffect, useState } from 'react';
import { useStore } from 'zustand';

export const AppContext = createContext(null);

export function useApp() {
	return useContext(AppContext);
}

// Reads a slice of the board store; the component re-renders only when that slice changes.
export function useBoard(selector) {
	const { board } = useApp();
	return useStore(board.store, selector);
}

// The window's width in CSS pixels, kept current: what fits on one row of the chrome (tools,
// presence chips) depends on it, from a 320 px phone to a wide screen.
export function useViewportWidth() {
	const [width, setWidth] = useState(() => window.innerWidth);
	useEffect(() => {
		const onResize = () => setWidth(window.innerWidth);
		window.addEventListener('resize', onResize);
		return () => window.removeEventListener('resize', onResize);
	}, []);
	return width;
}

// Closes a popup menu when the pointer goes down outside ref's element, while it is open.
export function useCloseOnOutsidePointer(ref, open, setOpen) {
	useEffect(() => {
		if (!open)
			return undefined;
		const close = (e) => {
			if (ref.current && !ref.current.contains(e.target))
				setOpen(false);
		};
		window.addEventListener('pointerdown', close);
		return () => window.removeEventListener('pointerdown', close);
	}, [open, ref, setOpen]);
}
