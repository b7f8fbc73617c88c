// A canvas's comments on the client (docs/protocol.md, "Comments" and "Comment events"). Pure:
// no DOM, no network (comments.test.js runs it in Node).
//
// The comments are kept flat, a Map from comment id to comment (threads and replies alike);
// threads are derived from it. Comments are never modified in place: an event puts a new
// object, so a view may keep references to old ones.

// A Map of every comment from `GET /canvases/{id}/comments` threads (or a sync in state mode).
export function commentsFromThreads(threads) {
	const out = new Map();
	for (const t of threads || []) {
		if (!t || typeof t.id !== 'string')
			continue;
		const { replies, ...top } = t;
		out.set(t.id, top);
		for (const r of replies || []) {
			if (r && typeof r.id === 'string')
				out.set(r.id, r);
		}
	}
	return out;
}

// Applies one comment event ({action, comment_id, comment}) to `comments`, in place. Returns
// true if anything changed. `created`/`updated` put the comment (a null one, whose text was
// removed by a later deletion, is skipped); `deleted` removes the comment and, for a thread,
// its replies (the server sends their own `deleted` events first, so this is a safety net).
export function applyCommentEvent(comments, ev) {
	if (!ev || typeof ev.comment_id !== 'string')
		return false;
	if (ev.action === 'deleted') {
		let changed = comments.delete(ev.comment_id);
		for (const [id, c] of comments) {
			if (c.parent_id === ev.comment_id) {
				comments.delete(id);
				changed = true;
			}
		}
		return changed;
	}
	if ((ev.action === 'created' || ev.action === 'updated') && ev.comment && typeof ev.comment === 'object') {
		comments.set(ev.comment_id, ev.comment);
		return true;
	}
	return false;
}

const byCreation = (a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

// Threads oldest first, each {...comment, replies: [oldest first]}. A reply whose thread is
// unknown (not loaded yet) is left out.
export function threadsOf(comments) {
	const threads = new Map();
	for (const c of comments.values()) {
		if (!c.parent_id)
			threads.set(c.id, { ...c, replies: [] });
	}
	for (const c of comments.values()) {
		const t = c.parent_id && threads.get(c.parent_id);
		if (t)
			t.replies.push(c);
	}
	const out = [...threads.values()].sort(byCreation);
	for (const t of out)
		t.replies.sort(byCreation);
	return out;
}

// Where a thread's pin goes on the canvas: on the top right corner of the shape it is about
// (so it follows the shape), else at the point it was placed; null when it has neither (its
// shape is gone and it has no point).
export function pinPosition(comment, shapeOf) {
	const sh = comment.shape_id ? shapeOf(comment.shape_id) : null;
	if (sh)
		return { x: sh.x + sh.w, y: sh.y };
	if (typeof comment.x === 'number' && typeof comment.y === 'number')
		return { x: comment.x, y: comment.y };
	return null;
}

const RANK = { viewer: 0, commenter: 1, editor: 2, owner: 3 };

export function roleAtLeast(role, min) {
	return (RANK[role] ?? -1) >= RANK[min];
}

// What the user may do with a comment (docs/protocol.md, the table under "Comments").
export function commentRights(comment, { role, userId }) {
	const author = comment.author && comment.author.user_id === userId && roleAtLeast(role, 'commenter');
	return {
		reply: !comment.parent_id && roleAtLeast(role, 'commenter'),
		edit: !!author,
		resolve: !comment.parent_id && (author || roleAtLeast(role, 'editor')),
		remove: author || role === 'owner',
	};
}
