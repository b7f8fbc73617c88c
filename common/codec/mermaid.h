/*
 * Mermaid flowcharts, the subset FlowState imports and exports (docs/protocol.md, "Diagrams
 * as code"): one parser of untrusted bytes and one writer, pure and fuzzed. The graph they
 * read and write is model/diagram.h's.
 *
 * Accepted (anything else is refused with its line and column):
 *   - a header `graph` or `flowchart`, optionally followed by TD, TB, BT, LR or RL (default TD);
 *   - statements separated by newlines or `;`: a node, or a chain of nodes joined by links;
 *   - a node `id` ([A-Za-z0-9_], at most 64 bytes) optionally followed by its shape and label:
 *     `[label]`, `(label)`, `{label}`, `((label))`, `([label])`; a label is either plain text
 *     (no quotes, brackets, braces, parentheses or `|`; surrounding spaces trimmed) or a
 *     "quoted string" (anything but `"`); a node named again without a shape keeps its label,
 *     with one takes the new one (as Mermaid does); a node never given a label shows its id;
 *   - links `-->`, `---`, `-.->`, `==>`, each optionally followed by `|label|` (plain or
 *     quoted);
 *   - in labels, `<br>` (or `<br/>`, `<br />`) is a line break and `#quot;`, `#amp;`, `#lt;`,
 *     `#gt;`, `#35;`-style decimal codes are characters;
 *   - `%%` comments on lines of their own.
 * Refused with a precise message: subgraphs, styling (classDef, class, style, linkStyle,
 * `:::`), click, direction statements, `&` chains, other node shapes and link forms,
 * `A -- text --> B` labels, NUL bytes, invalid UTF-8.
 * Bounds: MERMAID_MAX_BYTES of input, DIAGRAM_MAX_NODES nodes, DIAGRAM_MAX_EDGES links,
 * DIAGRAM_MAX_LABEL bytes per label.
 *
 * Ownership: mermaid_parse fills a diagram the caller releases with diagram_free (also after
 * a failure); mermaid_write returns a string the caller frees.
 */
#ifndef FLOWSTATE_MERMAID_H
#define FLOWSTATE_MERMAID_H

#include <stdbool.h>
#include <stddef.h>

#include "model/diagram.h"

#define MERMAID_MAX_BYTES 65536

struct mermaid_error {
	int line, column;          /* 1-based; the column counts characters, not bytes */
	char message[200];         /* valid UTF-8, printable */
};

bool mermaid_parse(const char *text, size_t len, struct diagram *out, struct mermaid_error *err)
	__attribute__((warn_unused_result));

/*
 * The diagram as a Mermaid flowchart: `flowchart <dir>`, then one line per node
 * (`    n1["label"]` with the node's shape) and one per edge (`    n1 -->|"label"| n2`), with
 * every label quoted and `"`, `#`, `<`, `>`, `|` and control characters written as `#n;`
 * codes and line breaks as `<br>`, so mermaid_parse reads back exactly the same graph.
 */
char *mermaid_write(const struct diagram *d, size_t *len);

#endif
