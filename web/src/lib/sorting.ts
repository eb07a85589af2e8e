/**
 * How the library orders and filters what it lists: folders first, then by name in
 * natural order (note2 before note10, case and accents aside), modified time, size or
 * type; and the kinds of file people filter by, from the name's extension.
 */

export type SortKey = 'name' | 'modified' | 'size' | 'type';
export type Kind = 'folder' | 'image' | 'video' | 'audio' | 'document' | 'archive' | 'other';

const EXTENSIONS: Record<Exclude<Kind, 'folder' | 'other'>, string[]> = {
  image: ['jpg', 'jpeg', 'png', 'gif', 'webp', 'avif', 'heic', 'heif', 'bmp', 'tif', 'tiff', 'svg', 'raw', 'cr2', 'nef', 'dng'],
  video: ['mp4', 'm4v', 'mov', 'webm', 'mkv', 'avi', 'wmv', 'mpg', 'mpeg', '3gp'],
  audio: ['mp3', 'm4a', 'aac', 'flac', 'wav', 'ogg', 'oga', 'opus', 'wma', 'aiff'],
  document: ['pdf', 'txt', 'md', 'doc', 'docx', 'odt', 'rtf', 'xls', 'xlsx', 'ods', 'csv', 'ppt', 'pptx', 'odp', 'html', 'json', 'xml'],
  archive: ['zip', 'tar', 'gz', 'tgz', 'bz2', 'xz', '7z', 'rar', 'zst', 'iso', 'dmg'],
};

/** The extension of a name, lower case, without the dot ('' when there is none). */
export function extension(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : '';
}

/** What kind of file a name is, as the type filter groups them. */
export function kindOf(entry: { kind: 'file' | 'folder'; name: string }): Kind {
  if (entry.kind === 'folder') return 'folder';
  const ext = extension(entry.name);
  for (const [kind, list] of Object.entries(EXTENSIONS)) if (list.includes(ext)) return kind as Kind;
  return 'other';
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** Natural order of names: note2 before note10, Äpfel beside apfel. */
export function compareNames(a: string, b: string): number {
  return collator.compare(a, b) || (a < b ? -1 : a > b ? 1 : 0);
}

interface Sortable {
  kind: 'file' | 'folder';
  name: string;
  size?: number;
  modifiedAt?: number;
}

/** A sorted copy: folders first (by name), then files by `key`, `descending` when asked; ties by name. */
export function sortEntries<T extends Sortable>(entries: readonly T[], key: SortKey, descending = false): T[] {
  const sign = descending ? -1 : 1;
  const by = (a: T, b: T): number => {
    switch (key) {
      case 'modified':
        return (a.modifiedAt ?? 0) - (b.modifiedAt ?? 0);
      case 'size':
        return (a.size ?? 0) - (b.size ?? 0);
      case 'type':
        return compareNames(extension(a.name), extension(b.name));
      default:
        return compareNames(a.name, b.name);
    }
  };
  return [...entries].sort((a, b) => {
    if (a.kind !== b.kind) return a.kind === 'folder' ? -1 : 1;
    if (a.kind === 'folder') return compareNames(a.name, b.name) * (key === 'name' ? sign : 1);
    return by(a, b) * sign || compareNames(a.name, b.name);
  });
}
