#include "core/raster.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairo.h>
#include <librsvg/rsvg.h>

#include "base/alloc.h"

bool raster_png_size(double width, double height, double scale, long max_pixels, long *w,
		     long *h)
{
	double fw = ceil(width * scale), fh = ceil(height * scale);
	if (!(fw >= 1))
		fw = 1;
	if (!(fh >= 1))
		fh = 1;
	*w = fw > INT_MAX ? INT_MAX : (long)fw;
	*h = fh > INT_MAX ? INT_MAX : (long)fh;
	return fw <= RASTER_MAX_SIDE && fh <= RASTER_MAX_SIDE && fw * fh <= (double)max_pixels;
}

struct png_buffer {
	unsigned char *data;
	size_t len, cap;
};

static cairo_status_t png_append(void *closure, const unsigned char *data, unsigned int length)
{
	struct png_buffer *b = closure;
	if (b->len + length > b->cap) {
		b->cap = (b->len + length) * 2;
		b->data = xrealloc(b->data, b->cap);
	}
	memcpy(b->data + b->len, data, length);
	b->len += length;
	return CAIRO_STATUS_SUCCESS;
}

bool raster_svg_to_png(const char *svg, size_t len, double width, double height, double scale,
		       struct raster_png *out, char *err, size_t err_size)
{
	memset(out, 0, sizeof(*out));
	bool ok = false;
	GError *gerr = NULL;
	RsvgHandle *handle = NULL;
	cairo_surface_t *surface = NULL;
	cairo_t *cr = NULL;
	struct png_buffer png = { 0 };
	long w, h;
	if (!raster_png_size(width, height, scale, LONG_MAX, &w, &h) || w > RASTER_MAX_SIDE ||
	    h > RASTER_MAX_SIDE) {
		snprintf(err, err_size, "image too large");
		goto done;
	}
	/* RSVG_HANDLE_FLAGS_NONE keeps librsvg's own limits on huge documents. */
	handle = rsvg_handle_new_from_data((const guint8 *)svg, len, &gerr);
	if (!handle) {
		snprintf(err, err_size, "svg: %s", gerr ? gerr->message : "unreadable");
		goto done;
	}
	surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, (int)w, (int)h);
	if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS) {
		snprintf(err, err_size, "cairo: %s",
			 cairo_status_to_string(cairo_surface_status(surface)));
		goto done;
	}
	cr = cairo_create(surface);
	cairo_scale(cr, scale, scale);
	RsvgRectangle viewport = { 0, 0, width, height };
	if (!rsvg_handle_render_document(handle, cr, &viewport, &gerr)) {
		snprintf(err, err_size, "render: %s", gerr ? gerr->message : "failed");
		goto done;
	}
	cairo_surface_flush(surface);
	cairo_status_t st = cairo_surface_write_to_png_stream(surface, png_append, &png);
	if (st != CAIRO_STATUS_SUCCESS) {
		snprintf(err, err_size, "png: %s", cairo_status_to_string(st));
		goto done;
	}
	out->data = png.data;
	out->len = png.len;
	out->width = w;
	out->height = h;
	png.data = NULL;
	ok = true;
done:
	free(png.data);
	if (cr)
		cairo_destroy(cr);
	if (surface)
		cairo_surface_destroy(surface);
	if (handle)
		g_object_unref(handle);
	if (gerr)
		g_error_free(gerr);
	return ok;
}

/*
 * LeakSanitizer (sanitized builds only; an ordinary build never calls this): fontconfig, which
 * librsvg reaches through pango for text, keeps its configuration and font caches for the
 * life of the process and frees nothing at exit. Measured: a constant 16 to 30 KB whatever the
 * number of renders and threads. Only allocations made inside fontconfig are exempted, so a
 * leak of ours, of librsvg's or of pango's per render is still reported.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libfontconfig.so\n";
}
