import { useBoard, useApp } from './hooks.js';

export function TopBar({ me, onLogout, crumbs = [], children }) {
	const { board } = useApp();
	const theme = useBoard((s) => s.theme);
	return (
		<header className="topbar">
			<a className="brand" href="#/">FlowState</a>
			<nav className="crumbs" aria-label="Breadcrumbs">
				{crumbs.filter(Boolean).map((c, i) => (
					<span key={i}>{i > 0 && <span className="sep">/</span>}{c.href ? <a href={c.href}>{c.text}</a> : <span className="crumb-current">{c.text}</span>}</span>
				))}
			</nav>
			<span className="spacer" />
			{children}
			<button type="button" className="icon-btn" id="theme-toggle" title="Dark mode (Alt+Shift+D)" aria-label="Toggle dark mode"
				onClick={() => board.setTheme(theme === 'dark' ? 'light' : 'dark')}>{theme === 'dark' ? '☀' : '☾'}</button>
			<span className="whoami" id="whoami" title={me.email}>{me.display_name}</span>
			<button type="button" id="logout" className="quiet" onClick={onLogout}>Log out</button>
		</header>
	);
}
