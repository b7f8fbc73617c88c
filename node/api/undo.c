/* POST /canvases/{id}/undo and /redo: the REST face of the undo engine (app/undo.h). */
#include <jansson.h>

#include "api/api.h"
#include "app/undo.h"

static void undo_http_done(void *arg, int status, json_t *body)
{
	http_respond_json(arg, status, body);
}

static void undo_or_redo(struct http_request *req, bool redo)
{
	char canvas_id[64];
	if (!api_canvas_param(req, canvas_id))
		return;
	if (req->body_len) {
		/* No body fields are defined; reject anything so typos are not silently ignored. */
		json_t *body = api_parse_body(req, NULL, 0);
		if (!body)
			return;
		json_decref(body);
	}
	undo_run(canvas_id, req->user_id, redo, undo_http_done, req);
}

void api_undo(struct http_request *req)
{
	undo_or_redo(req, false);
}

void api_redo(struct http_request *req)
{
	undo_or_redo(req, true);
}
