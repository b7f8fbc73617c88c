#include "core/raster.h"

#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
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

/*
 * librsvg (and through it cairo, pango, glib, fontconfig, ICU, libxml2...) is loaded when the
 * first PNG is rendered, not at startup: linked, that stack was ~6 MB of the 19.9 MB RSS of a
 * node at rest, on every node, whether it ever exports a PNG or not. dlsym on librsvg's handle
 * also finds the cairo and glib functions librsvg itself depends on. The headers still type
 * every pointer, so a changed signature fails the build.
 */

static struct {
	pthread_once_t once;
	bool ok;
	char error[160];
	__typeof__(rsvg_handle_new_from_data) *handle_new_from_data;
	__typeof__(rsvg_handle_render_document) *handle_render_document;
	__typeof__(g_object_unref) *object_unref;
	__typeof__(g_error_free) *error_free;
	__typeof__(cairo_image_surface_create) *image_surface_create;
	__typeof__(cairo_surface_status) *surface_status;
	__typeof__(cairo_status_to_string) *status_to_string;
	__typeof__(cairo_create) *create;
	__typeof__(cairo_scale) *scale;
	__typeof__(cairo_surface_flush) *surface_flush;
	__typeof__(cairo_surface_write_to_png_stream) *surface_write_to_png_stream;
	__typeof__(cairo_destroy) *destroy;
	__typeof__(cairo_surface_destroy) *surface_destroy;
} lib = { .once = PTHREAD_ONCE_INIT };

static bool raster_sym(void *handle, const char *name, void *fn_ptr)
{
	void *fn = dlsym(handle, name);
	if (!fn) {
		snprintf(lib.error, sizeof(lib.error), "%s: no %s", RASTER_LIBRARY, name);
		return false;
	}
	memcpy(fn_ptr, &fn, sizeof(fn));
	return true;
}

static void raster_load(void)
{
	/* Kept for the life of the process: nothing unloads it. */
	void *h = dlopen(RASTER_LIBRARY, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		snprintf(lib.error, sizeof(lib.error), "%s", why ? why : RASTER_LIBRARY);
		return;
	}
	lib.ok = raster_sym(h, "rsvg_handle_new_from_data", &lib.handle_new_from_data) &&
		 raster_sym(h, "rsvg_handle_render_document", &lib.handle_render_document) &&
		 raster_sym(h, "g_object_unref", &lib.object_unref) &&
		 raster_sym(h, "g_error_free", &lib.error_free) &&
		 raster_sym(h, "cairo_image_surface_create", &lib.image_surface_create) &&
		 raster_sym(h, "cairo_surface_status", &lib.surface_status) &&
		 raster_sym(h, "cairo_status_to_string", &lib.status_to_string) &&
		 raster_sym(h, "cairo_create", &lib.create) &&
		 raster_sym(h, "cairo_scale", &lib.scale) &&
		 raster_sym(h, "cairo_surface_flush", &lib.surface_flush) &&
		 raster_sym(h, "cairo_surface_write_to_png_stream",
			    &lib.surface_write_to_png_stream) &&
		 raster_sym(h, "cairo_destroy", &lib.destroy) &&
		 raster_sym(h, "cairo_surface_destroy", &lib.surface_destroy);
}

bool raster_available(char *err, size_t err_size)
{
	pthread_once(&lib.once, raster_load);
	if (!lib.ok)
		snprintf(err, err_size, "%s", lib.error);
	return lib.ok;
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
	pthread_once(&lib.once, raster_load);
	if (!lib.ok) {
		snprintf(err, err_size, "png renderer unavailable: %s", lib.error);
		return false;
	}
	if (!raster_png_size(width, height, scale, LONG_MAX, &w, &h) || w > RASTER_MAX_SIDE ||
	    h > RASTER_MAX_SIDE) {
		snprintf(err, err_size, "image too large");
		goto done;
	}
	/* RSVG_HANDLE_FLAGS_NONE keeps librsvg's own limits on huge documents. */
	handle = lib.handle_new_from_data((const guint8 *)svg, len, &gerr);
	if (!handle) {
		snprintf(err, err_size, "svg: %s", gerr ? gerr->message : "unreadable");
		goto done;
	}
	surface = lib.image_surface_create(CAIRO_FORMAT_ARGB32, (int)w, (int)h);
	if (lib.surface_status(surface) != CAIRO_STATUS_SUCCESS) {
		snprintf(err, err_size, "cairo: %s",
			 lib.status_to_string(lib.surface_status(surface)));
		goto done;
	}
	cr = lib.create(surface);
	lib.scale(cr, scale, scale);
	RsvgRectangle viewport = { 0, 0, width, height };
	if (!lib.handle_render_document(handle, cr, &viewport, &gerr)) {
		snprintf(err, err_size, "render: %s", gerr ? gerr->message : "failed");
		goto done;
	}
	lib.surface_flush(surface);
	cairo_status_t st = lib.surface_write_to_png_stream(surface, png_append, &png);
	if (st != CAIRO_STATUS_SUCCESS) {
		snprintf(err, err_size, "png: %s", lib.status_to_string(st));
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
		lib.destroy(cr);
	if (surface)
		lib.surface_destroy(surface);
	if (handle)
		lib.object_unref(handle);
	if (gerr)
		lib.error_free(gerr);
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
