// Whether pasted text is a Mermaid flowchart (the subset FlowState imports starts with `graph`
// or `flowchart`, after optional `%%` comment lines). Pure.
export const MERMAID_RE = /^\s*(?:%%[^\n]*\n\s*)*(graph|flowchart)\b/;

export function looksLikeMermaid(text) {
	return typeof text === 'string' && MERMAID_RE.test(text);
}
