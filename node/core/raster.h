/*
 * SVG to PNG (GET export.png): the one user of librsvg and cairo. A pure computation on its
 * inputs, meant for a worker thread (core/workers.h): every call has its own handle and
 * surface and touches nothing shared, and nothing here reads files or the network (the
 * document is parsed from memory with no base location, so it cannot reference anything).
 *
 * The document is drawn scaled by `scale` into a surface of ceil(width x scale) by
 * ceil(height x scale) pixels, where width and height are the document's viewBox size (which
 * svg_render_canvas also writes as its width and height): one canvas unit is `scale` pixels,
 * the background transparent as in the SVG.
 *
 * Ownership: raster_png.data is malloc'd; the caller frees it.
 */
#ifndef FLOWSTATE_CORE_RASTER_H
#define FLOWSTATE_CORE_RASTER_H

#include <stdbool.h>
#include <stddef.h>

/* The library loaded for rendering (Debian's librsvg2-2). */
#define RASTER_LIBRARY "librsvg-2.so.2"

/* cairo's image surfaces are limited to 32767 pixels a side. */
#define RASTER_MAX_SIDE 32767

/*
 * The pixel size of a width x height document at scale; false when a side would pass
 * RASTER_MAX_SIDE or the area max_pixels (w and h are set either way, capped to INT_MAX).
 */
bool raster_png_size(double width, double height, double scale, long max_pixels, long *w,
		     long *h);

struct raster_png {
	unsigned char *data;
	size_t len;
	long width, height;
};

/*
 * Whether PNGs can be rendered here: librsvg is loaded at the first call (dlopen, once per
 * process; a few tens of milliseconds, so from a worker thread). false, with the loader's
 * reason in err, when it is not installed or not usable.
 */
bool raster_available(char *err, size_t err_size);

/* Renders; false (with a reason in err) if the document does not parse or cairo fails. */
bool raster_svg_to_png(const char *svg, size_t len, double width, double height, double scale,
		       struct raster_png *out, char *err, size_t err_size)
	__attribute__((warn_unused_result));

#endif
