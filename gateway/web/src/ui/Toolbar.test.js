import { describe, expect, test } from 'vitest';
import { TOOLS, toolsOnBar } from './Toolbar.jsx';

// The bar as styles.css lays it out: 40 px buttons 2 px apart, 4 px padding, a 1 px border and
// 12 px from each side of the window; with every tool, an 11 px separator and the lock.
function barWidth(onBar) {
	const items = onBar === TOOLS.length ? TOOLS.length + 1 : onBar + 1;
	return items * 40 + (items - 1) * 2 + (onBar === TOOLS.length ? 11 : 0) + 2 * 4 + 2;
}

describe('toolbar', () => {
	test('a wide window shows every tool and the lock on the bar', () => {
		expect(toolsOnBar(1280)).toBe(TOOLS.length);
		expect(toolsOnBar(547)).toBe(TOOLS.length);
	});

	test('a phone keeps what fits next to "More tools", without scrolling sideways', () => {
		for (const width of [320, 360, 390, 414, 480, 546]) {
			const n = toolsOnBar(width);
			expect(n).toBeLessThan(TOOLS.length);
			expect(barWidth(n)).toBeLessThanOrEqual(width - 24);
			expect(barWidth(n + 1)).toBeGreaterThan(width - 24); // and no fewer than fit
		}
		expect(toolsOnBar(390)).toBe(7);
		expect(toolsOnBar(320)).toBe(5);
	});
});
