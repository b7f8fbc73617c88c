import { expect, test } from 'vitest';
import { looksLikeMermaid } from './mermaid.js';

test('a pasted flowchart is recognised; other text is not', () => {
	expect(looksLikeMermaid('graph TD\nA-->B')).toBe(true);
	expect(looksLikeMermaid('  flowchart LR; a-->b')).toBe(true);
	expect(looksLikeMermaid('%% a comment\nflowchart TD\n')).toBe(true);
	expect(looksLikeMermaid('graphs are nice')).toBe(false);
	expect(looksLikeMermaid('sequenceDiagram\nA->>B: hi')).toBe(false);
	expect(looksLikeMermaid('{"type":"flowstate/shapes"}')).toBe(false);
});
