/** Human-readable sizes, durations and dates. */
import { formatBytes } from '../../../relay/protocol/units';

export function bytes(n: number | undefined): string {
  return n === undefined ? '' : formatBytes(n);
}

export function speed(bytesPerSecond: number): string {
  return bytesPerSecond > 0 ? `${bytes(bytesPerSecond)}/s` : '';
}

export function duration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '';
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

// One formatter for every date shown: making one per call cost more than the rest of a row.
const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

export function dateTime(ms: number | undefined): string {
  return ms ? DATE_TIME.format(ms) : '';
}
