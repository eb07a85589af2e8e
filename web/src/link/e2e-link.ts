/**
 * The page of an encrypted share link (served by the relay, relay/links/link-http.ts).
 * Takes the link's key from the fragment (never sent to the server), opens the copy's
 * sealed facts to show its name, then on "Download" fetches the sealed bytes, opens each
 * chunk, checks the whole file's SHA-256 against the sealed one, and only then saves it.
 * A dropped connection resumes from the last whole chunk (HTTP Range).
 */
import { createSHA256 } from 'hash-wasm';
import { CHUNK_SIZE } from '../../../relay/protocol/constants.js';
import { formatBytes } from '../../../relay/protocol/units.js';
import { keyOfFragment, linkCipher } from '../../../relay/crypto/link.js';
import { saveBlob } from '../lib/save.js';
import type { FolderCipher, SealedFacts } from '../../../relay/crypto/folder.js';

/** Above this, browsers that can write to a file the person picks do so rather than hold it all in memory. */
const IN_MEMORY_LIMIT = 256 * 1024 * 1024;
/** Tries of one download after its connection dropped (each resumes where the last stopped). */
const RESUMES = 5;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const root = $('e2e');
const status = $('e2e-status');
const progress = $<HTMLProgressElement>('e2e-progress');
const button = $<HTMLButtonElement>('e2e-save');

function say(text: string, bad = false) {
  status.textContent = text;
  status.className = bad ? 'err' : 'muted';
}

// Times in the visitor's own zone (as the relay's plain pages do).
for (const t of document.querySelectorAll<HTMLTimeElement>('time[data-local]')) {
  t.textContent = `${new Date(t.dateTime).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })} (${Intl.DateTimeFormat().resolvedOptions().timeZone})`;
}

/** Where the opened bytes go: a file the person picked, or memory (then a download). */
interface Target {
  write(bytes: Uint8Array): Promise<void>;
  /** Keeps what was written (only called once the SHA-256 matched). */
  finish(): Promise<void>;
  /** Throws away what was written. */
  abort(): Promise<void>;
}

async function pickTarget(name: string, size: number): Promise<Target> {
  const picker = (window as unknown as { showSaveFilePicker?: (o: { suggestedName: string }) => Promise<FileSystemFileHandle> }).showSaveFilePicker;
  if (picker && size > IN_MEMORY_LIMIT) {
    // A writable stream writes to a temporary file and replaces the target only on close.
    const stream = await (await picker.call(window, { suggestedName: name })).createWritable();
    return {
      write: (b) => stream.write(b as Uint8Array<ArrayBuffer>),
      finish: () => stream.close(),
      abort: () => stream.abort(),
    };
  }
  const parts: Uint8Array<ArrayBuffer>[] = [];
  return {
    async write(b) {
      parts.push(b as Uint8Array<ArrayBuffer>);
    },
    async finish() {
      saveBlob(name, new Blob(parts, { type: 'application/octet-stream' }), 60_000);
    },
    async abort() {
      parts.length = 0;
    },
  };
}

/** Fetches the sealed bytes from `offset` on, handing each whole sealed chunk to `chunk`. */
async function fetchChunks(url: string, total: number, chunk: (sealed: Uint8Array, index: number) => Promise<void>): Promise<void> {
  let offset = 0;
  let resumes = 0;
  while (offset < total || total === 0) {
    let res: Response;
    try {
      res = await fetch(url, { headers: offset ? { Range: `bytes=${offset}-` } : {}, cache: 'no-store', credentials: 'same-origin' });
    } catch (err) {
      if (++resumes > RESUMES) throw err;
      await new Promise((r) => setTimeout(r, 1000 * resumes));
      continue;
    }
    if (res.status === 410) throw new Error('This link has been used as many times as it allows.');
    if (res.status === 401) throw new Error('This link is protected: reload the page and enter its password.');
    if (!res.ok || !res.body || (offset > 0 && res.status !== 206)) throw new Error(`The server answered ${res.status}.`);
    const reader = res.body.getReader();
    // One sealed chunk at a time, gathered in place (opening it copies it).
    const buf = new Uint8Array(Math.min(CHUNK_SIZE, Math.max(1, total - offset)));
    let fill = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        let at = 0;
        while (at < value.length) {
          const want = Math.min(CHUNK_SIZE, total - offset) - fill;
          if (want <= 0) throw new Error('The server sent more than the file holds.');
          const n = Math.min(want, value.length - at);
          buf.set(value.subarray(at, at + n), fill);
          fill += n;
          at += n;
          if (fill === Math.min(CHUNK_SIZE, total - offset)) {
            await chunk(buf.subarray(0, fill), offset / CHUNK_SIZE);
            offset += fill;
            fill = 0;
          }
        }
      }
    } catch (err) {
      // A dropped connection: again from the last whole chunk.
      if ((err as Error).name === 'E2E_TAMPERED' || ++resumes > RESUMES) throw err;
      continue;
    }
    if (total === 0 || offset >= total) return;
    if (++resumes > RESUMES) throw new Error('The download kept stopping early; try again later.');
  }
}

async function download(cipher: FolderCipher, epoch: number, facts: SealedFacts, url: string, sealedBytes: number) {
  button.disabled = true;
  progress.hidden = false;
  progress.value = 0;
  let target: Target;
  try {
    target = await pickTarget(facts.name, facts.size);
  } catch {
    button.disabled = false; // the person closed the picker
    return;
  }
  const sha = await createSHA256();
  sha.init();
  let plain = 0;
  try {
    say('Downloading and decrypting…');
    await fetchChunks(url, sealedBytes, async (sealed, index) => {
      let bytes: Uint8Array;
      try {
        bytes = await cipher.openChunk(sealed, epoch, index);
      } catch (err) {
        (err as Error).name = 'E2E_TAMPERED';
        throw err;
      }
      sha.update(bytes);
      plain += bytes.length;
      await target.write(bytes);
      progress.value = sealedBytes ? (index * CHUNK_SIZE + sealed.length) / sealedBytes : 1;
    });
    const digest = sha.digest('hex');
    if (plain !== facts.size || digest !== facts.sha256) {
      throw Object.assign(new Error('The file that arrived is not the one that was shared (its SHA-256 differs): nothing was saved. (E2E_TAMPERED)'), { name: 'E2E_TAMPERED' });
    }
    await target.finish();
    progress.value = 1;
    say(`Saved ${facts.name}: decrypted here and checked (SHA-256 matches).`);
    $('e2e-sha').textContent = digest;
    $('e2e-check').hidden = false;
  } catch (err) {
    await target.abort().catch(() => {});
    progress.hidden = true;
    const text = (err as Error).name === 'E2E_TAMPERED' && !/E2E_TAMPERED/.test((err as Error).message)
      ? 'A part of the file does not open with this link\'s key: it was altered on the way or on the server. Nothing was saved. (E2E_TAMPERED)'
      : (err as Error).message;
    say(text, true);
  } finally {
    button.disabled = false;
  }
}

async function start() {
  const key = keyOfFragment(location.hash);
  if (!key) {
    say('This link is missing its key (the part after “#”). Ask the person who sent it for the whole link.', true);
    return;
  }
  const copyId = root.dataset.copy ?? '';
  const sealedBytes = Number(root.dataset.bytes);
  const cipher = await linkCipher(copyId, key);
  let opened: { epoch: number; facts: SealedFacts };
  try {
    opened = await cipher.openFacts(root.dataset.sealed ?? '');
  } catch {
    say('The key in this link does not open this file. Check that the link was copied whole. (E2E_TAMPERED)', true);
    return;
  }
  const { facts } = opened;
  $('e2e-name').textContent = facts.name;
  document.title = `${facts.name} · Ferry`;
  $('e2e-size').textContent = `${formatBytes(facts.size)}${facts.size >= 1024 ? ` (${facts.size.toLocaleString('en')} bytes)` : ''}`;
  say('Ready: the file is decrypted on this device as it downloads.');
  button.disabled = false;
  button.addEventListener('click', () => void download(cipher, opened.epoch, facts, root.dataset.file ?? '', sealedBytes));
}

void start().catch((err) => say(`This page could not open the file: ${(err as Error).message}`, true));
