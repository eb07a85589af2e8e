/**
 * Where a command's time goes, for `FERRY_TIMINGS=1`: milliseconds since the process
 * started at each step, printed on stderr when the command ends. Costs nothing otherwise.
 */
const on = process.env.FERRY_TIMINGS === '1';
const marks: [string, number][] = [];

export function mark(step: string): void {
  if (on) marks.push([step, performance.now()]);
}

export function printTimings(): void {
  if (!on) return;
  mark('end');
  process.stderr.write(`timings (ms since start): ${marks.map(([s, t]) => `${s} ${t.toFixed(1)}`).join(', ')}\n`);
}
