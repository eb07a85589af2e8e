import { describe, expect, it } from 'vitest';
import { rowWindow } from '../../web/src/lib/windowing.js';

describe('rowWindow', () => {
  it('draws the rows in view and a few around them, padding for the rest', () => {
    // 10,000 rows of 70 px, the list's top 7,000 px above the viewport (row 100 at the top).
    const w = rowWindow(10_000, 1, 70, -7000, 700, 5);
    expect([w.start, w.end]).toEqual([95, 116]);
    expect(w.before).toBe(95 * 70);
    expect(w.before + (w.end - w.start) * 70 + w.after).toBe(10_000 * 70);
  });

  it('starts at the top before the list is reached and ends at its last row', () => {
    expect(rowWindow(1000, 1, 50, 400, 600, 2)).toEqual({ start: 0, end: 7, before: 0, after: 993 * 50 });
    const end = rowWindow(1000, 1, 50, -49_800, 600, 2);
    expect([end.end, end.after]).toEqual([1000, 0]);
    // Scrolled far past (a shorter folder replaced a long one): still a valid window.
    const past = rowWindow(10, 1, 50, -90_000, 600, 2);
    expect([past.start, past.end, past.before + (past.end - past.start) * 50 + past.after]).toEqual([9, 10, 500]);
  });

  it('counts grid rows: items several to a row, the last row partly full', () => {
    const w = rowWindow(1003, 4, 200, -2000, 800, 1);
    expect([w.start, w.end]).toEqual([36, 64]);
    expect(w.before + 7 * 200 + w.after).toBe(251 * 200);
    expect(rowWindow(1003, 4, 200, -50_000, 800, 1).end).toBe(1003);
  });

  it('draws everything of an empty list or one without a row height', () => {
    expect(rowWindow(0, 1, 70, 0, 700)).toEqual({ start: 0, end: 0, before: 0, after: 0 });
    expect(rowWindow(5, 1, 0, 0, 700)).toEqual({ start: 0, end: 5, before: 0, after: 0 });
  });
});
