/**
 * Which rows of a long list are drawn: only those in or near the viewport, with
 * padding standing in for the rest, so a folder of 10,000 files costs what ~50 rows do.
 * Rows have a fixed height set by CSS from the same number, so nothing is measured and
 * drawing never moves what it was computed from.
 */

export interface RowWindow {
  /** Items drawn: `start` up to (not including) `end`. */
  start: number;
  end: number;
  /** Pixels standing in for the rows above and below. */
  before: number;
  after: number;
}

/**
 * The window for `count` items laid out `perRow` to a row of `rowPx` pixels, when the
 * list's top is at `top` pixels from the viewport's (negative once scrolled past) and
 * the viewport is `height` tall; `overscan` rows more on each side.
 */
export function rowWindow(count: number, perRow: number, rowPx: number, top: number, height: number, overscan = 6): RowWindow {
  const rows = Math.ceil(count / Math.max(1, perRow));
  if (rows === 0 || rowPx <= 0) return { start: 0, end: count, before: 0, after: 0 };
  const firstRow = Math.max(0, Math.min(rows - 1, Math.floor(-top / rowPx) - overscan));
  const lastRow = Math.max(firstRow, Math.min(rows - 1, Math.ceil((height - top) / rowPx) + overscan));
  return {
    start: firstRow * perRow,
    end: Math.min(count, (lastRow + 1) * perRow),
    before: firstRow * rowPx,
    after: (rows - lastRow - 1) * rowPx,
  };
}
