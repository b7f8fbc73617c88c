/*
 * Per-user undo and redo (DESIGN §5). Nothing about stacks is stored: each request rebuilds
 * the user's undo and redo stacks for the canvas from the user's recent operations in the log
 * (kind + undo_of), so any node can serve any request and no state can drift.
 *
 * Stack rules, replaying the user's ops in version order, grouping the ops one request
 * committed together (an undo, redo or restore: same kind and undo_of, consecutive versions,
 * one transaction; an op of kind "do" is a step of its own):
 *   do / restore  push on the undo stack, clear the redo stack
 *   undo of X     remove X from the undo stack, push the undo group on the redo stack
 *   redo of U     remove U from the redo stack, push the redo group on the undo stack
 *
 * An undo reverts, property by property, only what the step changed and is still as the step
 * left it (common/history.h): another user's later edit is never overwritten; the answer says
 * what was kept. A step whose undo would change nothing (others changed or deleted all of it)
 * is passed over, recorded in undo_skips so it stays popped, and the next one down is undone
 * instead: the stack never gets stuck, and a passed-over step never comes back. At most
 * UNDO_MAX_CANDIDATES steps are examined per request (the next request continues below).
 *
 * The reverting ops are computed on the canvas head and committed only if no op after that
 * head touched the shapes involved (fs_commit_batch's shape guard): edits to other shapes in
 * between do not matter to an undo; an edit to the same shapes makes the request recompute
 * (up to UNDO_MAX_ATTEMPTS times), so an undo never acts on a state it did not see.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#include "app/undo.h"

#include "auth/token.h"
#include "base/alloc.h"
#include "base/log.h"
#include "model/history.h"
#include "model/role.h"
#include "store/commit.h"
#include "store/db.h"
#include "store/state.h"

#define UNDO_HISTORY_WINDOW 1000   /* most recent ops of the user considered */
#define UNDO_MAX_CANDIDATES 20
#define UNDO_MAX_ATTEMPTS 5

static struct db_pool *undo_db;

struct undo_group {
	long long first, last;   /* versions */
	char kind[16];
	long long undo_of;       /* 0 = none */
	char at[48];             /* created_at: its transaction's time */
	json_t *ops;             /* [{type, payload}] in version order */
};

struct undo_stack {
	struct undo_group *items;
	size_t count, cap;
};

struct undo_ctx {
	char user_id[64];
	undo_done_fn done;
	void *done_arg;
	bool is_redo;
	char canvas_id[64];
	int attempts;
	struct undo_stack undo_stack, redo_stack;   /* rebuilt per attempt */
	struct undo_stack *candidates;    /* &undo or &redo */
	size_t next_candidate;            /* index from the top */
	long long head;
	struct canvas_state *current;     /* state at head */
	struct undo_group *group;         /* candidate being evaluated */
	enum history_status last_status;
	json_t *last_kept;                /* what the last examined step left alone */
	json_t *skipped;                  /* versions passed over in this request */
	json_t *skips;                    /* recorded skips: {"undo:V": true, "redo:V": true} */
	struct commit_job *job;           /* prepared commit, submitted after recording skips */
};

static void stack_clear(struct undo_stack *s)
{
	for (size_t i = 0; i < s->count; i++)
		json_decref(s->items[i].ops);
	s->count = 0;
}

static void stack_push(struct undo_stack *s, struct undo_group *g)
{
	if (s->count == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->items = xrealloc(s->items, s->cap * sizeof(*s->items));
	}
	s->items[s->count++] = *g;
}

/* Removes the group starting at version `first` (searching from the top); false if absent. */
static bool stack_remove(struct undo_stack *s, long long first)
{
	for (size_t i = s->count; i-- > 0;) {
		if (s->items[i].first == first) {
			json_decref(s->items[i].ops);
			memmove(&s->items[i], &s->items[i + 1], (s->count - i - 1) * sizeof(*s->items));
			s->count--;
			return true;
		}
	}
	return false;
}

static void undo_ctx_free(struct undo_ctx *c)
{
	stack_clear(&c->undo_stack);
	stack_clear(&c->redo_stack);
	free(c->undo_stack.items);
	free(c->redo_stack.items);
	canvas_state_free(c->current);
	json_decref(c->skipped);
	json_decref(c->skips);
	json_decref(c->last_kept);
	if (c->job)
		commit_job_discard(c->job);
	free(c);
}

/* Hands the outcome to the transport (REST or WebSocket) and frees the context. */
static void undo_finish(struct undo_ctx *c, int status, json_t *body)
{
	c->done(c->done_arg, status, body);
	undo_ctx_free(c);
}

static void undo_fail(struct undo_ctx *c, int status, const char *code, const char *detail)
{
	undo_finish(c, status, json_pack("{s:s, s:s}", "detail", detail, "code", code));
}

static void undo_fail_db(struct undo_ctx *c, const struct db_result *r)
{
	if (r->retryable)
		undo_fail(c, 503, "unavailable", "database unavailable, retry");
	else
		undo_fail(c, 500, "internal", "internal error");
}

static void undo_fail_state(struct undo_ctx *c, const struct state_result *r)
{
	if (r->status == STATE_DB_ERROR)
		undo_fail_db(c, r->db);
	else
		undo_fail(c, 404, "not_found", "canvas not found");
}

static bool is_skipped(const struct undo_ctx *c, const char *stack, long long version)
{
	char key[48];
	snprintf(key, sizeof(key), "%s:%lld", stack, version);
	return json_object_get(c->skips, key) != NULL;
}

/* Pushes g unless it was recorded as passed over on that stack (then it stays popped). */
static void push_unless_skipped(struct undo_ctx *c, struct undo_stack *s, const char *name,
				struct undo_group *g)
{
	if (is_skipped(c, name, g->first))
		json_decref(g->ops);
	else
		stack_push(s, g);
}

/* Applies one finished group to the stacks (the rules in the comment at the top). */
static void close_group(struct undo_ctx *c, struct undo_group *g)
{
	if (!strcmp(g->kind, "undo")) {
		stack_remove(&c->undo_stack, g->undo_of);
		push_unless_skipped(c, &c->redo_stack, "redo", g);
	} else if (!strcmp(g->kind, "redo")) {
		stack_remove(&c->redo_stack, g->undo_of);
		push_unless_skipped(c, &c->undo_stack, "undo", g);
	} else {
		stack_clear(&c->redo_stack);
		push_unless_skipped(c, &c->undo_stack, "undo", g);
	}
}

/*
 * Rebuilds both stacks from rows (version, kind, undo_of, type, payload, created_at) in version
 * order. A step is one request: an op the user made ("do") is a step of its own, and the ops
 * one undo, redo or restore committed together are one step (same kind and undo_of,
 * consecutive versions, one transaction: such a request commits alone for its canvas in its
 * batch, so its transaction time sets it apart from the next one).
 */
static void rebuild_stacks(struct undo_ctx *c, json_t *rows)
{
	stack_clear(&c->undo_stack);
	stack_clear(&c->redo_stack);
	struct undo_group g = { 0 };
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		long long version = json_integer_value(json_array_get(row, 0));
		const char *kind = json_string_value(json_array_get(row, 1));
		long long undo_of = json_integer_value(json_array_get(row, 2));
		const char *at = json_string_value(json_array_get(row, 5));
		json_t *op = json_pack("{s:O, s:O}", "type", json_array_get(row, 3), "payload",
				       json_array_get(row, 4));
		bool grouped = kind && strcmp(kind, "do") != 0;
		bool continues = g.ops && grouped && !strcmp(g.kind, kind) && g.undo_of == undo_of &&
				 g.last + 1 == version && at && !strcmp(g.at, at);
		if (continues) {
			g.last = version;
			json_array_append_new(g.ops, op);
			continue;
		}
		if (g.ops)
			close_group(c, &g);
		memset(&g, 0, sizeof(g));
		g.first = g.last = version;
		snprintf(g.kind, sizeof(g.kind), "%s", kind ? kind : "do");
		snprintf(g.at, sizeof(g.at), "%s", at ? at : "");
		g.undo_of = undo_of;
		g.ops = json_array();
		json_array_append_new(g.ops, op);
	}
	if (g.ops)
		close_group(c, &g);
}

static void undo_start(struct undo_ctx *c);
static void undo_try_next_candidate(struct undo_ctx *c);

static void respond_nothing(struct undo_ctx *c)
{
	const char *status = c->skipped && json_array_size(c->skipped)
				     ? history_status_name(c->last_status)
				     : "empty";
	json_t *kept = c->last_kept ? json_incref(c->last_kept) : json_object();
	undo_finish(c, 200,
		    json_pack("{s:b, s:s, s:n, s:[], s:o, s:O, s:I}", "applied", 0, "status", status,
			      "operation", "operations", "kept", kept, "skipped", c->skipped,
			      "version", (json_int_t)c->head));
}

struct undo_commit_ctx {
	struct undo_ctx *c;
	enum history_status status;
	json_t *kept;
};

static void undo_committed(const struct commit_outcome *out, void *arg)
{
	struct undo_commit_ctx *uc = arg;
	struct undo_ctx *c = uc->c;
	if (out->count && out->results[0].status == COMMIT_CONFLICT &&
	    ++c->attempts < UNDO_MAX_ATTEMPTS) {
		/* Someone committed between our read and our write: recompute on the new head. */
		json_decref(uc->kept);
		free(uc);
		canvas_state_free(c->current);
		c->current = NULL;
		undo_start(c);
		return;
	}
	for (size_t i = 0; i < out->count; i++) {
		enum commit_status st = out->results[i].status;
		if (st == COMMIT_OK)
			continue;
		json_decref(uc->kept);
		free(uc);
		if (st == COMMIT_FORBIDDEN)
			undo_fail(c, 403, "forbidden", "your role does not allow editing");
		else if (st == COMMIT_NOT_FOUND)
			undo_fail(c, 404, "not_found", "canvas not found");
		else if (st == COMMIT_CONFLICT)
			undo_fail(c, 409, "conflict", "the canvas is changing too fast, retry");
		else if (st == COMMIT_CANVAS_FULL)
			undo_fail(c, 422, "canvas_full", "the canvas is full: undoing this would "
				  "take it past its size limit");
		else if (out->retryable)
			undo_fail(c, 503, "unavailable", "commit failed, retry");
		else
			undo_fail(c, 500, "internal", "commit failed");
		return;
	}
	json_t *ops = json_array();
	for (size_t i = 0; i < out->count; i++)
		json_array_append(ops, out->results[i].op);
	json_t *body = json_pack("{s:b, s:s, s:O, s:o, s:o, s:O, s:I}", "applied", 1, "status",
				 history_status_name(uc->status), "operation",
				 json_array_get(ops, 0), "operations", ops, "kept", uc->kept,
				 "skipped", c->skipped, "version",
				 (json_int_t)out->results[out->count - 1].version);
	free(uc);
	undo_finish(c, 200, body);
}

/* Adds the shape ids an op list touches to ids (a JSON array used as a set). */
static void collect_shape_ids(const json_t *ops, json_t *ids)
{
	size_t i, j;
	json_t *op, *id;
	json_array_foreach(ops, i, op) {
		const char *sid = op_payload_shape_id(json_object_get(op, "payload"));
		if (!sid)
			continue;
		bool seen = false;
		json_array_foreach(ids, j, id)
			seen = seen || !strcmp(json_string_value(id), sid);
		if (!seen)
			json_array_append_new(ids, json_string(sid));
	}
}

static void undo_submit_or_finish(struct undo_ctx *c)
{
	if (!c->job) {
		respond_nothing(c);
		return;
	}
	struct commit_job *job = c->job;
	c->job = NULL;
	commit_submit(job);
}

static void skips_recorded(const struct db_result *r, void *arg)
{
	struct undo_ctx *c = arg;
	if (!r->ok) {
		undo_fail_db(c, r);
		return;
	}
	undo_submit_or_finish(c);
}

/*
 * Ends the search: first records the steps passed over (so they stay popped), then commits
 * the prepared reverting ops, or answers that nothing could be undone.
 */
static void undo_conclude(struct undo_ctx *c)
{
	if (json_array_size(c->skipped) == 0) {
		undo_submit_or_finish(c);
		return;
	}
	char *versions = json_dumps(c->skipped, JSON_COMPACT);
	const char *params[] = { c->canvas_id, c->user_id, c->is_redo ? "redo" : "undo", versions };
	bool queued = db_query(undo_db,
			       "INSERT INTO undo_skips (canvas_id, user_id, stack, version) "
			       "SELECT $1, $2, $3, v::bigint "
			       "FROM jsonb_array_elements_text($4::jsonb) v ON CONFLICT DO NOTHING",
			       4, params, skips_recorded, c);
	free(versions);
	if (!queued)
		undo_fail(c, 503, "overloaded", "too many queued database requests");
}

static void before_state_loaded(struct state_result *r, void *arg)
{
	struct undo_ctx *c = arg;
	if (r->status != STATE_OK) {
		undo_fail_state(c, r);
		return;
	}
	struct history_undo h;
	enum history_status st = history_undo_ops(r->state, c->group->ops, c->current, &h);
	c->last_status = st;
	json_decref(c->last_kept);
	c->last_kept = h.kept ? json_incref(h.kept) : json_object();
	if (json_array_size(h.ops) == 0) {
		json_array_append_new(c->skipped, json_integer(c->group->first));
		history_undo_release(&h);
		undo_try_next_candidate(c);
		return;
	}
	struct undo_commit_ctx *uc = xcalloc(1, sizeof(*uc));
	uc->c = c;
	uc->status = st;
	uc->kept = json_incref(c->last_kept);
	struct commit_job *job = commit_job_new(c->canvas_id, c->user_id, undo_committed, uc);
	commit_job_want_ops(job);
	size_t i;
	json_t *op;
	json_array_foreach(h.ops, i, op) {
		enum op_type type;
		if (!op_type_parse(json_string_value(json_object_get(op, "type")), &type))
			continue; /* history only produces valid ops */
		char id[TOKEN_UUID_SIZE];
		if (!token_uuid_v4(id))
			abort(); /* no randomness: nothing safe to do */
		commit_job_add_op(job, id, type, json_incref(json_object_get(op, "payload")),
				  c->is_redo ? "redo" : "undo", c->group->first);
	}
	/* Computed on the head: still valid as long as nobody touched these shapes since. */
	json_t *guard = json_array();
	collect_shape_ids(h.ops, guard);
	collect_shape_ids(c->group->ops, guard);
	commit_job_expect_version(job, c->head);
	commit_job_guard_shapes(job, guard);
	history_undo_release(&h);
	c->job = job;
	undo_conclude(c);
}

static void undo_try_next_candidate(struct undo_ctx *c)
{
	if (c->next_candidate >= c->candidates->count ||
	    c->next_candidate >= UNDO_MAX_CANDIDATES) {
		undo_conclude(c);
		return;
	}
	c->group = &c->candidates->items[c->candidates->count - 1 - c->next_candidate++];
	if (!state_load(c->canvas_id, NULL, c->group->first - 1, before_state_loaded, c))
		undo_fail(c, 503, "overloaded", "too many queued database requests");
}

static void current_state_loaded(struct state_result *r, void *arg)
{
	struct undo_ctx *c = arg;
	if (r->status != STATE_OK) {
		undo_fail_state(c, r);
		return;
	}
	if (r->head != c->head) {
		/* A commit landed between the two reads: start over on a consistent pair. */
		if (++c->attempts >= UNDO_MAX_ATTEMPTS) {
			undo_fail(c, 409, "conflict", "the canvas is changing too fast, retry");
			return;
		}
		undo_start(c);
		return;
	}
	c->current = state_result_take_state(r);
	undo_try_next_candidate(c);
}

static void history_loaded(const struct db_result *r, void *arg)
{
	struct undo_ctx *c = arg;
	if (!r->ok) {
		undo_fail_db(c, r);
		return;
	}
	/* Columns: role, head, the user's recent ops as [[version, kind, undo_of, type, payload]],
	 * and the recorded skips as {"undo:V": true, ...}. */
	if (db_rows(r) == 0 || db_is_null(r, 0, 0)) {
		undo_fail(c, 404, "not_found", "canvas not found");
		return;
	}
	if (!role_at_least(role_parse(db_value(r, 0, 0)), ROLE_EDITOR)) {
		undo_fail(c, 403, "forbidden", "your role does not allow editing");
		return;
	}
	c->head = db_int(r, 0, 1);
	json_decref(c->skips);
	c->skips = json_loads(db_value(r, 0, 3), 0, NULL);
	json_t *rows = json_loads(db_value(r, 0, 2), 0, NULL);
	rebuild_stacks(c, rows);
	json_decref(rows);
	json_decref(c->skipped);
	c->skipped = json_array();
	c->next_candidate = 0;
	c->candidates = c->is_redo ? &c->redo_stack : &c->undo_stack;
	if (c->candidates->count == 0) {
		respond_nothing(c);
		return;
	}
	if (!state_load(c->canvas_id, NULL, c->head, current_state_loaded, c))
		undo_fail(c, 503, "overloaded", "too many queued database requests");
}

static void undo_start(struct undo_ctx *c)
{
	char window[16];
	snprintf(window, sizeof(window), "%d", UNDO_HISTORY_WINDOW);
	const char *params[] = { c->canvas_id, c->user_id, window };
	bool queued = db_query(
		undo_db,
		"SELECT m.role, c.version, "
		"  coalesce((SELECT json_agg(json_build_array(o.version, o.kind, o.undo_of, o.type, "
		"                                             o.payload, o.created_at) "
		"                            ORDER BY o.version) "
		"   FROM (SELECT * FROM operations WHERE canvas_id = $1 AND user_id = $2 "
		"         ORDER BY version DESC LIMIT $3) o), '[]')::text, "
		"  coalesce((SELECT json_object_agg(s.stack || ':' || s.version, true) "
		"   FROM undo_skips s WHERE s.canvas_id = $1 AND s.user_id = $2), '{}')::text "
		"FROM canvases c LEFT JOIN workspace_members m "
		"  ON m.workspace_id = c.workspace_id AND m.user_id = $2 "
		"WHERE c.id = $1 AND c.deleted_at IS NULL",
		3, params, history_loaded, c);
	if (!queued)
		undo_fail(c, 503, "overloaded", "too many queued database requests");
}

void undo_init(struct db_pool *db)
{
	undo_db = db;
}

void undo_run(const char *canvas_id, const char *user_id, bool redo, undo_done_fn done,
	      void *arg)
{
	struct undo_ctx *c = xcalloc(1, sizeof(*c));
	c->done = done;
	c->done_arg = arg;
	c->is_redo = redo;
	snprintf(c->canvas_id, sizeof(c->canvas_id), "%s", canvas_id);
	snprintf(c->user_id, sizeof(c->user_id), "%s", user_id);
	undo_start(c);
}
