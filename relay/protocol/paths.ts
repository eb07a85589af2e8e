/**
 * Library paths: relative, `/`-separated, NFC-normalised. One checker used by the
 * relay (to refuse) and by clients (to fail early with the same code).
 */
import { MAX_NAME_BYTES, MAX_PATH_BYTES } from './constants.js';
import { FerryError } from './errors.js';

const encoder = new TextEncoder();
// C0 controls, DEL and C1 controls. Backslash is refused too: it is a separator on Windows.
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\\]/;

/**
 * Returns the normalised form of a file path, or throws BAD_PATH.
 * Refused: empty paths, absolute paths, `.` and `..` segments, empty segments,
 * NUL and control characters, backslashes, segments over 255 UTF-8 bytes.
 */
export function checkPath(path: string, opts: { allowRoot?: boolean } = {}): string {
  if (typeof path !== 'string') throw new FerryError('BAD_PATH', 'Path must be a string.');
  const p = path.normalize('NFC');
  if (p === '') {
    if (opts.allowRoot) return '';
    throw new FerryError('BAD_PATH', 'Path is empty.');
  }
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) throw new FerryError('BAD_PATH', `Absolute paths are not allowed: ${JSON.stringify(path)}`);
  if (FORBIDDEN.test(p)) throw new FerryError('BAD_PATH', `Path contains a control character or backslash: ${JSON.stringify(path)}`);
  if (encoder.encode(p).byteLength > MAX_PATH_BYTES) throw new FerryError('BAD_PATH', 'Path is too long.');
  for (const segment of p.split('/')) {
    if (segment === '') throw new FerryError('BAD_PATH', `Path has an empty segment: ${JSON.stringify(path)}`);
    if (segment === '.' || segment === '..') throw new FerryError('BAD_PATH', `Path may not contain "${segment}": ${JSON.stringify(path)}`);
    if (encoder.encode(segment).byteLength > MAX_NAME_BYTES) {
      throw new FerryError('BAD_PATH', `A name is over ${MAX_NAME_BYTES} bytes: ${JSON.stringify(segment.slice(0, 40))}…`);
    }
  }
  return p;
}

/** Checks a folder path; the empty string is the library's root. */
export function checkFolder(path: string): string {
  return checkPath(path.replace(/\/+$/, ''), { allowRoot: true });
}

/** Joins a folder and a relative path. */
export function joinPath(folder: string, rest: string): string {
  return folder ? `${folder}/${rest}` : rest;
}

/** The folder part of a path ('' at the root). */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** The last segment of a path. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * The n-th rename candidate for a clashing path: `report.pdf` → `report_v2.pdf`,
 * `archive.tar.gz` → `archive_v2.tar.gz`, `.env` → `.env_v2`, `README` → `README_v2`.
 */
export function renamedPath(path: string, n: number): string {
  const folder = parentOf(path);
  const name = baseName(path);
  // The extension is the last `.xxx`, with a `.tar` before it kept together (`.tar.gz`).
  const m = /^(.+?)((?:\.tar)?\.[A-Za-z0-9]{1,8})$/.exec(name);
  const renamed = m ? `${m[1]}_v${n}${m[2]}` : `${name}_v${n}`;
  return joinPath(folder, renamed);
}
