/* SVG to PNG (node/core/raster.h): the size rule and its bounds, and a real render. */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/raster.h"

Test(raster, size_is_the_scaled_document_rounded_up_and_bounded)
{
	long w, h;
	cr_assert(raster_png_size(122, 82, 2, 1 << 24, &w, &h));
	cr_assert(w == 244 && h == 164);
	cr_assert(raster_png_size(100.2, 10, 1, 1 << 24, &w, &h));
	cr_assert(w == 101 && h == 10);
	cr_assert(raster_png_size(0.001, 0.001, 0.5, 1 << 24, &w, &h));
	cr_assert(w == 1 && h == 1, "never a zero side");
	/* The area bound, exactly. */
	cr_assert(raster_png_size(1024, 1024, 1, 1 << 20, &w, &h));
	cr_assert_not(raster_png_size(1025, 1024, 1, 1 << 20, &w, &h));
	cr_assert(w == 1025 && h == 1024, "the size is reported when refused");
	/* A side past cairo's limit, whatever the area bound. */
	cr_assert_not(raster_png_size(RASTER_MAX_SIDE + 1, 1, 1, LONG_MAX, &w, &h));
	cr_assert(raster_png_size(RASTER_MAX_SIDE, 1, 1, LONG_MAX, &w, &h));
	/* Huge documents do not overflow. */
	cr_assert_not(raster_png_size(2e9, 2e9, 100, LONG_MAX, &w, &h));
	cr_assert_eq(w, INT_MAX);
}

Test(raster, renders_a_document_to_png_of_the_computed_size)
{
	static const char svg[] = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"-10 -10 40 20\" "
				  "width=\"40\" height=\"20\"><rect x=\"-10\" y=\"-10\" width=\"20\" "
				  "height=\"20\" fill=\"#ff0000\"/><text x=\"0\" y=\"5\">hi</text></svg>";
	struct raster_png png;
	char err[200];
	cr_assert(raster_svg_to_png(svg, strlen(svg), 40, 20, 1.5, &png, err, sizeof(err)), "%s",
		  err);
	cr_assert(png.width == 60 && png.height == 30);
	cr_assert(png.len > 33 && !memcmp(png.data, "\x89PNG\r\n\x1a\n", 8));
	cr_assert(!memcmp(png.data + 12, "IHDR", 4));
	const unsigned char *ihdr = png.data + 16;
	cr_assert_eq((ihdr[0] << 24) | (ihdr[1] << 16) | (ihdr[2] << 8) | ihdr[3], 60);
	cr_assert_eq((ihdr[4] << 24) | (ihdr[5] << 16) | (ihdr[6] << 8) | ihdr[7], 30);
	free(png.data);
}

Test(raster, refuses_what_is_not_svg)
{
	struct raster_png png;
	char err[200] = "";
	cr_assert_not(raster_svg_to_png("<html>", 6, 10, 10, 1, &png, err, sizeof(err)));
	cr_assert(err[0], "a reason is given");
	cr_assert_null(png.data);
	cr_assert_not(raster_svg_to_png("<svg xmlns=\"http://www.w3.org/2000/svg\"/>", 41, 40000, 1,
					1, &png, err, sizeof(err)));
}
