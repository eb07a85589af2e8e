/**
 * What a sync pair leaves alone: the rules of the folder's `.ferryignore` (gitignore
 * syntax, read by the `ignore` library that eslint uses; the file itself is synced, so
 * every device ignores the same) and the junk operating systems and editors leave.
 */
import ignore, { type Ignore } from 'ignore';

/** The file of rules, at the top of a synced folder. */
export const IGNORE_FILE = '.ferryignore';

/** Ignored everywhere, whatever `.ferryignore` says. */
export const DEFAULT_IGNORES = [
  '.DS_Store',
  'Thumbs.db',
  'desktop.ini',
  '~$*',
  '*.swp',
  '*.swx',
  '.*.swp',
  '*~',
  '.~lock.*#',
  '*.crdownload',
  '*.part',
  '*.partial',
  '.*.ferry-part',
  '.Trash-*',
  '.fseventsd',
  '.Spotlight-V100',
];

export class IgnoreRules {
  private readonly rules: Ignore;
  /** The lines of `.ferryignore` that are rules (for status). */
  readonly custom: number;

  constructor(ignoreFile?: string) {
    this.rules = ignore({ allowRelativePaths: true }).add(DEFAULT_IGNORES);
    const lines = (ignoreFile ?? '').split(/\r?\n/).filter((l) => l.trim() && !l.startsWith('#'));
    this.custom = lines.length;
    this.rules.add(lines);
  }

  /** True when `path` (relative, `/`-separated) is left alone; `folder` for folders (rules ending in `/`). */
  ignores(path: string, folder = false): boolean {
    if (path === IGNORE_FILE) return false;
    return this.rules.ignores(folder ? `${path}/` : path);
  }
}
