// The user's contributions per day over a year (GET /me/activity), as a weeks × weekdays grid.

import { useEffect, useMemo, useRef, useState } from 'react';
import { plainError } from '../protocol/errors.js';
import { useApp } from './hooks.js';

const DAY = 86400000;

function level(count, max) {
	if (!count)
		return 0;
	if (max <= 4)
		return Math.min(4, count);
	return Math.min(4, 1 + Math.floor((count / max) * 3.999));
}

export function ActivityHeatmap() {
	const { api } = useApp();
	const thisYear = new Date().getUTCFullYear();
	const [year, setYear] = useState(thisYear);
	const [data, setData] = useState(null);
	const [error, setError] = useState('');
	const scroller = useRef(null);

	useEffect(() => {
		let live = true;
		setError('');
		api.activity(year).then((d) => live && setData(d)).catch((e) => live && setError(plainError(e)));
		return () => { live = false; };
	}, [api, year]);

	const cells = useMemo(() => {
		if (!data)
			return [];
		const counts = new Map((data.days || []).map((d) => [d.date, d.count]));
		const max = Math.max(0, ...counts.values());
		const start = Date.UTC(year, 0, 1);
		const end = Date.UTC(year + 1, 0, 1);
		const lead = new Date(start).getUTCDay();
		const out = [];
		for (let i = 0; i < lead; i++)
			out.push(null);
		for (let t = start; t < end; t += DAY) {
			const date = new Date(t).toISOString().slice(0, 10);
			const count = counts.get(date) || 0;
			out.push({ date, count, level: level(count, max) });
		}
		return out;
	}, [data, year]);

	// On a narrow screen, show the most recent weeks first.
	useEffect(() => {
		const el = scroller.current;
		const today = el && el.querySelector(`[data-date="${new Date().toISOString().slice(0, 10)}"]`);
		if (today)
			el.scrollLeft = Math.max(0, today.offsetLeft - el.clientWidth + 40);
	}, [cells, year, thisYear]);

	return (
		<div className="heatmap" id="activity">
			<div className="heatmap-head">
				<button type="button" className="quiet" aria-label="Previous year" onClick={() => setYear(year - 1)}>‹</button>
				<strong>{year}</strong>
				<button type="button" className="quiet" aria-label="Next year" disabled={year >= thisYear} onClick={() => setYear(year + 1)}>›</button>
				{data && (
					<span className="muted small" id="activity-summary">
						{data.total} change{data.total === 1 ? '' : 's'} · current streak {data.current_streak} day{data.current_streak === 1 ? '' : 's'} · longest {data.longest_streak}
					</span>
				)}
			</div>
			<div className="heatmap-scroll" ref={scroller}>
				<div className="heatmap-grid" role="img" aria-label={`Activity in ${year}`}>
					{cells.map((c, i) => c
						? <span key={i} className={`cell l${c.level}`} data-date={c.date} data-count={c.count} title={`${c.count} change${c.count === 1 ? '' : 's'} on ${c.date}`} />
						: <span key={i} className="cell blank" />)}
				</div>
			</div>
			<div className="heatmap-legend muted small">Less <span className="cell l0" /><span className="cell l1" /><span className="cell l2" /><span className="cell l3" /><span className="cell l4" /> More</div>
			{error && <p className="form-error">{error}</p>}
		</div>
	);
}
