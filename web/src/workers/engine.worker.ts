/**
 * The transfer engine's worker: owns the one WebSocket (through FerryClient), runs
 * uploads and downloads with the shared engine, and hashes with the pool, so the page
 * stays smooth. The page talks to it through comlink (see net/engine.ts).
 */
import * as Comlink from 'comlink';
import { FerryClient, downloadFile, uploadFile, type FileSource, type UploadPhase, type WebSocketLike } from '../../../relay/client';
import { FerryError } from '../../../relay/protocol';
import { HashPool } from './hash-pool';
import { downloadSink } from '../storage/db';
import type { EngineApi, EngineEvent } from './engine-api';

/**
 * Unacknowledged chunks in flight. Larger than the CLI's 8: a browser's send path
 * (Blob read, hand-off to the network process) adds latency per chunk.
 */
const UPLOAD_WINDOW = 16;

let emit: (e: EngineEvent) => void = () => {};
let client: FerryClient | undefined;
const pool = new HashPool();
const running = new Map<string, AbortController>();

function requireClient(): FerryClient {
  if (!client) throw new FerryError('CONNECTION_LOST', 'Not connected.');
  return client;
}

/** Rebuilds a FerryError on the page side: comlink passes plain errors only. */
function plain(err: unknown): Error {
  const e = err as FerryError;
  const out = new Error(e?.message ?? String(err));
  out.name = e?.code ?? e?.name ?? 'Error';
  return out;
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw plain(err);
  }
}

function fileSource(file: File): FileSource {
  return {
    size: file.size,
    mtime: file.lastModified,
    async read(offset, length) {
      return new Uint8Array(await file.slice(offset, offset + length).arrayBuffer());
    },
    slice(offset, length) {
      return file.slice(offset, offset + length);
    },
  };
}

// Where the browser reports connectivity changes, act at once instead of waiting for
// the watchdog or the backoff.
self.addEventListener('online', () => client?.retryNow());
self.addEventListener('offline', () => client?.dropConnection('the device went offline'));

const api: EngineApi = {
  setListener(listener) {
    emit = listener;
  },

  connect(url, token) {
    return guard(async () => {
      client?.close();
      client = new FerryClient({
        url,
        token,
        createSocket: (u, p) => new WebSocket(u, p) as unknown as WebSocketLike,
        onState: (state, detail) => emit({ type: 'connection.v1', state, detail }),
      });
      client.onLogLine((line) => emit({ type: 'relay.log.v1', line }));
      client.onLibraryEvent((event) => emit({ type: 'library.v1', event }));
      await client.connect();
      return client.user;
    });
  },

  login(user, password) {
    return guard(() => requireClient().login(user, password));
  },

  logout() {
    return guard(() => requireClient().logout());
  },

  request(type, body) {
    return guard(() => requireClient().request(type, body));
  },

  hash(file, opts = {}) {
    return guard(() => pool.feed(file, opts).done);
  },

  hasherKind() {
    return pool.available();
  },

  upload(req) {
    return guard(async () => {
      const c = requireClient();
      const abort = new AbortController();
      running.set(req.id, abort);
      try {
        const total = req.file.size;
        let hashed = req.chunks ? total : 0;
        let last = { phase: 'hashing' as UploadPhase, done: 0 };
        const feed = req.chunks
          ? undefined
          : pool.feed(req.file, {
              kind: req.hasher,
              signal: abort.signal,
              onHashed: (n) => {
                hashed = n;
                emit({ type: 'upload.progress.v1', id: req.id, phase: last.phase, hashed, done: last.done, total });
              },
            });
        if (feed) {
          const first = async () => {
            while (feed.chunks.length === 0 && !feed.complete) await feed.changed();
            emit({ type: 'upload.hashed.v1', id: req.id, firstChunk: feed.chunks[0]?.sha256 ?? '' });
          };
          first().catch(() => {});
          feed.done.then((chunks) => emit({ type: 'upload.hashed.v1', id: req.id, firstChunk: chunks[0]?.sha256 ?? '', chunks }), () => {});
        }
        const r = await uploadFile(c, fileSource(req.file), {
          path: req.path,
          conflict: req.conflict,
          chunks: req.chunks,
          feed,
          window: UPLOAD_WINDOW,
          signal: abort.signal,
          onSession: (upload) => emit({ type: 'upload.session.v1', id: req.id, upload }),
          onProgress: (p) => {
            last = { phase: p.phase, done: p.done };
            emit({ type: 'upload.progress.v1', id: req.id, phase: p.phase, hashed: Math.max(hashed, p.hashed), done: p.done, total });
          },
        });
        const chunks = r.chunks;
        emit({ type: 'log.v1', level: 'info', message: `uploaded ${r.path} v${r.version}`, data: { size: r.size, sha256: r.sha256, sent: r.stats.sentBytes } });
        return {
          path: r.path,
          version: r.version,
          size: r.size,
          contentHash: r.contentHash,
          sha256: r.sha256,
          chunks,
          sentBytes: r.stats.sentBytes,
          sentChunks: r.stats.sentChunks,
          heldChunks: r.stats.heldChunks,
        };
      } finally {
        running.delete(req.id);
      }
    });
  },

  stop(id) {
    running.get(id)?.abort();
  },

  downloadToDevice(id, path, version) {
    return guard(async () => {
      const c = requireClient();
      const abort = new AbortController();
      running.set(id, abort);
      const sink = await downloadSink(id);
      try {
        const { meta, stats } = await downloadFile(c, sink, {
          path,
          version,
          signal: abort.signal,
          onProgress: (p) => emit({ type: 'download.progress.v1', id, done: p.done, total: p.total }),
        });
        return { sha256: meta.sha256, version: meta.version, fetchedBytes: stats.fetchedBytes, keptChunks: stats.keptChunks };
      } finally {
        sink.close();
        running.delete(id);
      }
    });
  },
};

Comlink.expose(api);
