import { useState } from 'react';
import { plainError } from '../protocol/errors.js';
import { useApp } from './hooks.js';

export function AuthView({ initialError = '', invited = false, onLoggedIn }) {
	const { api } = useApp();
	const [mode, setMode] = useState('login');
	const [error, setError] = useState(initialError);
	const [busy, setBusy] = useState(false);

	const submit = async (ev) => {
		ev.preventDefault();
		const f = ev.currentTarget;
		const email = f.email.value.trim();
		const password = f.password.value;
		setError('');
		setBusy(true);
		try {
			if (mode === 'register')
				await api.register(email, password, f.display_name.value.trim());
			await api.login(email, password);
			onLoggedIn(await api.me());
		} catch (e) {
			setError(plainError(e));
		} finally {
			setBusy(false);
		}
	};

	return (
		<main className="auth-page">
			<form className="auth-card" id="auth-form" onSubmit={submit}>
				<h1 className="brand-big">FlowState</h1>
				<p className="muted" id="auth-intro">{invited ? 'You have been invited to a workspace. Log in, or create an account, to join it.' : 'Think together on one live canvas.'}</p>
				<div className="tabs" role="tablist">
					<button type="button" role="tab" data-auth-tab="login" aria-selected={mode === 'login'} onClick={() => { setMode('login'); setError(''); }}>Log in</button>
					<button type="button" role="tab" data-auth-tab="register" aria-selected={mode === 'register'} onClick={() => { setMode('register'); setError(''); }}>Create account</button>
				</div>
				<label>Email<input name="email" type="email" required autoComplete="username" /></label>
				<label>Password<input name="password" type="password" required minLength={8} autoComplete={mode === 'register' ? 'new-password' : 'current-password'} /></label>
				{mode === 'register' && (
					<label>Your name<input name="display_name" maxLength={100} autoComplete="nickname" placeholder="How others see you" /></label>
				)}
				<button type="submit" className="primary" id="auth-submit" disabled={busy}>
					{mode === 'register' ? 'Create account' : 'Log in'}
				</button>
				<p className="form-error" id="auth-error" role="alert">{error}</p>
			</form>
		</main>
	);
}
