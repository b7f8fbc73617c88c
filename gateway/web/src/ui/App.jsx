// Routing (location.hash: #/ workspaces, #/w/<workspace>, #/c/<canvas>, #/invite/<token>), the
// login session and the top-level views. The hash survives logging in, so a canvas or invite
// link opened while logged out leads there right after.

import { useCallback, useEffect, useState } from 'react';
import { plainError } from '../protocol/errors.js';
import { useApp, useBoard } from './hooks.js';
import { AuthView } from './AuthView.jsx';
import { HomeView } from './HomeView.jsx';
import { BoardView } from './BoardView.jsx';
import { InviteView } from './Invites.jsx';

function parseHash(hash) {
	let m;
	if ((m = hash.match(/^#\/c\/([^/?#]+)/)))
		return { view: 'canvas', id: decodeURIComponent(m[1]) };
	if ((m = hash.match(/^#\/invite\/([^/?#]+)/)))
		return { view: 'invite', id: decodeURIComponent(m[1]) };
	if ((m = hash.match(/^#\/w\/([^/?#]+)/)))
		return { view: 'home', id: decodeURIComponent(m[1]) };
	return { view: 'home', id: null };
}

export function App() {
	const { api } = useApp();
	const theme = useBoard((s) => s.theme);
	const [route, setRoute] = useState(() => parseHash(location.hash));
	const [me, setMe] = useState(null);
	const [checking, setChecking] = useState(api.loggedIn);
	const [authError, setAuthError] = useState('');

	useEffect(() => {
		document.documentElement.dataset.theme = theme;
	}, [theme]);

	useEffect(() => {
		const onHash = () => setRoute(parseHash(location.hash));
		window.addEventListener('hashchange', onHash);
		return () => window.removeEventListener('hashchange', onHash);
	}, []);

	const loadMe = useCallback(async () => {
		if (!api.loggedIn) {
			setMe(null);
			setChecking(false);
			return;
		}
		setChecking(true);
		try {
			setMe(await api.me());
		} catch (e) {
			if (e.status === 401)
				api.setTokens(null);
			else
				setAuthError(plainError(e));
			setMe(null);
		} finally {
			setChecking(false);
		}
	}, [api]);

	useEffect(() => {
		loadMe();
		// Another tab logging in or out, or a refresh token refused for good.
		return api.onSessionChange((tokens) => {
			if (!tokens) {
				setMe(null);
				setAuthError('You have been logged out.');
			} else {
				loadMe();
			}
		});
	}, [api, loadMe]);

	const logout = async () => {
		try {
			await api.logout();
		} catch {
			// the tokens are forgotten anyway
		}
		setMe(null);
		setAuthError('');
		location.hash = '#/';
	};

	if (checking && !me)
		return <div className="splash" aria-busy="true">FlowState</div>;
	if (!me)
		return <AuthView initialError={authError} invited={route.view === 'invite'} onLoggedIn={(user) => { setAuthError(''); setMe(user); }} />;
	if (route.view === 'invite')
		return <InviteView key={route.id} token={route.id} me={me} onLogout={logout} />;
	if (route.view === 'canvas')
		return <BoardView key={route.id} canvasId={route.id} me={me} onLogout={logout} />;
	return <HomeView workspaceId={route.id} me={me} onLogout={logout} />;
}
