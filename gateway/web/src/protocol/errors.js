// What a person reads when something fails: plain sentences, never the API's error codes
// (docs/protocol.md lists them). Pure: used by the views and by the protocol module's callers.

const BY_CODE = {
	network: "Can't reach FlowState right now. Check your connection and try again.",
	invalid_credentials: "That email and password don't match an account.",
	invalid_refresh_token: 'Your session has ended. Please log in again.',
	unauthorized: 'Your session has ended. Please log in again.',
	email_taken: 'An account with this email already exists. Log in instead.',
	already_member: 'That person is already a member of this workspace.',
	user_not_found: 'No account uses that email yet. Ask them to register first, then add them.',
	forbidden: "Your role in this workspace doesn't allow that.",
	not_found: "This doesn't exist any more, or you don't have access to it.",
	rate_limited: 'You are making changes very fast. FlowState will catch up in a moment.',
	unavailable: 'The server is unavailable right now. Your change will be retried.',
	overloaded: 'The server is very busy right now. Please try again in a moment.',
	payload_too_large: 'That is too large to save.',
	too_large: 'That is too large to save.',
	too_many_ops: 'That change is too large to send at once.',
	checkpoint_exists: 'A checkpoint with that name already exists. Pick another name.',
	conflict: 'Someone changed the canvas at the same moment. Please try again.',
	invalid_version: "That version doesn't exist yet.",
	not_ready: 'Still connecting. Try again in a moment.',
	method_not_allowed: "That isn't possible here.",
	last_owner: 'A workspace needs at least one owner. Make someone else an owner first.',
	member_not_found: 'That person is no longer a member of this workspace.',
	not_deleted: 'That is not deleted.',
	invite_expired: 'This invite link has expired. Ask for a new one.',
	invite_used_up: 'This invite link has already been used. Ask for a new one.',
	too_many_comments: 'This canvas has too many comments. Delete some resolved ones first.',
	canvas_full: 'This canvas is full. Start a new canvas, or remove something first.',
	client_op_id_conflict: 'That change clashed with another one. Please try again.',
	unsupported_media_type: 'FlowState can only import a Mermaid diagram as plain text.',
	access_revoked: 'You no longer have access to this canvas.',
	deleted: 'This canvas has been deleted.',
};

// Field-specific wording for validation errors; `detail` starts with the field's path.
const BY_FIELD = [
	[/^email\b/, 'Please enter a valid email address.'],
	[/^password\b/, 'Passwords need 8 to 256 characters.'],
	[/^display_name\b/, 'Display names are 1 to 100 characters, without control characters.'],
	[/^name\b/, 'Names are 1 to 100 characters and cannot be only spaces.'],
	[/^role\b/, 'Pick a role: viewer, commenter, editor or owner.'],
	[/^payload\.text\b/, 'That text is too long (at most 10,000 bytes).'],
	[/^payload\.points\b/, 'That drawing has too many points.'],
	[/^body\b/, 'Comments are 1 to 4,000 characters and cannot be only spaces.'],
	[/^expires_in\b/, 'An invite lasts from a minute to 30 days.'],
	[/^max_uses\b/, 'An invite can be used 1 to 10,000 times.'],
];

const VALIDATION = new Set(['invalid_body', 'unknown_field', 'missing_field', 'invalid_field',
	'invalid_query', 'malformed_json', 'bad_request', 'unknown_op_type', 'invalid_message',
	'unknown_type']);

// A sentence for an error from the API (an ApiError, a WebSocket `error` message, or anything
// thrown). `status` helps when the code is unknown (a newer server, or a proxy's page).
export function plainError(err) {
	if (!err)
		return 'Something went wrong.';
	const code = err.code || '';
	const detail = typeof err.detail === 'string' ? err.detail : '';
	if (VALIDATION.has(code)) {
		for (const [re, text] of BY_FIELD) {
			if (re.test(detail))
				return text;
		}
		return "FlowState couldn't accept that change.";
	}
	if (code === 'invalid_mermaid')
		return mermaidError(err, detail);
	if (code === 'too_large' && /png|pixel/i.test(detail))
		return 'That picture would be too large. Export it at a smaller scale.';
	if (BY_CODE[code])
		return BY_CODE[code];
	const status = err.status || 0;
	if (status === 0 && err instanceof Error && !code)
		return err.message && !/^[a-z_]+$/.test(err.message) ? err.message : 'Something went wrong.';
	if (status === 401)
		return BY_CODE.unauthorized;
	if (status === 403)
		return BY_CODE.forbidden;
	if (status === 404)
		return BY_CODE.not_found;
	if (status === 409)
		return BY_CODE.conflict;
	if (status === 413)
		return BY_CODE.payload_too_large;
	if (status === 429)
		return BY_CODE.rate_limited;
	if (status >= 500)
		return BY_CODE.unavailable;
	if (status >= 400)
		return "FlowState couldn't accept that.";
	return 'Something went wrong.';
}

// A Mermaid diagram FlowState cannot read: where, and what (the detail after the position is
// the parser's own sentence, e.g. "unsupported: 'subgraph' (...)").
function mermaidError(err, detail) {
	const what = detail.replace(/^line \d+, column \d+:\s*/, '').replace(/^unsupported:\s*/, 'FlowState does not support ');
	const where = err.line ? ` (line ${err.line}${err.column ? `, column ${err.column}` : ''})` : '';
	return `That Mermaid diagram can't be imported${where}: ${what || 'it is not a flowchart FlowState reads.'}`;
}
