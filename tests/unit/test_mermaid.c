/*
 * The Mermaid flowchart codec (common/codec/mermaid.h): what it accepts and how it reads it,
 * every refusal with its line and column, the bounds, and the writer's round trip.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "codec/mermaid.h"

static struct diagram parse_ok(const char *text)
{
	struct diagram d;
	struct mermaid_error err;
	bool ok = mermaid_parse(text, strlen(text), &d, &err);
	cr_assert(ok, "refused %s: line %d col %d: %s", text, err.line, err.column, err.message);
	return d;
}

static void assert_refused(const char *text, int line, int column, const char *fragment)
{
	struct diagram d;
	struct mermaid_error err;
	bool ok = mermaid_parse(text, strlen(text), &d, &err);
	diagram_free(&d);
	cr_assert_not(ok, "accepted: %s", text);
	cr_assert_eq(err.line, line, "%s: line %d, not %d (%s)", text, err.line, line, err.message);
	cr_assert_eq(err.column, column, "%s: column %d, not %d (%s)", text, err.column, column,
		     err.message);
	cr_assert(strstr(err.message, fragment), "%s: message '%s' lacks '%s'", text, err.message,
		  fragment);
}

Test(mermaid, reads_headers_and_directions)
{
	static const struct {
		const char *text;
		enum diagram_direction dir;
	} cases[] = {
		{ "graph TD\nA", DIAGRAM_TD }, { "graph TB\nA", DIAGRAM_TD },
		{ "flowchart BT\nA", DIAGRAM_BT }, { "flowchart LR\nA", DIAGRAM_LR },
		{ "graph RL;A", DIAGRAM_RL }, { "graph\nA", DIAGRAM_TD },
		{ "%% a comment\n\n  flowchart LR  \r\n  A\r\n", DIAGRAM_LR },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct diagram d = parse_ok(cases[i].text);
		cr_assert_eq(d.direction, cases[i].dir, "%s", cases[i].text);
		cr_assert_eq(d.node_count, 1);
		diagram_free(&d);
	}
}

Test(mermaid, reads_every_node_shape_and_label_form)
{
	struct diagram d = parse_ok("flowchart TD\n"
				    "  a[Rect label]\n"
				    "  b(Rounded)\n"
				    "  c{Diamond?}\n"
				    "  d((Circle))\n"
				    "  e([Stadium])\n"
				    "  f[\"Quoted (with) [brackets] | and; semicolons\"]\n"
				    "  g[  spaced   out  ]\n"
				    "  h[\"line one<br>line two<br/>three<BR />four\"]\n"
				    "  i[\"#quot;q#quot; #amp; #lt;#gt; #35; #9731;\"]\n"
				    "  j\n");
	cr_assert_eq(d.node_count, 10);
	static const struct {
		const char *id, *label;
		enum diagram_shape shape;
	} want[] = {
		{ "a", "Rect label", DIAGRAM_RECT },
		{ "b", "Rounded", DIAGRAM_ROUNDED },
		{ "c", "Diamond?", DIAGRAM_DIAMOND },
		{ "d", "Circle", DIAGRAM_CIRCLE },
		{ "e", "Stadium", DIAGRAM_STADIUM },
		{ "f", "Quoted (with) [brackets] | and; semicolons", DIAGRAM_RECT },
		{ "g", "spaced   out", DIAGRAM_RECT },
		{ "h", "line one\nline two\nthree\nfour", DIAGRAM_RECT },
		{ "i", "\"q\" & <> # \xe2\x98\x83", DIAGRAM_RECT },
		{ "j", "j", DIAGRAM_RECT },
	};
	for (size_t i = 0; i < 10; i++) {
		cr_assert_str_eq(d.nodes[i].id, want[i].id);
		cr_assert_str_eq(d.nodes[i].label, want[i].label, "node %s", want[i].id);
		cr_assert_eq(d.nodes[i].shape, want[i].shape, "node %s", want[i].id);
	}
	diagram_free(&d);
}

Test(mermaid, reads_links_chains_and_link_labels)
{
	struct diagram d = parse_ok("graph LR\n"
				    "A[Start] --> B{Ok?}\n"
				    "B -->|yes| C\n"
				    "B -.->|\"no, retry\"| A\n"
				    "C==>D---E\n"
				    "E-->|| F; F --> A\n");
	cr_assert_eq(d.node_count, 6);
	cr_assert_eq(d.edge_count, 7);
	static const struct {
		size_t from, to;
		const char *label;
		enum diagram_edge_style style;
	} want[] = {
		{ 0, 1, NULL, DIAGRAM_ARROW },     { 1, 2, "yes", DIAGRAM_ARROW },
		{ 1, 0, "no, retry", DIAGRAM_DOTTED }, { 2, 3, NULL, DIAGRAM_THICK },
		{ 3, 4, NULL, DIAGRAM_LINE },      { 4, 5, NULL, DIAGRAM_ARROW },
		{ 5, 0, NULL, DIAGRAM_ARROW },
	};
	for (size_t i = 0; i < 7; i++) {
		const struct diagram_edge *e = &d.edges[i];
		cr_assert_eq(e->from, want[i].from, "edge %zu", i);
		cr_assert_eq(e->to, want[i].to, "edge %zu", i);
		cr_assert_eq(e->style, want[i].style, "edge %zu", i);
		if (want[i].label)
			cr_assert_str_eq(e->label, want[i].label, "edge %zu", i);
		else
			cr_assert_null(e->label, "edge %zu has label '%s'", i, e->label);
	}
	diagram_free(&d);
}

Test(mermaid, a_later_definition_sets_label_and_shape_and_a_bare_mention_keeps_them)
{
	struct diagram d = parse_ok("graph TD\nA --> B\nA((First))\nB --> A\nA{Second}\nA");
	cr_assert_eq(d.node_count, 2);
	cr_assert_str_eq(d.nodes[0].label, "Second");
	cr_assert_eq(d.nodes[0].shape, DIAGRAM_DIAMOND);
	cr_assert_str_eq(d.nodes[1].label, "B");
	diagram_free(&d);
}

Test(mermaid, refuses_with_line_and_column)
{
	assert_refused("", 1, 1, "expected 'graph' or 'flowchart'");
	assert_refused("sequenceDiagram\nA->>B: hi", 1, 1, "only flowcharts");
	assert_refused("flowchart-elk TD\nA", 1, 10, "unsupported diagram type");
	assert_refused("graph XY\nA", 1, 7, "unknown direction 'XY'");
	assert_refused("graph TD\nsubgraph one\nA\nend", 2, 1, "unsupported: 'subgraph'");
	assert_refused("graph TD\nA-->B\nclassDef red fill:#f00", 3, 1, "'classDef'");
	assert_refused("graph TD\nA-->B\nstyle A fill:#f00", 3, 1, "'style'");
	assert_refused("graph TD\nA-->B\nlinkStyle 0 stroke:red", 3, 1, "'linkStyle'");
	assert_refused("graph TD\n  click A callback", 2, 3, "'click'");
	assert_refused("graph TD\nA:::warn-->B", 2, 2, "':::'");
	assert_refused("graph TD\nA & B --> C", 2, 3, "'&'");
	assert_refused("graph TD\nA -- text --> B", 2, 3, "A -->|text| B");
	assert_refused("graph TD\nA ---> B", 2, 3, "unsupported link '--->'");
	assert_refused("graph TD\nA <--> B", 2, 3, "unsupported link '<-->'");
	assert_refused("graph TD\nA --o B", 2, 3, "unsupported link '--o'");
	assert_refused("graph TD\nA -.- B", 2, 3, "unsupported link '-.-'");
	assert_refused("graph TD\nA === B", 2, 3, "unsupported link '==='");
	assert_refused("graph TD\nA[[sub]]", 2, 2, "unsupported node shape '[['");
	assert_refused("graph TD\nA[(db)]", 2, 2, "unsupported node shape '[('");
	assert_refused("graph TD\nA{{hex}}", 2, 2, "unsupported node shape '{{'");
	assert_refused("graph TD\nA>flag]", 2, 2, "unsupported node shape");
	assert_refused("graph TD\nA(((dbl)))", 2, 2, "'((('");
	assert_refused("graph TD\nA[open", 2, 2, "not closed with ']'");
	assert_refused("graph TD\nA((circle)", 2, 2, "not closed with '))'");
	assert_refused("graph TD\nA[\"quoted", 2, 3, "unterminated quoted label");
	assert_refused("graph TD\nA[\"q\" x]", 2, 7, "expected ']' after the quoted label");
	assert_refused("graph TD\nA[a(b)c]", 2, 4, "'(' in a label");
	assert_refused("graph TD\nA[]", 2, 2, "empty label");
	assert_refused("graph TD\nA -->", 2, 6, "expected a node after the link");
	assert_refused("graph TD\nA B", 2, 3, "expected a link");
	assert_refused("graph TD\n-->B", 2, 1, "expected a node id");
	assert_refused("graph TD", 1, 9, "no nodes");
	assert_refused("graph TD\n%% only a comment\n", 3, 1, "no nodes");
	/* Columns count characters, not bytes. */
	assert_refused("graph TD\n\xc3\xa9\xc3\xa9 A", 2, 1, "expected a node id");
	assert_refused("graph TD\nA[\xc3\xa9\xc3\xa9] B", 2, 7, "expected a link");
}

Test(mermaid, refuses_bytes_that_are_not_text)
{
	static const char nul[] = "graph TD\nA\0B";
	struct diagram d;
	struct mermaid_error err;
	cr_assert_not(mermaid_parse(nul, sizeof(nul) - 1, &d, &err));
	cr_assert_eq(err.line, 2);
	cr_assert_eq(err.column, 2);
	cr_assert(strstr(err.message, "NUL"));
	diagram_free(&d);
	assert_refused("graph TD\nA[\xc3\xa9\xff]", 2, 4, "invalid UTF-8");
	assert_refused("graph TD\nA[\xed\xa0\x80]", 2, 3, "invalid UTF-8"); /* a surrogate */
}

Test(mermaid, enforces_its_bounds)
{
	/* Input size. */
	size_t big = MERMAID_MAX_BYTES + 1;
	char *text = xmalloc(big + 1);
	memcpy(text, "graph TD\n", 9);
	memset(text + 9, 'A', big - 9);
	text[big] = '\0';
	struct diagram d;
	struct mermaid_error err;
	cr_assert_not(mermaid_parse(text, big, &d, &err));
	cr_assert(strstr(err.message, "larger than"));
	diagram_free(&d);
	free(text);

	/* Node count: DIAGRAM_MAX_NODES is fine, one more is refused at its id. */
	text = xmalloc(16 * (DIAGRAM_MAX_NODES + 2));
	size_t len = (size_t)sprintf(text, "graph TD\n");
	for (int i = 0; i <= DIAGRAM_MAX_NODES; i++)
		len += (size_t)sprintf(text + len, "n%d\n", i);
	cr_assert_not(mermaid_parse(text, len, &d, &err));
	cr_assert_eq(err.line, DIAGRAM_MAX_NODES + 2);
	cr_assert(strstr(err.message, "more than 500 nodes"), "%s", err.message);
	diagram_free(&d);
	cr_assert(mermaid_parse(text, len - strlen("n500\n"), &d, &err), "%s", err.message);
	cr_assert_eq(d.node_count, DIAGRAM_MAX_NODES);
	diagram_free(&d);
	free(text);

	/* Link count. */
	text = xmalloc(16 * (DIAGRAM_MAX_EDGES + 2));
	len = (size_t)sprintf(text, "graph TD\n");
	for (int i = 0; i <= DIAGRAM_MAX_EDGES; i++)
		len += (size_t)sprintf(text + len, "a-->b\n");
	cr_assert_not(mermaid_parse(text, len, &d, &err));
	cr_assert_eq(err.line, DIAGRAM_MAX_EDGES + 2);
	cr_assert_eq(err.column, 2);
	cr_assert(strstr(err.message, "more than 2000 links"), "%s", err.message);
	diagram_free(&d);
	free(text);

	/* Id and label lengths. */
	char id[DIAGRAM_MAX_ID + 20];
	memset(id, 'x', sizeof(id));
	sprintf(id + DIAGRAM_MAX_ID + 1, "\n");
	char *doc = xasprintf("graph TD\n%s", id);
	assert_refused(doc, 2, 1, "longer than 64");
	free(doc);
	char *label = xmalloc(DIAGRAM_MAX_LABEL + 2);
	memset(label, 'y', DIAGRAM_MAX_LABEL + 1);
	label[DIAGRAM_MAX_LABEL + 1] = '\0';
	doc = xasprintf("graph TD\nA[\"%s\"]", label);
	assert_refused(doc, 2, 4, "label longer than");
	free(doc);
	label[DIAGRAM_MAX_LABEL] = '\0';
	doc = xasprintf("graph TD\nA[\"%s\"]", label);
	d = parse_ok(doc);
	cr_assert_eq(strlen(d.nodes[0].label), DIAGRAM_MAX_LABEL);
	diagram_free(&d);
	free(doc);
	free(label);
}

Test(mermaid, writes_what_it_reads_back_exactly)
{
	struct diagram d;
	diagram_init(&d);
	d.direction = DIAGRAM_RL;
	static const char *const labels[] = {
		"plain", "quote \" hash # lt < gt > pipe | amp &", "two\nlines",
		"<br> literally", "#quot; literally", "tab\tcr\rbell\x07", "",
		"unicode \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", "  spaces kept  ",
	};
	for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
		char id[8];
		snprintf(id, sizeof(id), "k%zu", i);
		diagram_add_node(&d, id, strlen(id), labels[i], strlen(labels[i]),
				 (enum diagram_shape)(i % 5));
	}
	diagram_add_edge(&d, 0, 1, "edge | label \" #", 16, DIAGRAM_DOTTED);
	diagram_add_edge(&d, 1, 1, NULL, 0, DIAGRAM_THICK);
	diagram_add_edge(&d, 2, 0, "x", 1, DIAGRAM_LINE);
	size_t len;
	char *text = mermaid_write(&d, &len);
	cr_assert_eq(strlen(text), len);
	cr_assert(!strncmp(text, "flowchart RL\n", 13), "%s", text);
	struct diagram back;
	struct mermaid_error err;
	cr_assert(mermaid_parse(text, len, &back, &err), "line %d col %d: %s\n%s", err.line,
		  err.column, err.message, text);
	cr_assert_eq(back.node_count, d.node_count);
	for (size_t i = 0; i < d.node_count; i++) {
		cr_assert_str_eq(back.nodes[i].label, d.nodes[i].label, "node %zu", i);
		cr_assert_eq(back.nodes[i].shape, d.nodes[i].shape, "node %zu", i);
	}
	cr_assert(diagram_equal(&d, &back, true));
	/* And the writer is a fixed point. */
	char *again = mermaid_write(&back, NULL);
	cr_assert_str_eq(again, text);
	free(again);
	free(text);
	diagram_free(&back);
	diagram_free(&d);
}

Test(mermaid, written_ids_never_collide_with_keywords)
{
	struct diagram d = parse_ok("graph TD\nA --> end\nA --> subgraph");
	char *text = mermaid_write(&d, NULL);
	struct diagram back;
	struct mermaid_error err;
	cr_assert(mermaid_parse(text, strlen(text), &back, &err), "%s\n%s", err.message, text);
	cr_assert(diagram_equal(&d, &back, true));
	free(text);
	diagram_free(&back);
	diagram_free(&d);
}
