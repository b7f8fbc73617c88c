// React access to the app's singletons: the REST client and the board store.
import { createContext, useContext } from 'react';
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
