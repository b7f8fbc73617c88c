/*
 * Diagrams as code, the model half: a labelled directed graph (nodes with a label and a
 * shape, edges with a label and a style), read from a canvas (GET export.mmd) and laid out
 * onto a canvas as create_shape ops (POST import/mermaid). The text format itself (Mermaid
 * flowcharts) is a codec of untrusted bytes and lives in codec/mermaid.h; this module knows
 * nothing of its syntax. Pure: no I/O.
 *
 * How a graph maps to canvas shapes (docs/protocol.md, "Diagrams as code"):
 *   node  rect [] and rounded () → kind rect, diamond {} → kind path (a closed rhombus),
 *         circle (()) → ellipse with w = h, stadium ([]) → ellipse with w > h; the label is
 *         the shape's text.
 *   edge  a connector from → to with the label as its text: --> and --- plain (width 1),
 *         -.-> dotted (opacity 0.5), ==> thick (width 3).
 * And back: every shape that is not a connector and has text is a node, and so is every
 * shape a connector attaches to at both ends; such connectors are the edges. rect, sticky,
 * text and others are [], an ellipse with w = h is (()), another ellipse ([]), a closed
 * 5-point path {}; a connector of opacity < 1 is -.->, of width >= 3 ==>, else -->. So a
 * graph survives the trip canvas → text → canvas except that () comes back as [] and ---
 * as -->.
 *
 * Ownership: a diagram owns its strings (copied in); diagram_free releases them. Functions
 * returning json_t * return new references.
 */
#ifndef FLOWSTATE_DIAGRAM_H
#define FLOWSTATE_DIAGRAM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "model/canvas.h"

/* Bounds of one imported diagram (the parser enforces them; layout relies on them). */
#define DIAGRAM_MAX_NODES 500
#define DIAGRAM_MAX_EDGES 2000
#define DIAGRAM_MAX_LABEL 10000  /* bytes of one label: a shape's text bound */
#define DIAGRAM_MAX_ID 64        /* bytes of a node id in the text */

enum diagram_direction { DIAGRAM_TD, DIAGRAM_BT, DIAGRAM_LR, DIAGRAM_RL };
enum diagram_shape { DIAGRAM_RECT, DIAGRAM_ROUNDED, DIAGRAM_DIAMOND, DIAGRAM_CIRCLE,
		     DIAGRAM_STADIUM };
enum diagram_edge_style { DIAGRAM_ARROW, DIAGRAM_LINE, DIAGRAM_DOTTED, DIAGRAM_THICK };

struct diagram_node {
	char *id;              /* the node's name in the text */
	char *label;           /* UTF-8, may contain '\n' */
	enum diagram_shape shape;
};

struct diagram_edge {
	size_t from, to;       /* node indices */
	char *label;           /* NULL: none */
	enum diagram_edge_style style;
};

struct diagram {
	enum diagram_direction direction;
	struct diagram_node *nodes;
	size_t node_count, node_cap;
	struct diagram_edge *edges;
	size_t edge_count, edge_cap;
};

void diagram_init(struct diagram *d);
void diagram_free(struct diagram *d);

/* The node named id, or -1. */
long diagram_find_node(const struct diagram *d, const char *id, size_t id_len);
/* Adds a node (id and label copied); returns its index. Callers check the bounds first. */
size_t diagram_add_node(struct diagram *d, const char *id, size_t id_len, const char *label,
			size_t label_len, enum diagram_shape shape);
/* Replaces a node's label (copied) and shape. */
void diagram_set_node(struct diagram *d, size_t index, const char *label, size_t label_len,
		      enum diagram_shape shape);
void diagram_add_edge(struct diagram *d, size_t from, size_t to, const char *label,
		      size_t label_len, enum diagram_edge_style style);

/*
 * The graph a canvas holds (see above). Nodes are ordered by shape id (bytewise) and named
 * n1, n2, ...; edges by connector id. The direction is the one the edges mostly run in on the
 * canvas (TD when there are none or no majority).
 */
void diagram_from_canvas(const struct canvas_state *state, struct diagram *out);

/*
 * Lays the diagram out (a layered layout in its direction: ranks by longest path after
 * reversing the back edges of a depth-first search, order within ranks by barycentre sweeps)
 * beside what the canvas already holds (to its right, top-aligned; at the origin on an empty
 * canvas), in front of it (z above every existing shape), and returns the create_shape ops as
 * a JSON array of {type, payload}, nodes first, all valid and normalized. Shape ids are
 * "<prefix>-n0001"... and "<prefix>-e0001"... (prefix: at most 40 characters of
 * [A-Za-z0-9_.:-], so ids stay within the 64-byte rule and sort in the diagram's order).
 * *shape_ids (if not NULL) gets {node id: shape id}.
 */
json_t *diagram_layout_ops(const struct diagram *d, const struct canvas_state *existing,
			   const char *prefix, json_t **shape_ids);

/* Labelled graphs equal: same direction (if check_direction), nodes in order with equal
 * labels and shapes (DIAGRAM_ROUNDED counting as DIAGRAM_RECT), edges in order with equal
 * ends, labels and styles (DIAGRAM_LINE counting as DIAGRAM_ARROW). Node ids are ignored. */
bool diagram_equal(const struct diagram *a, const struct diagram *b, bool check_direction);

#endif
