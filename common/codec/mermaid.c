#include "codec/mermaid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/validate.h"

struct parser {
	const char *s;
	size_t len, pos;
	struct diagram *d;
	struct mermaid_error *err;
};

/* Line and column (in characters) of byte offset at. */
static void locate(const char *s, size_t len, size_t at, int *line, int *column)
{
	int l = 1, c = 1;
	for (size_t i = 0; i < at && i < len; i++) {
		if (s[i] == '\n') {
			l++;
			c = 1;
		} else if (((unsigned char)s[i] & 0xc0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*column = c;
}

__attribute__((format(printf, 3, 4))) static bool fail(struct parser *p, size_t at,
							const char *fmt, ...)
{
	locate(p->s, p->len, at, &p->err->line, &p->err->column);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err->message, sizeof(p->err->message), fmt, ap);
	va_end(ap);
	return false;
}

/* Up to 24 bytes of the input at `at` as printable ASCII (others as '?'), for messages. */
static const char *excerpt(const struct parser *p, size_t at, size_t max, char out[32])
{
	size_t n = 0;
	for (size_t i = at; i < p->len && n < max && n < 24; i++) {
		unsigned char c = (unsigned char)p->s[i];
		if (c == '\n')
			break;
		if ((c & 0xc0) == 0x80)
			continue;
		out[n++] = c >= 0x20 && c < 0x7f && c != '\'' ? (char)c : '?';
	}
	out[n] = '\0';
	return out;
}

static bool at_end(const struct parser *p)
{
	return p->pos >= p->len;
}

static char peek(const struct parser *p, size_t ahead)
{
	return p->pos + ahead < p->len ? p->s[p->pos + ahead] : '\0';
}

static bool starts(const struct parser *p, const char *lit)
{
	size_t n = strlen(lit);
	return p->pos + n <= p->len && !memcmp(p->s + p->pos, lit, n);
}

static void skip_spaces(struct parser *p)
{
	while (!at_end(p) && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\r'))
		p->pos++;
}

static bool statement_end(const struct parser *p)
{
	return at_end(p) || p->s[p->pos] == '\n' || p->s[p->pos] == ';';
}

static bool id_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static size_t word_len(const struct parser *p)
{
	size_t n = 0;
	while (p->pos + n < p->len && id_char(p->s[p->pos + n]))
		n++;
	return n;
}

static bool word_is(const struct parser *p, size_t n, const char *w)
{
	return strlen(w) == n && !memcmp(p->s + p->pos, w, n);
}

/* Skips blank lines, statement separators and %% comment lines. */
static void skip_blank(struct parser *p)
{
	for (;;) {
		while (!at_end(p) && strchr(" \t\r\n;", p->s[p->pos]))
			p->pos++;
		if (!starts(p, "%%"))
			return;
		while (!at_end(p) && p->s[p->pos] != '\n')
			p->pos++;
	}
}

/* ---- labels ------------------------------------------------------------------------------- */

struct text {
	char *p;
	size_t len, cap;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->p = xrealloc(t->p, t->cap);
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static size_t utf8_put(unsigned cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Length of a line break tag at s (<br>, <br/>, <br />, any case), or 0. */
static size_t br_len(const char *s, size_t n)
{
	static const char *const tags[] = { "<br>", "<br/>", "<br />" };
	for (size_t i = 0; i < 3; i++) {
		size_t t = strlen(tags[i]);
		if (n >= t && !strncasecmp(s, tags[i], t))
			return t;
	}
	return 0;
}

/* Length of an entity code at s (#quot; #amp; #lt; #gt; #123;) and its character, or 0. */
static size_t entity_len(const char *s, size_t n, unsigned *cp)
{
	static const struct {
		const char *name;
		unsigned cp;
	} named[] = { { "#quot;", '"' }, { "#amp;", '&' }, { "#lt;", '<' }, { "#gt;", '>' } };
	for (size_t i = 0; i < 4; i++) {
		size_t t = strlen(named[i].name);
		if (n >= t && !memcmp(s, named[i].name, t)) {
			*cp = named[i].cp;
			return t;
		}
	}
	unsigned v = 0;
	size_t i = 1;
	while (i < n && i <= 8 && s[i] >= '0' && s[i] <= '9')
		v = v * 10 + (unsigned)(s[i++] - '0');
	if (i == 1 || i >= n || s[i] != ';' || v == 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return i + 1;
}

/* Decodes raw label bytes [from, to): line break tags and entity codes. */
static bool decode_label(struct parser *p, size_t from, size_t to, struct text *out)
{
	out->len = 0;
	text_add(out, "", 0);
	size_t i = from;
	while (i < to) {
		size_t n = br_len(p->s + i, to - i);
		unsigned cp;
		if (n) {
			text_add(out, "\n", 1);
		} else if (p->s[i] == '#' && (n = entity_len(p->s + i, to - i, &cp))) {
			char buf[4];
			text_add(out, buf, utf8_put(cp, buf));
		} else {
			n = 1;
			text_add(out, p->s + i, 1);
		}
		i += n;
		if (out->len > DIAGRAM_MAX_LABEL)
			return fail(p, from, "label longer than %d bytes", DIAGRAM_MAX_LABEL);
	}
	return true;
}

/*
 * A label up to the closing delimiter `close` (not consumed): a "quoted string" (with spaces
 * around it allowed) or plain text without quotes, brackets, braces, parentheses or `|`,
 * trimmed. empty_ok: a plain label may be empty (edge labels). open_at: where the opening
 * delimiter is, for messages.
 */
static bool parse_label(struct parser *p, size_t open_at, const char *close, bool empty_ok,
			struct text *out)
{
	skip_spaces(p);
	if (peek(p, 0) == '"') {
		size_t from = ++p->pos;
		while (!at_end(p) && p->s[p->pos] != '"' && p->s[p->pos] != '\n')
			p->pos++;
		if (at_end(p) || p->s[p->pos] != '"')
			return fail(p, from - 1, "unterminated quoted label");
		size_t to = p->pos++;
		skip_spaces(p);
		if (!starts(p, close)) {
			char ex[32];
			return fail(p, p->pos, "expected '%s' after the quoted label, found '%s'", close,
				    excerpt(p, p->pos, 8, ex));
		}
		return decode_label(p, from, to, out);
	}
	size_t from = p->pos;
	while (!at_end(p) && !starts(p, close)) {
		char c = p->s[p->pos];
		if (c == '\n' || strchr("\"[](){}|", c)) {
			if (c == '\n')
				return fail(p, open_at, "label not closed with '%s' on its line", close);
			if (c == close[0])
				return fail(p, open_at, "label not closed with '%s'", close);
			return fail(p, p->pos,
				    "'%c' in a label: quote the label (\"...\") or write it as #%u;", c,
				    (unsigned)(unsigned char)c);
		}
		p->pos++;
	}
	if (at_end(p))
		return fail(p, open_at, "label not closed with '%s'", close);
	size_t to = p->pos;
	while (from < to && (p->s[from] == ' ' || p->s[from] == '\t'))
		from++;
	while (to > from && (p->s[to - 1] == ' ' || p->s[to - 1] == '\t' || p->s[to - 1] == '\r'))
		to--;
	if (from == to && !empty_ok)
		return fail(p, open_at, "empty label (write \"\" for an empty one)");
	return decode_label(p, from, to, out);
}

/* ---- nodes and links ---------------------------------------------------------------------- */

static const char *const keywords[] = { "subgraph", "end",      "classDef", "class",
					"style",    "linkStyle", "click",   "direction",
					"accTitle", "accDescr" };

/* A node reference: an id, then maybe a shape with a label. *index gets the node. */
static bool parse_node(struct parser *p, size_t *index, bool statement_start)
{
	size_t at = p->pos, n = word_len(p);
	char ex[32];
	if (n == 0) {
		if (at_end(p) || p->s[p->pos] == '\n' || p->s[p->pos] == ';')
			return fail(p, at, "expected a node after the link");
		return fail(p, at, "expected a node id (letters, digits, _), found '%s'",
			    excerpt(p, at, 8, ex));
	}
	if (statement_start) {
		for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
			if (word_is(p, n, keywords[i]))
				return fail(p, at,
					    "unsupported: '%s' (FlowState imports nodes and links "
					    "only)",
					    keywords[i]);
	}
	if (n > DIAGRAM_MAX_ID)
		return fail(p, at, "node id longer than %d characters", DIAGRAM_MAX_ID);
	p->pos += n;
	const char *id = p->s + at;
	if (starts(p, ":::"))
		return fail(p, p->pos, "unsupported: ':::' classes (styling is not imported)");

	enum diagram_shape shape = DIAGRAM_RECT;
	const char *open = NULL, *close = NULL;
	if (starts(p, "((")) {
		if (peek(p, 2) == '(')
			return fail(p, p->pos, "unsupported node shape '(((' (double circle)");
		shape = DIAGRAM_CIRCLE, open = "((", close = "))";
	} else if (starts(p, "([")) {
		shape = DIAGRAM_STADIUM, open = "([", close = "])";
	} else if (starts(p, "[[") || starts(p, "[(") || starts(p, "[/") || starts(p, "[\\") ||
		   starts(p, "{{") || starts(p, "(-") || starts(p, ">")) {
		return fail(p, p->pos, "unsupported node shape '%s' (use [], (), {}, (()) or ([]))",
			    excerpt(p, p->pos, 2, ex));
	} else if (starts(p, "[")) {
		shape = DIAGRAM_RECT, open = "[", close = "]";
	} else if (starts(p, "(")) {
		shape = DIAGRAM_ROUNDED, open = "(", close = ")";
	} else if (starts(p, "{")) {
		shape = DIAGRAM_DIAMOND, open = "{", close = "}";
	}
	struct text label = { 0 };
	if (open) {
		size_t open_at = p->pos;
		p->pos += strlen(open);
		if (!parse_label(p, open_at, close, false, &label)) {
			free(label.p);
			return false;
		}
		p->pos += strlen(close);
	}
	long found = diagram_find_node(p->d, id, n);
	if (found >= 0) {
		if (open)
			diagram_set_node(p->d, (size_t)found, label.p, label.len, shape);
		*index = (size_t)found;
	} else if (p->d->node_count == DIAGRAM_MAX_NODES) {
		free(label.p);
		return fail(p, at, "more than %d nodes", DIAGRAM_MAX_NODES);
	} else {
		*index = open ? diagram_add_node(p->d, id, n, label.p, label.len, shape)
			      : diagram_add_node(p->d, id, n, id, n, DIAGRAM_RECT);
	}
	free(label.p);
	return true;
}

/* A link and its optional |label|; *label_set says whether it had one. */
static bool parse_link(struct parser *p, enum diagram_edge_style *style, struct text *label,
		       bool *label_set)
{
	static const struct {
		const char *token;
		enum diagram_edge_style style;
	} links[] = { { "-.->", DIAGRAM_DOTTED }, { "-->", DIAGRAM_ARROW },
		      { "---", DIAGRAM_LINE }, { "==>", DIAGRAM_THICK } };
	size_t at = p->pos;
	char ex[32];
	size_t run = 0;
	while (p->pos + run < p->len && strchr("-=.<>~", p->s[p->pos + run]))
		run++;
	if (run && (peek(p, run) == 'o' || peek(p, run) == 'x'))
		run++; /* --o, --x: for the message */
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		size_t n = strlen(links[i].token);
		if (starts(p, links[i].token) &&
		    (p->pos + n >= p->len || !strchr("-=.<>~", p->s[p->pos + n]))) {
			p->pos += n;
			*style = links[i].style;
			goto label;
		}
	}
	if (starts(p, "--") && (peek(p, 2) == ' ' || peek(p, 2) == '\t'))
		return fail(p, at, "unsupported link text 'A -- text --> B': write 'A -->|text| B'");
	if (starts(p, "&"))
		return fail(p, at, "unsupported: '&' (write one link per pair of nodes)");
	if (run == 0)
		return fail(p, at, "expected a link (-->, ---, -.-> or ==>), found '%s'",
			    excerpt(p, at, 8, ex));
	return fail(p, at, "unsupported link '%s' (use -->, ---, -.-> or ==>)",
		    excerpt(p, at, run, ex));
label:
	*label_set = false;
	skip_spaces(p);
	if (peek(p, 0) != '|')
		return true;
	size_t open_at = p->pos++;
	if (!parse_label(p, open_at, "|", true, label))
		return false;
	p->pos++;
	*label_set = true;
	return true;
}

static bool parse_statement(struct parser *p)
{
	size_t from;
	if (!parse_node(p, &from, true))
		return false;
	for (;;) {
		skip_spaces(p);
		if (statement_end(p))
			return true;
		enum diagram_edge_style style = DIAGRAM_ARROW;
		struct text label = { 0 };
		bool has_label = false;
		size_t link_at = p->pos;
		if (!parse_link(p, &style, &label, &has_label)) {
			free(label.p);
			return false;
		}
		skip_spaces(p);
		size_t to;
		if (!parse_node(p, &to, false)) {
			free(label.p);
			return false;
		}
		if (p->d->edge_count == DIAGRAM_MAX_EDGES) {
			free(label.p);
			return fail(p, link_at, "more than %d links", DIAGRAM_MAX_EDGES);
		}
		diagram_add_edge(p->d, from, to, has_label ? label.p : NULL,
				 has_label ? label.len : 0, style);
		free(label.p);
		from = to;
	}
}

static bool parse_header(struct parser *p)
{
	skip_blank(p);
	char ex[32];
	size_t at = p->pos, n = word_len(p);
	if (at_end(p))
		return fail(p, at, "empty diagram: expected 'graph' or 'flowchart'");
	if (!word_is(p, n, "graph") && !word_is(p, n, "flowchart"))
		return fail(p, at,
			    "expected 'graph' or 'flowchart' (only flowcharts are supported), "
			    "found '%s'",
			    excerpt(p, at, n ? n : 8, ex));
	p->pos += n;
	if (peek(p, 0) == '-')
		return fail(p, p->pos, "unsupported diagram type '%s'", excerpt(p, at, 24, ex));
	p->d->direction = DIAGRAM_TD;
	skip_spaces(p);
	at = p->pos;
	n = word_len(p);
	if (n) {
		if (word_is(p, n, "TD") || word_is(p, n, "TB"))
			p->d->direction = DIAGRAM_TD;
		else if (word_is(p, n, "BT"))
			p->d->direction = DIAGRAM_BT;
		else if (word_is(p, n, "LR"))
			p->d->direction = DIAGRAM_LR;
		else if (word_is(p, n, "RL"))
			p->d->direction = DIAGRAM_RL;
		else
			return fail(p, at, "unknown direction '%s' (TD, TB, BT, LR or RL)",
				    excerpt(p, at, n, ex));
		p->pos += n;
		skip_spaces(p);
	}
	if (!statement_end(p))
		return fail(p, p->pos, "unexpected '%s' after the header", excerpt(p, p->pos, 8, ex));
	return true;
}

/* Offset of the first byte that does not start a valid UTF-8 sequence, or len. */
static size_t utf8_first_invalid(const char *text, size_t len)
{
	size_t i = 0;
	while (i < len) {
		size_t n = 1;
		unsigned char c = (unsigned char)text[i];
		if (c >= 0xc2 && c <= 0xdf)
			n = 2;
		else if (c >= 0xe0 && c <= 0xef)
			n = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 4;
		else if (c >= 0x80)
			return i;
		if (i + n > len || !validate_utf8(text + i, n))
			return i;
		i += n;
	}
	return len;
}

bool mermaid_parse(const char *text, size_t len, struct diagram *out, struct mermaid_error *err)
{
	diagram_init(out);
	struct parser p = { .s = text, .len = len, .d = out, .err = err };
	memset(err, 0, sizeof(*err));
	if (len > MERMAID_MAX_BYTES)
		return fail(&p, MERMAID_MAX_BYTES, "diagram larger than %d bytes", MERMAID_MAX_BYTES);
	const char *nul = memchr(text, '\0', len);
	if (nul)
		return fail(&p, (size_t)(nul - text), "NUL byte in the diagram");
	size_t bad = utf8_first_invalid(text, len);
	if (bad < len)
		return fail(&p, bad, "invalid UTF-8");
	if (!parse_header(&p))
		return false;
	for (;;) {
		skip_blank(&p);
		if (at_end(&p))
			break;
		if (!parse_statement(&p))
			return false;
	}
	if (out->node_count == 0)
		return fail(&p, len, "no nodes in the diagram");
	return true;
}

/* ---- writing ------------------------------------------------------------------------------- */

static void put_label(struct text *t, const char *s)
{
	text_add(t, "\"", 1);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		char code[16];
		if (*c == '\n') {
			text_add(t, "<br>", 4);
		} else if (*c < 0x20 || *c == 0x7f || strchr("\"#<>|&", *c)) {
			snprintf(code, sizeof(code), "#%u;", (unsigned)*c);
			text_add(t, code, strlen(code));
		} else {
			text_add(t, (const char *)c, 1);
		}
	}
	text_add(t, "\"", 1);
}

char *mermaid_write(const struct diagram *d, size_t *len)
{
	static const char *const directions[] = { "TD", "BT", "LR", "RL" };
	static const char *const opens[] = { "[", "(", "{", "((", "([" };
	static const char *const closes[] = { "]", ")", "}", "))", "])" };
	static const char *const links[] = { "-->", "---", "-.->", "==>" };
	struct text t = { 0 };
	char line[64];
	snprintf(line, sizeof(line), "flowchart %s\n", directions[d->direction]);
	text_add(&t, line, strlen(line));
	for (size_t i = 0; i < d->node_count; i++) {
		const struct diagram_node *n = &d->nodes[i];
		/* Names of our own: a parsed id might be a keyword at the start of a line. */
		snprintf(line, sizeof(line), "    n%zu%s", i + 1, opens[n->shape]);
		text_add(&t, line, strlen(line));
		put_label(&t, n->label);
		snprintf(line, sizeof(line), "%s\n", closes[n->shape]);
		text_add(&t, line, strlen(line));
	}
	for (size_t i = 0; i < d->edge_count; i++) {
		const struct diagram_edge *e = &d->edges[i];
		snprintf(line, sizeof(line), "    n%zu %s", e->from + 1, links[e->style]);
		text_add(&t, line, strlen(line));
		if (e->label) {
			text_add(&t, "|", 1);
			put_label(&t, e->label);
			text_add(&t, "|", 1);
		}
		snprintf(line, sizeof(line), " n%zu\n", e->to + 1);
		text_add(&t, line, strlen(line));
	}
	if (len)
		*len = t.len;
	return t.p;
}
