/*
 * libFuzzer target for the Mermaid flowchart codec (common/codec/mermaid.h) and the layout
 * behind the import (common/model/diagram.h): a diagram is untrusted text. Every input is
 * parsed; a refusal must name a line and column inside the input; whatever parses must
 * respect the bounds, write out and read back as the same graph, and lay out into valid ops
 * (diagram_layout_ops aborts on an invalid one) whose canvas reads back as the same graph.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/validate.h"
#include "codec/mermaid.h"
#include "model/canvas.h"
#include "model/diagram.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

/* Every node is part of the canvas's graph on the way back: it has text or a link. */
static bool every_node_exports(const struct diagram *d)
{
	for (size_t i = 0; i < d->node_count; i++) {
		bool linked = false;
		for (size_t e = 0; e < d->edge_count && !linked; e++)
			linked = d->edges[e].from == i || d->edges[e].to == i;
		if (!linked && !d->nodes[i].label[0])
			return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diagram d;
	struct mermaid_error err;
	if (!mermaid_parse((const char *)data, size, &d, &err)) {
		size_t lines = 1;
		for (size_t i = 0; i < size; i++)
			lines += data[i] == '\n';
		check(err.line >= 1 && (size_t)err.line <= lines && err.column >= 1);
		check(err.message[0] && validate_utf8(err.message, strlen(err.message)));
		diagram_free(&d);
		return 0;
	}
	check(d.node_count >= 1 && d.node_count <= DIAGRAM_MAX_NODES);
	check(d.edge_count <= DIAGRAM_MAX_EDGES);
	for (size_t i = 0; i < d.node_count; i++)
		check(strlen(d.nodes[i].label) <= DIAGRAM_MAX_LABEL &&
		      validate_utf8(d.nodes[i].label, strlen(d.nodes[i].label)));
	for (size_t i = 0; i < d.edge_count; i++)
		check(d.edges[i].from < d.node_count && d.edges[i].to < d.node_count &&
		      (!d.edges[i].label || d.edges[i].label[0]));

	/* The writer and the parser agree (unless escaping took the text past the bound). */
	size_t len;
	char *text = mermaid_write(&d, &len);
	if (len <= MERMAID_MAX_BYTES) {
		struct diagram back;
		check(mermaid_parse(text, len, &back, &err));
		check(diagram_equal(&d, &back, true));
		for (size_t i = 0; i < d.node_count; i++)
			check(back.nodes[i].shape == d.nodes[i].shape);
		for (size_t i = 0; i < d.edge_count; i++)
			check(back.edges[i].style == d.edges[i].style);
		diagram_free(&back);
	}
	free(text);

	/* The import's ops are valid and make the same graph on a canvas. */
	json_t *ops = diagram_layout_ops(&d, NULL, "fz", NULL);
	check(json_array_size(ops) == d.node_count + d.edge_count);
	struct canvas_state *s = canvas_state_new();
	size_t i;
	json_t *op;
	json_array_foreach(ops, i, op)
		check(canvas_apply_op(s, op));
	if (every_node_exports(&d)) {
		struct diagram again;
		diagram_from_canvas(s, &again);
		check(diagram_equal(&d, &again, false));
		diagram_free(&again);
	}
	canvas_state_free(s);
	json_decref(ops);
	diagram_free(&d);
	return 0;
}
