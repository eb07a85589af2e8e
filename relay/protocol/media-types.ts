/**
 * Which files open in the app's viewer, and the Content-Type the relay serves them
 * with. Only types a browser shows without running the file are here: no HTML, no SVG,
 * nothing that would execute as the app's own origin. Everything else downloads.
 */

/** How a file is shown when opened. */
export type Preview = 'image' | 'video' | 'audio' | 'pdf' | 'text';

const TYPES: Record<string, [Preview, string]> = {
  jpg: ['image', 'image/jpeg'],
  jpeg: ['image', 'image/jpeg'],
  png: ['image', 'image/png'],
  gif: ['image', 'image/gif'],
  webp: ['image', 'image/webp'],
  avif: ['image', 'image/avif'],
  bmp: ['image', 'image/bmp'],
  mp4: ['video', 'video/mp4'],
  m4v: ['video', 'video/mp4'],
  mov: ['video', 'video/quicktime'],
  webm: ['video', 'video/webm'],
  ogv: ['video', 'video/ogg'],
  mp3: ['audio', 'audio/mpeg'],
  m4a: ['audio', 'audio/mp4'],
  aac: ['audio', 'audio/aac'],
  flac: ['audio', 'audio/flac'],
  wav: ['audio', 'audio/wav'],
  ogg: ['audio', 'audio/ogg'],
  oga: ['audio', 'audio/ogg'],
  opus: ['audio', 'audio/ogg'],
  pdf: ['pdf', 'application/pdf'],
};

/** Text of these kinds is shown as text (code highlighted); served as text/plain, never run. */
const TEXT = new Set([
  'txt', 'md', 'markdown', 'log', 'csv', 'tsv', 'json', 'jsonl', 'yaml', 'yml', 'toml', 'ini', 'conf', 'cfg', 'env',
  'xml', 'html', 'htm', 'svg', 'css', 'scss', 'js', 'mjs', 'cjs', 'ts', 'tsx', 'jsx', 'svelte', 'vue',
  'py', 'rb', 'go', 'rs', 'java', 'kt', 'c', 'h', 'cc', 'cpp', 'hpp', 'cs', 'swift', 'php', 'pl', 'lua', 'r',
  'sh', 'bash', 'zsh', 'fish', 'ps1', 'sql', 'dockerfile', 'makefile', 'gitignore', 'diff', 'patch',
]);

/** Images the relay makes thumbnails of (what its image library decodes). */
const THUMBNAILED = new Set(['jpg', 'jpeg', 'png', 'gif', 'webp', 'avif', 'tif', 'tiff', 'heic', 'heif']);

function extensionOf(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  // "Makefile", "Dockerfile": a known text name without an extension.
  return (dot > 0 ? base.slice(dot + 1) : base).toLowerCase();
}

/** How a file of this name is shown in the viewer, or undefined when it only downloads. */
export function previewOf(name: string): Preview | undefined {
  const ext = extensionOf(name);
  return TYPES[ext]?.[0] ?? (TEXT.has(ext) ? 'text' : undefined);
}

/** The Content-Type a file of this name is served with to be shown in the page. */
export function inlineType(name: string): string | undefined {
  const ext = extensionOf(name);
  return TYPES[ext]?.[1] ?? (TEXT.has(ext) ? 'text/plain; charset=utf-8' : undefined);
}

/** True when the relay makes a thumbnail of a file of this name. */
export function hasThumbnail(name: string): boolean {
  return THUMBNAILED.has(extensionOf(name));
}

/** The language highlighting uses for a text file ('' for plain text). */
export function languageOf(name: string): string {
  const ext = extensionOf(name);
  const aliases: Record<string, string> = { mjs: 'javascript', cjs: 'javascript', js: 'javascript', jsx: 'javascript', ts: 'typescript', tsx: 'typescript', svelte: 'xml', vue: 'xml', htm: 'xml', html: 'xml', svg: 'xml', yml: 'yaml', md: 'markdown', sh: 'bash', zsh: 'bash', py: 'python', rb: 'ruby', rs: 'rust', kt: 'kotlin', cc: 'cpp', hpp: 'cpp', h: 'c', cs: 'csharp', ps1: 'powershell', jsonl: 'json', conf: 'ini', cfg: 'ini', env: 'ini', gitignore: 'plaintext', patch: 'diff', txt: 'plaintext', log: 'plaintext', csv: 'plaintext', tsv: 'plaintext' };
  return aliases[ext] ?? ext;
}
