/*
 * Exports and imports over REST (docs/protocol.md, "Export" and "Diagrams as code"):
 *   GET  /canvases/{id}/export.png?at=&scale=   the export.svg document rasterized (librsvg)
 *   GET  /canvases/{id}/export.mmd?at=          the canvas as a Mermaid flowchart
 *   POST /canvases/{id}/import/mermaid          a Mermaid flowchart laid out onto the canvas
 *
 * Work that grows with the canvas (SVG, rasterizing, the graph of the canvas) runs on the
 * export worker threads (core/workers.h), never on the loop; a job owns its state while it is
 * out there, and its done callback, on the loop, answers the request (which http.c keeps
 * alive until then, even if the client left). PNG jobs are bounded per node
 * (FLOWSTATE_EXPORT_PNG_JOBS, 503 beyond): each holds a surface of up to
 * FLOWSTATE_EXPORT_PNG_MAX_PIXELS x 4 bytes.
 *
 * The import is laid out on a canvas worker, with the head state it goes beside (the work hook
 * of store/state.h), and committed as one commit job with every op (store/commit.h: the one
 * write path): all or nothing, as one block of consecutive versions, within the canvas limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "auth/token.h"
#include "base/alloc.h"
#include "base/log.h"
#include "codec/mermaid.h"
#include "codec/query.h"
#include "core/raster.h"
#include "core/ratelimit.h"
#include "core/workers.h"
#include "model/diagram.h"
#include "model/svg.h"
#include "store/commit.h"
#include "store/state.h"

#define VERSION_MAX (1ll << 53)
#define SCALE_MIN 0.01
#define SCALE_MAX 100.0

/* ---- export jobs ---------------------------------------------------------------------------- */

enum export_kind { EXPORT_PNG, EXPORT_MMD };

struct export_job {
	struct http_request *req;
	enum export_kind kind;
	struct canvas_state *state;     /* owned; only the worker reads it while out */
	double scale;
	long max_pixels;
	/* results, written by the worker */
	int status;                     /* HTTP status to answer */
	long width, height;             /* PNG size (also when too large) */
	char *body;
	size_t body_len;
	char error[200];
};

static int png_jobs;                /* PNG exports accepted and not yet answered */

static void export_job_free(struct export_job *j)
{
	if (j->kind == EXPORT_PNG)
		png_jobs--;
	canvas_state_free(j->state);
	free(j->body);
	free(j);
}

/* On a worker thread: only the job is touched. */
static void export_work(void *arg)
{
	struct export_job *j = arg;
	if (j->kind == EXPORT_MMD) {
		struct diagram d;
		diagram_from_canvas(j->state, &d);
		j->body = mermaid_write(&d, &j->body_len);
		diagram_free(&d);
		j->status = 200;
		return;
	}
	if (!raster_available(j->error, sizeof(j->error))) {
		j->status = 501;
		return;
	}
	double vb[4];
	svg_viewbox(j->state, vb);
	if (!raster_png_size(vb[2], vb[3], j->scale, j->max_pixels, &j->width, &j->height)) {
		j->status = 422;
		return;
	}
	size_t svg_len;
	char *svg = svg_render_canvas(j->state, &svg_len);
	struct raster_png png;
	if (raster_svg_to_png(svg, svg_len, vb[2], vb[3], j->scale, &png, j->error,
			      sizeof(j->error))) {
		j->body = (char *)png.data;
		j->body_len = png.len;
		j->status = 200;
	} else {
		j->status = 500;
	}
	free(svg);
}

/* On the loop: answers the request. */
static void export_done(void *arg)
{
	struct export_job *j = arg;
	struct http_request *req = j->req;
	if (j->status == 200) {
		http_respond(req, 200,
			     j->kind == EXPORT_PNG ? "image/png" : "text/plain; charset=utf-8",
			     j->body, j->body_len);
	} else if (j->status == 422) {
		http_respond_errorf(req, 422, "too_large",
				    "the image would be %ld x %ld pixels: at most %ld pixels and %d "
				    "a side (lower ?scale=)",
				    j->width, j->height, j->max_pixels, RASTER_MAX_SIDE);
	} else if (j->status == 501) {
		char quoted[300];
		log_warn("export_png_unavailable", "req=%llu error=%s", (unsigned long long)req->id,
			 log_quote(quoted, sizeof(quoted), j->error));
		http_respond_errorf(req, 501, "png_unavailable",
				    "PNG export is not available on this node (%s could not be "
				    "loaded); SVG and Mermaid exports are",
				    RASTER_LIBRARY);
	} else {
		char quoted[300];
		log_error("export_failed", "req=%llu error=%s", (unsigned long long)req->id,
			  log_quote(quoted, sizeof(quoted), j->error));
		http_respond_error(req, 500, "internal", "internal error");
	}
	export_job_free(j);
}

static void export_state_loaded(struct state_result *r, void *arg)
{
	struct export_job *j = arg;
	if (r->status != STATE_OK) {
		api_respond_state_failure(j->req, r);
		export_job_free(j);
		return;
	}
	j->state = state_result_take_state(r);
	workers_submit(api_env()->export_workers, export_work, export_done, j);
}

static void export_start(struct http_request *req, enum export_kind kind, double scale)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	long long at = -1;
	if (!api_query_int(req, "at", 0, VERSION_MAX, &at, NULL))
		return;
	if (kind == EXPORT_PNG && png_jobs >= api_env()->cfg->export_png_jobs) {
		http_respond_error(req, 503, "overloaded", "too many image exports in progress, retry");
		return;
	}
	struct export_job *j = xcalloc(1, sizeof(*j));
	j->req = req;
	j->kind = kind;
	j->scale = scale;
	j->max_pixels = api_env()->cfg->export_png_max_pixels;
	if (kind == EXPORT_PNG)
		png_jobs++;
	if (!state_load(canvas_id, req->user_id, at, export_state_loaded, j)) {
		http_respond_error(req, 503, "overloaded", "too many queued database requests");
		export_job_free(j);
	}
}

/* export.svg's handler lives with the history (api/history.c); its route comes here first. */
void api_export_svg_link(struct http_request *req)
{
	if (api_authenticate_header_or_query(req))
		api_export_svg(req);
}

void api_export_png(struct http_request *req)
{
	if (!api_authenticate_header_or_query(req))
		return;
	double scale = 1.0;
	if (!query_get_decimal(req->head.query, "scale", SCALE_MIN, SCALE_MAX, &scale, NULL)) {
		http_respond_errorf(req, 422, "invalid_query",
				    "scale: must be a decimal number from %g to %g", SCALE_MIN,
				    SCALE_MAX);
		return;
	}
	export_start(req, EXPORT_PNG, scale);
}

void api_export_mmd(struct http_request *req)
{
	if (!api_authenticate_header_or_query(req))
		return;
	export_start(req, EXPORT_MMD, 1.0);
}

/* ---- POST /canvases/{id}/import/mermaid ------------------------------------------------------ */

struct import_ctx {
	struct http_request *req;
	char canvas_id[64];
	struct diagram diagram;
	char prefix[32];              /* of the new shapes' ids */
	json_t *ops;                  /* [{type, payload}], laid out on a canvas worker */
	json_t *shape_ids;            /* {mermaid id: shape id} */
};

static void import_ctx_free(struct import_ctx *c)
{
	diagram_free(&c->diagram);
	json_decref(c->ops);
	json_decref(c->shape_ids);
	free(c);
}

static void import_committed(const struct commit_outcome *out, void *arg)
{
	struct import_ctx *c = arg;
	for (size_t i = 0; i < out->count; i++) {
		const struct commit_op_result *res = &out->results[i];
		if (res->status != COMMIT_OK || !res->op) {
			/* All or nothing: fresh op ids are never duplicates, so anything else failed
			 * the whole job. */
			api_respond_commit_failure(c->req, out, res, NULL);
			import_ctx_free(c);
			return;
		}
	}
	json_t *ops = json_array();
	for (size_t i = 0; i < out->count; i++)
		json_array_append(ops, out->results[i].op);
	json_t *body = json_pack("{s:s, s:I, s:I, s:I, s:I, s:O, s:o}", "canvas_id",
				 c->canvas_id, "version",
				 (json_int_t)out->results[out->count - 1].version,
				 "operations_applied", (json_int_t)out->count, "nodes",
				 (json_int_t)c->diagram.node_count, "edges",
				 (json_int_t)c->diagram.edge_count, "shape_ids", c->shape_ids,
				 "operations", ops);
	http_respond_json(c->req, 201, body);
	import_ctx_free(c);
}

/* On a canvas worker (store/state.h's work hook): the layout reads every existing shape. */
static void import_layout(struct state_result *r, void *arg)
{
	struct import_ctx *c = arg;
	c->ops = diagram_layout_ops(&c->diagram, r->state, c->prefix, &c->shape_ids);
}

static void import_head_loaded(struct state_result *r, void *arg)
{
	struct import_ctx *c = arg;
	struct http_request *req = c->req;
	if (r->status != STATE_OK) {
		api_respond_state_failure(req, r);
		import_ctx_free(c);
		return;
	}
	if (!role_at_least(api_role(r->role), ROLE_EDITOR)) {
		http_respond_error(req, 403, "forbidden", "your role does not allow editing");
		import_ctx_free(c);
		return;
	}
	size_t n = json_array_size(c->ops);
	const struct config *cfg = api_env()->cfg;
	/* A diagram costs its ops, but never more than a full bucket: a maximal import is
	 * possible, and it still empties the user's budget for a while. */
	double cost = (double)n < cfg->user_ops_burst ? (double)n : (double)cfg->user_ops_burst;
	if (!ratelimit_take_user(req->user_id, cost)) {
		http_respond_errorf(req, 429, "rate_limited",
				    "rate limit: at most %d operations per second per user (burst "
				    "%d); this diagram is %zu",
				    cfg->user_ops_per_second, cfg->user_ops_burst, n);
		import_ctx_free(c);
		return;
	}
	struct commit_job *job = commit_job_new(c->canvas_id, req->user_id, import_committed, c);
	commit_job_want_ops(job);   /* the answer lists the operations as objects */
	for (size_t i = 0; i < n; i++) {
		char op_id[TOKEN_UUID_SIZE];
		const json_t *op = json_array_get(c->ops, i);
		if (!token_uuid_v4(op_id)) {
			commit_job_discard(job);
			http_respond_error(req, 500, "internal", "internal error");
			import_ctx_free(c);
			return;
		}
		commit_job_add_op(job, op_id, OP_CREATE_SHAPE,
				  json_incref(json_object_get(op, "payload")), "do", 0);
	}
	commit_submit(job);
}

static bool mermaid_content_type(const struct http_request *req)
{
	const struct http_slice *ct = http_header_get(&req->head, "Content-Type");
	if (!ct)
		return true; /* curl --data-binary without -H: take it as the text it is */
	static const char *const accepted[] = { "text/plain", "text/vnd.mermaid",
						"text/x-mermaid" };
	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		size_t n = strlen(accepted[i]);
		if (ct->len >= n && !strncasecmp(ct->ptr, accepted[i], n) &&
		    (ct->len == n || ct->ptr[n] == ';' || ct->ptr[n] == ' '))
			return true;
	}
	return false;
}

void api_import_mermaid(struct http_request *req)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	if (!mermaid_content_type(req)) {
		http_respond_error(req, 415, "unsupported_media_type",
				   "send the Mermaid flowchart as text/plain");
		return;
	}
	if (req->body_len > MERMAID_MAX_BYTES) {
		http_respond_errorf(req, 413, "payload_too_large",
				    "a Mermaid diagram is at most %d bytes", MERMAID_MAX_BYTES);
		return;
	}
	struct import_ctx *c = xcalloc(1, sizeof(*c));
	c->req = req;
	snprintf(c->canvas_id, sizeof(c->canvas_id), "%s", canvas_id);
	struct mermaid_error err;
	if (!mermaid_parse(req->body, req->body_len, &c->diagram, &err)) {
		json_t *body = json_pack("{s:s, s:s, s:i, s:i}", "code", "invalid_mermaid", "detail",
					 "", "line", err.line, "column", err.column);
		char detail[260];
		snprintf(detail, sizeof(detail), "line %d, column %d: %s", err.line, err.column,
			 err.message);
		json_object_set_new(body, "detail", json_string(detail));
		http_respond_json(req, 422, body);
		import_ctx_free(c);
		return;
	}
	/* Shape ids: a random prefix per import, so two imports never collide. */
	char uuid[TOKEN_UUID_SIZE];
	if (!token_uuid_v4(uuid)) {
		http_respond_error(req, 500, "internal", "internal error");
		import_ctx_free(c);
		return;
	}
	snprintf(c->prefix, sizeof(c->prefix), "mmd-%.8s%.4s", uuid, uuid + 9);
	/* The head state (where the existing drawing is) and the caller's role; the layout runs
	 * with the state, off the loop. */
	if (!state_load_with(canvas_id, req->user_id, -1, import_layout, import_head_loaded, c)) {
		http_respond_error(req, 503, "overloaded", "too many queued database requests");
		import_ctx_free(c);
	}
}
