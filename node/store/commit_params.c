#include "store/commit_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

void commit_params_init(struct commit_params *p, long long max_shapes, long long max_bytes)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->max_shapes, sizeof(p->max_shapes), "%lld", max_shapes);
	snprintf(p->max_bytes, sizeof(p->max_bytes), "%lld", max_bytes);
	commit_params_reset(p);
}

static void open_array(struct strbuf *b, char c)
{
	strbuf_reset(b);
	strbuf_putc(b, c);
}

void commit_params_reset(struct commit_params *p)
{
	struct strbuf *arrays[] = { &p->canvases, &p->expected, &p->wait,  &p->op_canvas,
				    &p->ids,      &p->users,    &p->types, &p->kinds,
				    &p->undo_of,  &p->sizes,    &p->jobs };
	for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++)
		open_array(arrays[i], '{');
	open_array(&p->guards, '[');
	open_array(&p->payloads, '[');
	p->canvas_count = p->op_count = p->job_count = p->wait_count = 0;
	p->any_guard = false;
}

/* Appends an element, with the separator the element count calls for. */
static void element(struct strbuf *b, size_t index, const char *text)
{
	if (index > 0)
		strbuf_putc(b, ',');
	strbuf_puts(b, text);
}

size_t commit_params_add_canvas(struct commit_params *p, const char *canvas_id,
				long long expected, const json_t *guard, bool wait)
{
	size_t i = p->canvas_count++;
	element(&p->canvases, i, canvas_id);
	if (wait)
		element(&p->wait, p->wait_count++, canvas_id);
	char text[32];
	if (expected >= 0)
		snprintf(text, sizeof(text), "%lld", expected);
	element(&p->expected, i, expected >= 0 ? text : "NULL");
	char *guard_text = guard ? json_dumps(guard, JSON_COMPACT) : NULL;
	element(&p->guards, i, guard_text ? guard_text : "null");
	if (guard_text)
		p->any_guard = true;
	free(guard_text);
	return i + 1;
}

void commit_params_next_job(struct commit_params *p)
{
	p->job_count++;
}

void commit_params_add_op(struct commit_params *p, size_t canvas_index, const char *user_id,
			  const struct commit_op *op)
{
	size_t i = p->op_count++;
	char num[32];
	snprintf(num, sizeof(num), "%zu", canvas_index);
	element(&p->op_canvas, i, num);
	element(&p->ids, i, op->client_op_id);
	element(&p->users, i, user_id);
	element(&p->types, i, op_type_name(op->type));
	element(&p->kinds, i, op->kind);
	if (op->undo_of > 0)
		snprintf(num, sizeof(num), "%lld", op->undo_of);
	element(&p->undo_of, i, op->undo_of > 0 ? num : "NULL");
	snprintf(num, sizeof(num), "%zu", p->job_count);
	element(&p->jobs, i, num);
	if (i > 0)
		strbuf_putc(&p->payloads, ',');
	strbuf_append(&p->payloads, op->payload_text, op->payload_len);
	snprintf(num, sizeof(num), "%zu", op->payload_len);
	element(&p->sizes, i, num);
}

void commit_params_finish(struct commit_params *p)
{
	struct strbuf *arrays[] = { &p->canvases, &p->expected, &p->wait,  &p->op_canvas,
				    &p->ids,      &p->users,    &p->types, &p->kinds,
				    &p->undo_of,  &p->sizes,    &p->jobs };
	for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++)
		strbuf_putc(arrays[i], '}');
	strbuf_putc(&p->guards, ']');
	strbuf_putc(&p->payloads, ']');
	const char *values[COMMIT_PARAM_COUNT] = {
		strbuf_str(&p->canvases), strbuf_str(&p->expected),
		p->any_guard ? strbuf_str(&p->guards) : NULL, strbuf_str(&p->wait),
		strbuf_str(&p->op_canvas), strbuf_str(&p->ids), strbuf_str(&p->users),
		strbuf_str(&p->types), strbuf_str(&p->kinds), strbuf_str(&p->undo_of),
		strbuf_str(&p->sizes), strbuf_str(&p->jobs), strbuf_str(&p->payloads),
		p->max_shapes, p->max_bytes,
	};
	memcpy(p->values, values, sizeof(values));
}

void commit_params_free(struct commit_params *p)
{
	struct strbuf *all[] = { &p->canvases, &p->expected, &p->guards, &p->wait,
				 &p->op_canvas, &p->ids,     &p->users,  &p->types,
				 &p->kinds,    &p->undo_of,  &p->sizes,  &p->jobs,
				 &p->payloads };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		strbuf_free(all[i]);
}

enum commit_status commit_status_parse(const char *s)
{
	static const struct {
		const char *name;
		enum commit_status status;
	} names[] = {
		{ "committed", COMMIT_OK },          { "duplicate", COMMIT_DUPLICATE },
		{ "forbidden", COMMIT_FORBIDDEN },   { "not_found", COMMIT_NOT_FOUND },
		{ "conflict", COMMIT_CONFLICT },     { "id_conflict", COMMIT_ID_CONFLICT },
		{ "canvas_full", COMMIT_CANVAS_FULL }, { "busy", COMMIT_BUSY },
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(s, names[i].name))
			return names[i].status;
	return COMMIT_FAILED;
}
