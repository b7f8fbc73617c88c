/*
 * SVG export of a canvas state (GET /canvases/{id}/export.svg): a pure writer from the shapes
 * of a canvas_state to a standalone SVG 1.1 document. No I/O.
 *
 * Rendering rules (docs/protocol.md, "History"):
 * - shapes are painted in ascending z, ties broken by id (bytewise), so the output is
 *   deterministic for a given state;
 * - a shape's box is (x, y, w, h); rotation is in degrees, clockwise, about the box centre;
 * - points (path, line, arrow) are offsets from (x, y), so move_shape moves the whole drawing;
 *   a line or arrow with fewer than two points is the segment (x, y) to (x + w, y + h);
 * - a connector is the segment between the centres of its from/to shapes; an end whose shape
 *   does not exist falls back to the connector's own (x, y) or (x + w, y + h);
 * - text is painted in the stroke colour; a sticky is a filled rectangle (a pale yellow when
 *   its fill is "none") with its text inside; a rect, ellipse or path with text has it
 *   centred in its box, a connector at the middle of its segment (diagrams, model/diagram.h);
 * - "#rrggbbaa" colours become "#rrggbb" plus an opacity, "transparent" becomes "none";
 * - every string taken from a shape is XML-escaped, and characters XML 1.0 cannot carry at
 *   all (C0 controls other than tab/newline/CR, U+FFFE, U+FFFF) are dropped;
 * - the viewBox is the bounding box of everything drawn (rotated boxes included) plus a
 *   margin; an empty canvas gets "0 0 100 100".
 *
 * Ownership: returned strings are new allocations the caller releases with free(); the state
 * is only read.
 */
#ifndef FLOWSTATE_SVG_H
#define FLOWSTATE_SVG_H

#include <stdbool.h>
#include <stddef.h>

#include "model/canvas.h"

/* The whole document; *len (if not NULL) gets its length without the NUL. */
char *svg_render_canvas(const struct canvas_state *state, size_t *len);

/* The bounding box of everything the document draws, as {x0, y0, x1, y1} (rotations included,
 * stroke widths not); false for an empty canvas. */
bool svg_drawing_bounds(const struct canvas_state *state, double box[4]);

/* The document's viewBox {x, y, width, height}: the drawing's bounds plus a margin of 10 and
 * the widest stroke, or {0, 0, 100, 100} for an empty canvas. Its width and height attributes
 * are the same numbers, so one unit is one CSS pixel at scale 1. */
void svg_viewbox(const struct canvas_state *state, double viewbox[4]);

/* len bytes of s with & < > " ' escaped and non-XML characters dropped, NUL-terminated. */
char *svg_xml_escape(const char *s, size_t len);

#endif
