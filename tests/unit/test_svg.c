#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "model/canvas.h"
#include "model/svg.h"

/* A state holding the shapes given as create_shape payloads (a JSON array). */
static struct canvas_state *state_of(const char *payloads)
{
	json_error_t jerr;
	json_t *list = json_loads(payloads, 0, &jerr);
	cr_assert_not_null(list, "test JSON does not parse: %s", jerr.text);
	struct canvas_state *state = canvas_state_new();
	size_t i;
	json_t *p;
	json_array_foreach(list, i, p)
		cr_assert(canvas_apply(state, OP_CREATE_SHAPE, p), "shape %zu applies", i);
	json_decref(list);
	return state;
}

static char *render(const char *payloads)
{
	struct canvas_state *state = state_of(payloads);
	size_t len = 0;
	char *svg = svg_render_canvas(state, &len);
	cr_assert_eq(len, strlen(svg));
	canvas_state_free(state);
	return svg;
}

static void expect_contains(const char *svg, const char *needle)
{
	cr_assert_not_null(strstr(svg, needle), "expected %s in\n%s", needle, svg);
}

static void expect_not_contains(const char *svg, const char *needle)
{
	cr_assert_null(strstr(svg, needle), "did not expect %s in\n%s", needle, svg);
}

/* The <g> element of a shape, up to its end. */
static char *group_of(const char *svg, const char *id)
{
	char open[128];
	snprintf(open, sizeof(open), "<g data-shape-id=\"%s\"", id);
	const char *start = strstr(svg, open);
	cr_assert_not_null(start, "no group for %s in\n%s", id, svg);
	const char *end = strstr(start, "</g>");
	cr_assert_not_null(end);
	return xstrndup(start, (size_t)(end - start));
}

Test(svg, escape_replaces_all_five_markup_characters)
{
	const char in[] = "<a href=\"x\">&'";
	char *out = svg_xml_escape(in, strlen(in));
	cr_assert_str_eq(out, "&lt;a href=&quot;x&quot;&gt;&amp;&apos;");
	free(out);
}

Test(svg, escape_drops_characters_xml_cannot_carry_and_keeps_utf8)
{
	/* C0 control, U+FFFE, a stray continuation byte; tab/newline and é stay. */
	const char in[] = "a\x01" "b\xef\xbf\xbe" "c\x80" "d\t\n\xc3\xa9";
	char *out = svg_xml_escape(in, strlen(in));
	cr_assert_str_eq(out, "abcd\t\n\xc3\xa9");
	free(out);
}

Test(svg, empty_canvas_is_a_document_with_the_default_viewbox)
{
	char *svg = render("[]");
	const char prolog[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ";
	cr_assert(!strncmp(svg, prolog, sizeof(prolog) - 1), "%s", svg);
	expect_contains(svg, "viewBox=\"0 0 100 100\"");
	expect_not_contains(svg, "<g");
	cr_assert_str_eq(svg + strlen(svg) - 7, "</svg>\n");
	free(svg);
}

Test(svg, text_is_escaped_in_text_and_sticky_shapes)
{
	char *svg = render("[{\"shape_id\":\"t\",\"kind\":\"text\",\"x\":0,\"y\":0,"
			   "\"text\":\"<b>&\\\"quoted\\\"'</b>\"},"
			   "{\"shape_id\":\"s\",\"kind\":\"sticky\",\"x\":0,\"y\":50,\"w\":100,"
			   "\"h\":100,\"text\":\"]]></svg><script>x</script>\"}]");
	expect_contains(svg, "&lt;b&gt;&amp;&quot;quoted&quot;&apos;&lt;/b&gt;");
	expect_contains(svg, "]]&gt;&lt;/svg&gt;&lt;script&gt;x&lt;/script&gt;");
	expect_not_contains(svg, "<b>");
	expect_not_contains(svg, "<script");
	/* exactly one closing tag of the document */
	cr_assert_eq(strstr(svg, "</svg>"), strrchr(svg, '<'), "%s", svg);
	free(svg);
}

Test(svg, multiline_text_becomes_one_tspan_per_line)
{
	char *svg = render("[{\"shape_id\":\"t\",\"kind\":\"text\",\"x\":5,\"y\":6,"
			   "\"text\":\"one\\ntwo\"}]");
	expect_contains(svg, "<tspan x=\"5\" dy=\"1em\">one</tspan>"
			     "<tspan x=\"5\" dy=\"1.25em\">two</tspan>");
	free(svg);
}

Test(svg, each_kind_renders_its_element)
{
	char *svg = render(
		"[{\"shape_id\":\"r\",\"kind\":\"rect\",\"x\":1,\"y\":2,\"w\":3,\"h\":4},"
		"{\"shape_id\":\"e\",\"kind\":\"ellipse\",\"x\":10,\"y\":20,\"w\":30,\"h\":40},"
		"{\"shape_id\":\"l\",\"kind\":\"line\",\"x\":0,\"y\":0,\"w\":5,\"h\":6},"
		"{\"shape_id\":\"a\",\"kind\":\"arrow\",\"x\":0,\"y\":0,\"w\":7,\"h\":8},"
		"{\"shape_id\":\"t\",\"kind\":\"text\",\"x\":0,\"y\":0,\"text\":\"hi\"},"
		"{\"shape_id\":\"s\",\"kind\":\"sticky\",\"x\":0,\"y\":0,\"w\":50,\"h\":50,"
		" \"text\":\"note\"},"
		"{\"shape_id\":\"p\",\"kind\":\"path\",\"x\":100,\"y\":200,"
		" \"points\":[[0,0],[1,2],[3,4]]},"
		"{\"shape_id\":\"c\",\"kind\":\"connector\",\"x\":0,\"y\":0,"
		" \"from\":\"r\",\"to\":\"e\"}]");
	char *g;

	g = group_of(svg, "r");
	expect_contains(g, "<rect x=\"1\" y=\"2\" width=\"3\" height=\"4\"");
	free(g);
	g = group_of(svg, "e");
	expect_contains(g, "<ellipse cx=\"25\" cy=\"40\" rx=\"15\" ry=\"20\"");
	free(g);
	g = group_of(svg, "l");
	expect_contains(g, "<line x1=\"0\" y1=\"0\" x2=\"5\" y2=\"6\"");
	expect_contains(g, "fill=\"none\"");
	free(g);
	g = group_of(svg, "a");
	expect_contains(g, "<marker id=\"fs-arrow-");
	expect_contains(g, "marker-end=\"url(#fs-arrow-");
	expect_contains(g, "x2=\"7\" y2=\"8\"");
	free(g);
	g = group_of(svg, "t");
	expect_contains(g, "<text ");
	expect_contains(g, ">hi</tspan>");
	free(g);
	g = group_of(svg, "s");
	expect_contains(g, "<rect ");
	expect_contains(g, "fill=\"#fff59d\"");
	expect_contains(g, ">note</tspan>");
	free(g);
	g = group_of(svg, "p");
	/* points are offsets from (x, y) */
	expect_contains(g, "<polyline points=\"100,200 101,202 103,204\"");
	free(g);
	g = group_of(svg, "c");
	/* centres of r (1+1.5, 2+2) and e (25, 40) */
	expect_contains(g, "<line x1=\"2.5\" y1=\"4\" x2=\"25\" y2=\"40\"");
	free(g);
	free(svg);
}

Test(svg, connector_to_a_missing_shape_falls_back_to_its_own_box)
{
	char *svg = render("[{\"shape_id\":\"c\",\"kind\":\"connector\",\"x\":1,\"y\":2,\"w\":3,"
			   "\"h\":4,\"from\":\"gone\",\"to\":null}]");
	expect_contains(svg, "<line x1=\"1\" y1=\"2\" x2=\"4\" y2=\"6\"");
	free(svg);
}

Test(svg, shapes_paint_in_z_order_then_by_id)
{
	char *svg = render("[{\"shape_id\":\"a\",\"kind\":\"rect\",\"x\":0,\"y\":0,\"z\":2},"
			   "{\"shape_id\":\"c\",\"kind\":\"rect\",\"x\":0,\"y\":0,\"z\":1},"
			   "{\"shape_id\":\"b\",\"kind\":\"rect\",\"x\":0,\"y\":0,\"z\":1}]");
	const char *a = strstr(svg, "data-shape-id=\"a\"");
	const char *b = strstr(svg, "data-shape-id=\"b\"");
	const char *c = strstr(svg, "data-shape-id=\"c\"");
	cr_assert(a && b && c);
	cr_assert(b < c && c < a, "%s", svg);
	free(svg);
}

Test(svg, style_and_rotation_become_attributes)
{
	char *svg = render("[{\"shape_id\":\"r\",\"kind\":\"rect\",\"x\":0,\"y\":0,\"w\":10,"
			   "\"h\":20,\"rotation\":45,\"style\":{\"stroke\":\"#ABCDEF\","
			   "\"fill\":\"#ff000080\",\"width\":3,\"opacity\":0.5}}]");
	expect_contains(svg, "transform=\"rotate(45 5 10)\"");
	expect_contains(svg, "opacity=\"0.5\"");
	expect_contains(svg, "stroke=\"#abcdef\" stroke-width=\"3\"");
	expect_contains(svg, "fill=\"#ff0000\" fill-opacity=\"0.50196");
	free(svg);
}

Test(svg, transparent_becomes_none)
{
	char *svg = render("[{\"shape_id\":\"r\",\"kind\":\"rect\",\"x\":0,\"y\":0,"
			   "\"style\":{\"fill\":\"transparent\"}}]");
	expect_contains(svg, "fill=\"none\"");
	expect_not_contains(svg, "transparent");
	free(svg);
}

Test(svg, viewbox_is_the_bounding_box_plus_margin)
{
	/* margin = 10 + the widest stroke (2) */
	char *svg = render("[{\"shape_id\":\"r\",\"kind\":\"rect\",\"x\":10,\"y\":20,\"w\":30,"
			   "\"h\":40,\"style\":{\"width\":2}},"
			   "{\"shape_id\":\"p\",\"kind\":\"path\",\"x\":0,\"y\":0,"
			   "\"points\":[[100,100],[50,-5]]}]");
	expect_contains(svg, "viewBox=\"-2 -17 114 129\"");
	free(svg);
}

Test(svg, rotated_box_grows_the_viewbox)
{
	/* a 10x10 square rotated 45 degrees spans 10*sqrt(2) */
	char *svg = render("[{\"shape_id\":\"r\",\"kind\":\"rect\",\"x\":0,\"y\":0,\"w\":10,"
			   "\"h\":10,\"rotation\":45,\"style\":{\"width\":0}}]");
	expect_contains(svg, "viewBox=\"-12.0710678118655 -12.0710678118655 34.142135623731");
	free(svg);
}

Test(svg, equal_states_render_equal_documents)
{
	const char *a = "[{\"shape_id\":\"x\",\"kind\":\"rect\",\"x\":1,\"y\":1},"
			"{\"shape_id\":\"y\",\"kind\":\"ellipse\",\"x\":2,\"y\":2}]";
	const char *b = "[{\"shape_id\":\"y\",\"kind\":\"ellipse\",\"x\":2,\"y\":2},"
			"{\"shape_id\":\"x\",\"kind\":\"rect\",\"x\":1,\"y\":1}]";
	char *sa = render(a), *sb = render(b);
	cr_assert_str_eq(sa, sb);
	free(sa);
	free(sb);
}

Test(svg, boxes_and_connectors_centre_their_text)
{
	char *svg = render("[{\"shape_id\":\"r\",\"kind\":\"rect\",\"x\":0,\"y\":0,\"w\":100,"
			   "\"h\":40,\"text\":\"a<b\"},"
			   "{\"shape_id\":\"e\",\"kind\":\"ellipse\",\"x\":200,\"y\":0,\"w\":50,"
			   "\"h\":50,\"text\":\"one\\ntwo\"},"
			   "{\"shape_id\":\"c\",\"kind\":\"connector\",\"x\":0,\"y\":0,"
			   "\"from\":\"r\",\"to\":\"e\",\"text\":\"go\"},"
			   "{\"shape_id\":\"p\",\"kind\":\"path\",\"x\":0,\"y\":100,\"w\":20,"
			   "\"h\":20,\"points\":[[10,0],[20,10],[10,20],[0,10],[10,0]],"
			   "\"text\":\"?\"},"
			   "{\"shape_id\":\"plain\",\"kind\":\"rect\",\"x\":0,\"y\":300}]");
	/* One line: its top half an em above the centre (50, 20). */
	expect_contains(svg, "<text x=\"50\" y=\"12\" font-family=\"sans-serif\" font-size=\"16\" "
			     "text-anchor=\"middle\" fill=\"#000000\"><tspan x=\"50\" dy=\"1em\">"
			     "a&lt;b</tspan></text>");
	/* Two lines (16 + 20 units tall) about (225, 25). */
	expect_contains(svg, "<text x=\"225\" y=\"7\"");
	expect_contains(svg, "<tspan x=\"225\" dy=\"1em\">one</tspan><tspan x=\"225\" "
			     "dy=\"1.25em\">two</tspan>");
	/* The connector's label at the middle of its segment: (50, 20) to (225, 25). */
	expect_contains(svg, "<text x=\"137.5\" y=\"14.5\"");
	expect_contains(svg, "<tspan x=\"10\" dy=\"1em\">?</tspan>");
	/* No text, no element. */
	char *plain = group_of(svg, "plain");
	cr_assert(!strstr(plain, "<text"), "%s", plain);
	free(plain);
	free(svg);
}

Test(svg, drawing_bounds_and_viewbox_agree_with_the_document)
{
	struct canvas_state *s = canvas_state_new();
	double box[4], vb[4];
	cr_assert_not(svg_drawing_bounds(s, box));
	svg_viewbox(s, vb);
	cr_assert(vb[0] == 0 && vb[1] == 0 && vb[2] == 100 && vb[3] == 100);
	canvas_state_free(s);
	char *svg = render("[{\"shape_id\":\"r\",\"kind\":\"rect\",\"x\":-5,\"y\":10,\"w\":20,"
			   "\"h\":30,\"style\":{\"width\":3}}]");
	expect_contains(svg, "viewBox=\"-18 -3 46 56\"");
	free(svg);
}
