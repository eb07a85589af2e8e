/**
 * Library paths: relative, `/`-separated, NFC-normalised. One checker used by the
 * relay (to refuse) and by clients (to fail early with the same code).
 */
import { MAX_NAME_BYTES, MAX_PATH_BYTES } from './constants.js';
import { FerryError } from './errors.js';

const encoder = new TextEncoder();
// C0 controls, DEL and C1 controls. Backslash is refused too: it is a separator on Windows.
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\\]/;
// In a `u` regex a surrogate pair is one code point, so this matches only lone halves.
export const LONE_SURROGATE = /\p{Surrogate}/u;

/**
 * Returns the normalised form of a file path, or throws BAD_PATH.
 * Refused: empty paths, absolute paths, `.` and `..` segments, empty segments,
 * NUL and control characters, backslashes, segments over 255 UTF-8 bytes.
 */
export function checkPath(path: string, opts: { allowRoot?: boolean } = {}): string {
  if (typeof path !== 'string') throw new FerryError('BAD_PATH', 'Path must be a string.');
  // A lone surrogate is no character: it cannot be stored as UTF-8 and would be replaced
  // by U+FFFD, so two different names (\uD800a, \uDC00a) would become one file.
  if (LONE_SURROGATE.test(path)) throw new FerryError('BAD_PATH', `Path contains a lone surrogate (not a Unicode character): ${JSON.stringify(path)}`);
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

/**
 * The sibling a conflicting write is kept at: `report (conflict from laptop 2026-12-01
 * 14.03).pdf`, with ` 2`, ` 3`… before the `)` when that name is taken. `at` is shown
 * in the relay's local time; the device name loses characters a path cannot hold.
 */
export function conflictPath(path: string, device: string, at: Date, n = 1): string {
  const folder = parentOf(path);
  const name = baseName(path);
  const m = /^(.+?)((?:\.tar)?\.[A-Za-z0-9]{1,8})$/.exec(name);
  const pad = (v: number) => String(v).padStart(2, '0');
  const when = `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${pad(at.getHours())}.${pad(at.getMinutes())}`;
  const who = device.replace(/[\/\\\u0000-\u001f()]/g, '').trim().slice(0, 64) || 'another device';
  const tag = ` (conflict from ${who} ${when}${n > 1 ? ` ${n}` : ''})`;
  return joinPath(folder, m ? `${m[1]}${tag}${m[2]}` : `${name}${tag}`);
}

/** The path a conflict copy (made by `conflictPath`) stands beside; undefined for any other path. */
export function conflictOriginal(path: string): string | undefined {
  const m = / \(conflict from [^()]+? \d{4}-\d{2}-\d{2} \d{2}\.\d{2}(?: \d+)?\)((?:\.tar)?\.[A-Za-z0-9]{1,8})?$/.exec(baseName(path));
  if (!m || m.index === 0) return undefined;
  return joinPath(parentOf(path), baseName(path).slice(0, m.index) + (m[1] ?? ''));
}

/** True for a name `conflictPath` made from `name`. */
export function isConflictName(name: string, original: string): boolean {
  const m = /^(.+?)((?:\.tar)?\.[A-Za-z0-9]{1,8})$/.exec(original);
  const stem = m ? m[1] : original;
  const ext = m ? m[2] : '';
  return name.startsWith(`${stem} (conflict from `) && name.endsWith(`)${ext}`);
}

/**
 * Characters that reorder the text around them (bidirectional controls): in a name they
 * can make `invoice\u202Egpj.exe` read as "invoiceexe.jpg".
 */
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A name as it may be shown to a person: every bidirectional control is replaced by a
 * visible mark such as `[U+202E]`, so no name can disguise what follows it. Names are
 * stored exactly as given; only their display changes.
 */
export function displayName(name: string): string {
  return name.replace(BIDI_CONTROLS, (c) => `[U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}]`);
}

/** True when a name holds a bidirectional control (see `displayName`). */
export function hasBidiControls(name: string): boolean {
  return new RegExp(BIDI_CONTROLS.source).test(name);
}

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;
const WINDOWS_FORBIDDEN = /[<>:"|?*]/;

/**
 * Why a name (one path segment) cannot be held as it is on some systems, for clients
 * that write files there (sync). The relay stores such names; a client reports and skips
 * what its own file system refuses. Case-only twins (`Case.txt`, `case.txt`) are a
 * question about two names, answered by `caseTwins`.
 */
export function portabilityProblems(name: string): { windows: string[]; macos: string[] } {
  const windows: string[] = [];
  const macos: string[] = [];
  if (WINDOWS_RESERVED.test(name)) windows.push(`"${name.split('.')[0]}" is a reserved device name`);
  if (WINDOWS_FORBIDDEN.test(name)) windows.push('contains one of < > : " | ? *');
  if (/[. ]$/.test(name)) windows.push('ends with a dot or a space');
  if (name.includes(':')) macos.push('contains ":" (shown as "/" in Finder)');
  return { windows, macos };
}

/**
 * Groups of names that differ only in letter case: one file each on the relay (and on
 * Linux), but a single file on the case-insensitive file systems macOS and Windows use
 * by default.
 */
export function caseTwins(names: Iterable<string>): string[][] {
  const groups = new Map<string, string[]>();
  for (const n of names) {
    const key = n.normalize('NFC').toLowerCase();
    const g = groups.get(key);
    if (g) g.push(n);
    else groups.set(key, [n]);
  }
  return [...groups.values()].filter((g) => g.length > 1);
}

/**
 * Compares two strings by code points, the order of their UTF-8 bytes (and of `tree`);
 * plain `<` compares UTF-16 units, which puts U+E000–U+FFFF after astral characters.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (D800–DFFF) stand for code points above FFFF: move them past E000–FFFF.
    if (x >= 0xd800) x += x <= 0xdfff ? 0x2000 : -0x800;
    if (y >= 0xd800) y += y <= 0xdfff ? 0x2000 : -0x800;
    return x - y;
  }
  return a.length - b.length;
}
