/**
 * Turns what a person picked or dropped into files with their paths relative to the
 * chosen folder, so nested folders keep their structure.
 */

export interface PickedFile {
  file: File;
  /** `report.pdf`, or `Photos/2024/img.jpg` for a file inside a picked folder. */
  relativePath: string;
}

/** Files from an `<input type="file">` (with or without `webkitdirectory`). */
export function fromInput(list: FileList | null): PickedFile[] {
  return [...(list ?? [])].map((file) => ({ file, relativePath: file.webkitRelativePath || file.name }));
}

function readEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

async function walk(entry: FileSystemEntry, prefix: string, out: PickedFile[]): Promise<void> {
  if (entry.isFile) {
    const file = await new Promise<File>((resolve, reject) => (entry as FileSystemFileEntry).file(resolve, reject));
    out.push({ file, relativePath: prefix + entry.name });
  } else if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    // readEntries answers in batches until it returns an empty one.
    for (let batch = await readEntries(reader); batch.length > 0; batch = await readEntries(reader)) {
      for (const child of batch) await walk(child, `${prefix}${entry.name}/`, out);
    }
  }
}

/** Files and folders dropped on the page. */
export async function fromDrop(data: DataTransfer | null): Promise<PickedFile[]> {
  if (!data) return [];
  const entries = [...data.items].map((i) => i.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => !!e);
  if (entries.length === 0) return fromInput(data.files);
  const out: PickedFile[] = [];
  for (const e of entries) await walk(e, '', out);
  return out;
}

/**
 * The name to upload a pasted file under: a screenshot pasted from the clipboard is
 * `image.png` every time, so such generic names get the time they were pasted.
 */
export function pastedName(file: File, now = new Date()): string {
  if (!/^image\.(png|jpe?g|gif|webp)$/i.test(file.name) && file.name !== '') return file.name;
  const ext = /\.[a-z0-9]+$/i.exec(file.name)?.[0] ?? `.${(file.type.split('/')[1] ?? 'bin').replace('jpeg', 'jpg')}`;
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} ${pad(now.getHours())}.${pad(now.getMinutes())}.${pad(now.getSeconds())}`;
  return `Pasted ${stamp}${ext}`;
}
