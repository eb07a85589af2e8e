/**
 * The library: upload sessions, commits with conflict policies, versions,
 * retention, integrity checks and garbage collection, on top of a ChunkStore and a
 * MetaStore. Transport-agnostic: the WebSocket handlers call it.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  FerryError,
  MAX_CHUNK_BYTES,
  MAX_CHUNKS,
  MAX_FILE_BYTES,
  agreeOnOverlap,
  checkChunkList,
  checkChunkRun,
  chunkListEnd,
  contentHash,
  conflictOriginal,
  renamedPath,
  partsLength,
  type ChunkRef,
  type ConflictPolicy,
  type LibraryEvent,
} from './protocol/index.js';
import type { ChunkStore } from './store/chunk-store.js';
import type { Access, MetaStore, RetentionPolicy, TrashItem, UploadRecord, User } from './store/meta-store.js';
import type { Logger } from './log.js';
import { sha256Hex } from './hash.js';
import { ChunkHasher, type HeldChunk } from './chunk-hasher.js';
import { CHANGE_LOG_MS, SHARED_LOG_MS, MAX_OPEN_UPLOADS_PER_USER, MAX_OPEN_UPLOAD_BYTES_PER_USER } from './limits.js';
import { storageError } from './store/storage-error.js';

/** The lease the one garbage collector of a deployment runs under, and how long it lasts unrenewed. */
const GC_LEASE = 'collector';
const GC_LEASE_MS = 5 * 60_000;

export interface LibraryOptions {
  retention: RetentionPolicy;
  /** When false, `overwrite` drops replaced versions. */
  history: boolean;
  uploadExpiryMs: number;
  gcGraceMs: number;
  /** Bytes each user's versions may take (0 = no quota); admins have none. */
  quotaBytes?: number;
  /** Days an item stays in the trash before it is deleted for good (0 = until someone empties it). */
  trashDays: number;
}

/**
 * An upload leg: one connection's attempt at one upload session, what the chunk frames
 * of one handle belong to. Only the leg that holds its session (in the MetaStore) may
 * list chunks, store them or commit; a resume on another connection takes the session
 * over and this leg is void.
 */
export class ActiveUpload {
  readonly startedAt = Date.now();
  receivedBytes = 0;
  /** Set when another leg took the session over. */
  superseded = false;

  constructor(
    /** Names this leg in the MetaStore and its whole-file hash state in the ChunkHasher. */
    readonly key: string,
    /** This leg's view of the session; the MetaStore holds the same while this leg holds it. */
    readonly record: UploadRecord,
    readonly held: Set<number>,
    readonly conflict: ConflictPolicy,
    /** How many chunks of `record.chunks` this client has listed in this leg. */
    public confirmed: number,
  ) {}
}

export class Library {
  private gcTimer?: ReturnType<typeof setTimeout>;
  /** Names the change log (made once per database): positions of one log mean nothing in another. */
  private epoch = 0;
  /** The change log position up to which listeners have heard. */
  private delivered = 0;
  private pumping?: Promise<void>;
  private pumpAgain = false;
  private stopWatching?: () => Promise<void>;
  private readonly listeners = new Set<(e: LibraryEvent) => void>();
  /** The leg that holds each session with a live connection on this relay. */
  private readonly live = new Map<string, ActiveUpload>();

  /** Calls `listener` with every change to the library; returns the unsubscribe function. */
  onChange(listener: (e: LibraryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Starts hearing the change log: from its newest position on, woken by this relay's own
   * changes and by every other relay's on the same database.
   */
  async start(): Promise<void> {
    this.epoch = Number(await this.meta.sharedValue('change-log-epoch', () => String(Date.now())));
    this.delivered = (await this.meta.changeBounds()).newest;
    this.stopWatching = await this.meta.watchChanges(() => void this.pump());
  }

  /** Where the change log is now, and what names it: for clients catching up after a reconnect. */
  async changePosition(): Promise<{ epoch: number; position: number }> {
    return { epoch: this.epoch, position: (await this.meta.changeBounds()).newest };
  }

  /** The change log after `since`, as events (see MetaStore.changesSince). */
  async changesSince(since: number, limit: number, spaceIds: number[]): Promise<{ events: LibraryEvent[]; reset: boolean }> {
    const { oldest } = await this.meta.changeBounds();
    const events = (await this.meta.changesSince(since, limit, spaceIds)).map((c) => ({ ...c, epoch: this.epoch }));
    // Changes right after `since` were pruned: the client must list again instead.
    return { events, reset: oldest > since + 1 };
  }

  /** Tells listeners every change logged since the last one they heard, in order. */
  pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return this.pumping;
    }
    this.pumping = (async () => {
      try {
        do {
          this.pumpAgain = false;
          for (;;) {
            const batch = await this.meta.changesSince(this.delivered, 500);
            for (const c of batch) {
              this.delivered = c.seq;
              const event: LibraryEvent = { ...c, epoch: this.epoch };
              for (const l of this.listeners) l(event);
            }
            if (batch.length < 500) break;
          }
        } while (this.pumpAgain);
      } catch (err) {
        this.log.warn({ event: 'error', op: 'changes', err }, 'could not read the change log; trying again with the next change');
      } finally {
        this.pumping = undefined;
      }
    })();
    return this.pumping;
  }
  private gcRunning?: Promise<number | undefined>;
  /** This relay, as the holder of the collector's lease. */
  private readonly relayId = randomUUID();

  private readonly hasher = new ChunkHasher();

  constructor(
    readonly chunks: ChunkStore,
    readonly meta: MetaStore,
    readonly opts: LibraryOptions,
    private readonly log: Logger,
  ) {
    // Chunks are hashed in the hasher's shared slots; the store may write them from there.
    chunks.adoptMemory?.(this.hasher.memory).then(
      (offset) => offset !== undefined && this.hasher.placeSlots(offset),
      (err) => log.warn({ event: 'error', op: 'adoptMemory', err }, 'chunk writes will copy through the page cache'),
    );
  }

  /**
   * The space a request names (`undefined`: the user's My files), once the user may do
   * `need` there. A space the user cannot see is NOT_FOUND (whether it exists is not
   * told); one they may only view is READ_ONLY for changes. Checked on every request,
   * so access removed a moment ago already applies.
   */
  async space(user: User, spaceId: number | undefined, need: Access): Promise<number> {
    if (spaceId === undefined) return (await this.meta.homeSpace(user.id)).id;
    const access = await this.meta.accessOf(user.id, spaceId);
    if (!access) throw new FerryError('NOT_FOUND', 'No such space.');
    if (need === 'edit' && access !== 'edit') throw new FerryError('READ_ONLY', 'You can view this shared folder but not change it.');
    return spaceId;
  }

  /** The quota that applies to `user` (admins have none). */
  quotaFor(user: User): number {
    return user.role === 'admin' ? 0 : (this.opts.quotaBytes ?? 0);
  }

  /**
   * Starts an upload, or resumes the session named by `resume` when it is this user's,
   * for the same path and size, and its chunk list agrees with this one wherever both
   * have chunks (the leg that held it is void from now on). Returns the leg and the
   * indices the relay still needs. Chunks this user already stored are not asked for
   * again; chunks only other users hold are asked for like any other, so the answer
   * reveals nothing about other users' files. A `partial` list covers only the start
   * of the file; `extendUpload` adds the rest.
   *
   * Two uploads never share a session without `resume`: two clients sending different
   * files of one size to one path each get their own, and each commit pairs its own
   * chunk list with the whole-file hash of its own bytes.
   */
  async beginUpload(
    user: User,
    req: { spaceId: number; path: string; size: number; mtime: number; chunks: ChunkRef[]; conflict: ConflictPolicy; partial: boolean; resume?: string },
  ): Promise<{ upload: ActiveUpload; need: number[] }> {
    if (req.size > MAX_FILE_BYTES) throw new FerryError('FILE_TOO_LARGE', `Files up to ${MAX_FILE_BYTES} bytes are accepted.`);
    this.checkChunkSizes(req.chunks, 0);
    if (req.partial) checkChunkRun(req.size, req.chunks);
    else checkChunkList(req.size, req.chunks);
    const quota = this.quotaFor(user);
    if (quota && await this.meta.userBytes(user.id) + req.size > quota) {
      const used = await this.meta.userBytes(user.id);
      throw new FerryError('QUOTA_EXCEEDED', `This file needs ${req.size} bytes; you use ${used} of your ${quota}.`, { usedBytes: used, quotaBytes: quota, neededBytes: req.size });
    }
    const now = Date.now();
    const leg = randomBytes(8).toString('hex');
    let record: UploadRecord | undefined;
    if (req.resume) {
      const earlier = await this.meta.getUpload(req.resume);
      const same = earlier && earlier.userId === user.id && earlier.spaceId === req.spaceId && earlier.path === req.path && earlier.size === req.size && agreeOnOverlap(earlier.chunks, req.chunks);
      if (same) record = await this.meta.claimUpload(earlier.id, leg, now);
      if (record) {
        const previous = this.live.get(record.id);
        if (previous) previous.superseded = true;
        if (req.chunks.length > record.chunks.length) {
          const extra = req.chunks.slice(record.chunks.length);
          const contentHashNow = req.partial ? '' : contentHash(req.chunks);
          await this.meta.setUploadChunks(record.id, leg, record.chunks.length, extra, contentHashNow);
          record.chunks = req.chunks;
          record.contentHash = contentHashNow;
        }
      }
    }
    if (!record) {
      await this.makeRoomForUpload(user, req.size);
      record = {
        id: randomBytes(16).toString('hex'),
        userId: user.id,
        spaceId: req.spaceId,
        leg: leg,
        path: req.path,
        size: req.size,
        mtime: req.mtime,
        conflict: req.conflict,
        contentHash: req.partial ? '' : contentHash(req.chunks),
        chunks: req.chunks,
        createdAt: now,
        updatedAt: now,
      };
      await this.meta.createUpload(record);
    }
    const upload = new ActiveUpload(leg, record, await this.meta.heldChunks(record.id), req.conflict, req.chunks.length);
    this.live.set(record.id, upload);
    return { upload, need: await this.needed(user, upload, 0, req.chunks.length) };
  }

  /**
   * Keeps a user within the open-upload caps before a new session of `size` bytes:
   * drops their least recently active sessions that no live connection holds, and
   * refuses with TOO_MANY_UPLOADS when that is not enough.
   */
  private async makeRoomForUpload(user: User, size: number): Promise<void> {
    const open = await this.meta.openUploads(user.id);
    let count = open.length;
    let bytes = open.reduce((n, u) => n + u.size, 0);
    for (const u of open) {
      if (count < MAX_OPEN_UPLOADS_PER_USER && bytes + size <= MAX_OPEN_UPLOAD_BYTES_PER_USER) break;
      if (this.live.has(u.id)) continue;
      await this.meta.deleteUpload(u.id);
      this.log.info({ event: 'upload.evicted', user: user.name, upload: u.id, size: u.size }, 'oldest idle upload session dropped to make room');
      count--;
      bytes -= u.size;
      this.scheduleGc();
    }
    if (count >= MAX_OPEN_UPLOADS_PER_USER) {
      throw new FerryError('TOO_MANY_UPLOADS', `You have ${count} unfinished uploads in progress (at most ${MAX_OPEN_UPLOADS_PER_USER}).`);
    }
    if (bytes + size > MAX_OPEN_UPLOAD_BYTES_PER_USER) {
      throw new FerryError('TOO_MANY_UPLOADS', `Unfinished uploads in progress would declare ${bytes + size} bytes (at most ${MAX_OPEN_UPLOAD_BYTES_PER_USER}).`);
    }
  }

  /** Throws UPLOAD_CHANGED when another leg took this one's session over. */
  private checkLeg(upload: ActiveUpload): void {
    if (upload.superseded) throw new FerryError('UPLOAD_CHANGED', 'Another connection resumed this upload session.');
  }

  /**
   * Lists more chunks of a partial upload, continuing at `from`. Where a chunk differs
   * from what an earlier attempt listed there, the earlier tail is dropped (the file
   * changed). Returns the new indices the relay needs.
   */
  async extendUpload(user: User, upload: ActiveUpload, from: number, chunks: ChunkRef[]): Promise<number[]> {
    this.checkLeg(upload);
    if (from !== upload.confirmed) throw new FerryError('BAD_CHUNK_LIST', `Chunks continue at index ${upload.confirmed}, not ${from}.`);
    const listed = upload.record.chunks;
    this.checkChunkSizes(chunks, from);
    checkChunkRun(upload.record.size, chunks, chunkListEnd(listed.slice(0, from)), from);
    if (from + chunks.length > MAX_CHUNKS) throw new FerryError('BAD_CHUNK_LIST', `An upload lists at most ${MAX_CHUNKS} chunks.`);
    const changedAt = chunks.findIndex((c, i) => listed[from + i] && !agreeOnOverlap([listed[from + i]], [c]));
    let next = listed;
    if (changedAt >= 0) next = [...listed.slice(0, from + changedAt), ...chunks.slice(changedAt)];
    else if (from + chunks.length > listed.length) next = [...listed.slice(0, from), ...chunks];
    if (next !== listed) {
      const complete = chunkListEnd(next) === upload.record.size;
      const hash = complete ? contentHash(next) : '';
      const writeFrom = changedAt >= 0 ? from + changedAt : listed.length;
      const dropFrom = changedAt >= 0 ? from + changedAt : undefined;
      await this.meta.setUploadChunks(upload.record.id, upload.key, writeFrom, next.slice(writeFrom), hash, dropFrom);
      upload.record.chunks = next;
      upload.record.contentHash = hash;
      if (dropFrom !== undefined) for (const i of [...upload.held]) if (i >= dropFrom) upload.held.delete(i);
    }
    upload.confirmed = from + chunks.length;
    return this.needed(user, upload, from, from + chunks.length);
  }

  private checkChunkSizes(chunks: ChunkRef[], firstIndex: number): void {
    const big = chunks.findIndex((c) => c.length > MAX_CHUNK_BYTES);
    if (big >= 0) throw new FerryError('CHUNK_TOO_LARGE', `Chunk ${firstIndex + big} is over ${MAX_CHUNK_BYTES} bytes.`, { index: firstIndex + big });
  }

  /** Indices in [from, to) the relay still needs, after counting this user's own chunks as held. */
  private async needed(user: User, upload: ActiveUpload, from: number, to: number): Promise<number[]> {
    const chunks = upload.record.chunks;
    const missing: number[] = [];
    for (let i = from; i < to; i++) if (!upload.held.has(i)) missing.push(i);
    const mine = await this.meta.userChunks(user.id, missing.map((i) => chunks[i].sha256));
    const dedup: { index: number; hash: string }[] = [];
    for (const i of missing) {
      if (mine.has(chunks[i].sha256) && (await this.chunks.has(chunks[i].sha256))) dedup.push({ index: i, hash: chunks[i].sha256 });
    }
    if (dedup.length) await this.meta.markChunksHeld(upload.record.id, upload.key, dedup, Date.now());
    for (const d of dedup) upload.held.add(d.index);
    return missing.filter((i) => !upload.held.has(i));
  }

  /**
   * Verifies and stores one chunk of an active upload (its bytes in one view or in
   * several parts); resolves once it is durable. Throws CHUNK_* codes for chunks that
   * do not belong or do not match.
   */
  storeChunk(upload: ActiveUpload, index: number, data: Uint8Array | readonly Uint8Array[]): Promise<void> {
    const parts = data instanceof Uint8Array ? [data] : data;
    const length = partsLength(parts);
    if (upload.superseded) return Promise.reject(new FerryError('UPLOAD_CHANGED', 'Another connection resumed this upload session.'));
    const chunk = index < upload.confirmed ? upload.record.chunks[index] : undefined;
    if (!chunk) return Promise.reject(new FerryError('CHUNK_OUT_OF_RANGE', `Chunk ${index} is not in the chunk list (${upload.confirmed} chunks listed).`));
    if (length > MAX_CHUNK_BYTES) return Promise.reject(new FerryError('CHUNK_TOO_LARGE'));
    if (length !== chunk.length) {
      return Promise.reject(new FerryError('CHUNK_LENGTH_MISMATCH', `Chunk ${index} has ${length} bytes, the chunk list says ${chunk.length}.`));
    }
    upload.receivedBytes += length;
    if (upload.held.has(index)) return Promise.resolve();
    // Not async up to here, so nothing keeps the frame's buffers once it is held.
    return this.storeHeld(upload, index, chunk, this.hasher.hold(parts));
  }

  private async storeHeld(upload: ActiveUpload, index: number, chunk: ChunkRef, held: HeldChunk): Promise<void> {
    try {
      const sha256 = await this.hasher.chunk(upload.key, index, held, chunk.sha256);
      if (sha256 !== chunk.sha256) {
        throw new FerryError('CHUNK_HASH_MISMATCH', `Chunk ${index} does not match its SHA-256; send it again.`, { index, expected: chunk.sha256, actual: sha256 });
      }
      await this.chunks.put(chunk.sha256, held.data).catch((err) => {
        throw storageError(err, 'The relay could not store the chunk');
      });
    } finally {
      this.hasher.release(held);
    }
    await this.meta.markChunksHeld(upload.record.id, upload.key, [{ index, hash: chunk.sha256 }], Date.now());
    upload.held.add(index);
  }

  /**
   * Commits an upload leg as a new version, atomically. Throws UNKNOWN_UPLOAD (also for
   * a second commit of the same upload), UPLOAD_CHANGED (the session is not the one the
   * client listed), CHUNKS_MISSING (with the missing indices) or QUOTA_EXCEEDED, and
   * leaves the previous version current on any failure. The whole-file SHA-256 it records
   * and answers is computed from the bytes: while they arrived in order, or by reading
   * them back (each chunk checked against its hash), or copied from a version whose
   * SHA-256 was computed so.
   */
  async commitUpload(user: User, uploadId: string, active: ActiveUpload | undefined, expectedContentHash: string, cas?: { base?: string; device?: string; executable?: boolean; sealed?: string }) {
    if (!active || active.record.id !== uploadId) throw new FerryError('UNKNOWN_UPLOAD', 'No such upload session on this connection; begin (or resume) it first.');
    this.checkLeg(active);
    const record = await this.meta.getUpload(uploadId);
    if (!record || record.userId !== user.id) throw new FerryError('UNKNOWN_UPLOAD');
    // Edit access may have been taken away since the upload began.
    await this.space(user, record.spaceId, 'edit');
    if (record.leg !== active.key) throw new FerryError('UPLOAD_CHANGED', 'Another connection resumed this upload session.');
    if (!record.contentHash || active.confirmed !== record.chunks.length) {
      throw new FerryError('BAD_CHUNK_LIST', `The chunk list covers ${chunkListEnd(record.chunks.slice(0, active.confirmed))} of ${record.size} bytes; list the rest first.`);
    }
    if (record.contentHash !== active.record.contentHash || record.contentHash !== expectedContentHash) {
      throw new FerryError('UPLOAD_CHANGED', 'The upload session\'s chunk list is not the one this client listed.', { expected: expectedContentHash, actual: record.contentHash });
    }
    const held = await this.meta.heldChunks(uploadId);
    const missing = record.chunks.map((_, i) => i).filter((i) => !held.has(i));
    const lost: number[] = [];
    for (const [i, c] of record.chunks.entries()) {
      if (held.has(i) && !(await this.chunks.has(c.sha256))) lost.push(i);
    }
    if (lost.length) {
      // Acknowledged, then gone (a damaged disk, or the collector that won a race): the
      // session asks for them again, on this connection and on a resume.
      await this.meta.forgetHeldChunks(uploadId, lost);
      for (const i of lost) active.held.delete(i);
      this.log.warn({ event: 'upload.chunks-lost', upload: uploadId, chunks: lost.length }, 'acknowledged chunks are missing; the client sends them again');
      missing.push(...lost);
    }
    if (missing.length > 0) {
      throw new FerryError('CHUNKS_MISSING', `${missing.length} chunks are missing.`, { missing: missing.slice(0, 1000) });
    }
    const sha256 =
      (await this.hasher.wholeDigest(active.key, record.chunks.length)) ??
      await this.meta.sha256ForContent(record.contentHash) ??
      (await this.readBackSha256(record.chunks));
    const result = await this.meta.commitVersion({
      upload: { id: uploadId, leg: active.key },
      userId: user.id,
      spaceId: record.spaceId,
      path: record.path,
      conflict: active.conflict,
      size: record.size,
      mtime: record.mtime,
      contentHash: record.contentHash,
      sha256,
      sha256Verified: true,
      chunks: record.chunks,
      quotaBytes: this.quotaFor(user),
      keepReplaced: this.opts.history,
      now: Date.now(),
      by: user.name,
      base: cas?.base,
      device: cas?.device,
      executable: cas?.executable,
      sealed: cas?.sealed,
    });
    this.releaseUpload(active);
    const answer = {
      space: record.spaceId,
      path: result.path,
      version: result.version,
      size: record.size,
      contentHash: record.contentHash,
      sha256,
      unchanged: result.unchanged,
      ...(result.conflict ? { conflict: result.conflict, conflictOf: record.path, conflictVersion: result.conflictVersion } : {}),
    };
    if (result.unchanged) {
      // Its chunks may have been stored for this session only: collect them if so.
      this.scheduleGc();
      return answer;
    }
    const pruned = await this.meta.applyRetention(this.opts.retention, Date.now(), { spaceId: record.spaceId, path: result.path }) + result.removed;
    if (pruned > 0) this.scheduleGc();
    await this.pump();
    return answer;
  }

  /**
   * SHA-256 of the whole content read back from the chunk store, checking every chunk
   * against its hash on the way. A chunk that no longer matches is removed and reported
   * missing, so the client sends it again.
   */
  private async readBackSha256(chunks: ChunkRef[]): Promise<string> {
    // On the hash threads, in order (each chunk checked against its hash, then fed to the
    // whole-file hash), with the next chunks read while one is hashed: the event loop
    // stays free for other clients while a big file is read back.
    if (chunks.length === 0) return createHash('sha256').digest('hex');
    const key = `readback:${randomUUID()}`;
    const bad: number[] = [];
    const AHEAD = 3;
    const reads: Promise<Uint8Array | undefined>[] = [];
    const read = (i: number) => {
      if (i < chunks.length) reads[i] = this.chunks.get(chunks[i].sha256).catch(() => undefined);
    };
    for (let i = 0; i < AHEAD; i++) read(i);
    try {
      for (const [i, c] of chunks.entries()) {
        read(i + AHEAD);
        const data = await reads[i];
        delete reads[i];
        const sha = data && data.byteLength === c.length ? await this.hasher.chunk(key, i, { data }, c.sha256) : undefined;
        if (sha !== c.sha256) {
          bad.push(i);
          if (data) await this.chunks.delete(c.sha256).catch(() => {});
        }
      }
    } catch (err) {
      this.hasher.drop(key);
      throw err;
    }
    const whole = await this.hasher.wholeDigest(key, chunks.length);
    if (bad.length > 0) {
      this.log.error({ event: 'integrity', code: 'INTEGRITY_FAILED', chunks: bad.slice(0, 20) }, 'stored chunks did not match their hashes and were removed');
      throw new FerryError('CHUNKS_MISSING', `${bad.length} stored chunks were damaged; send them again.`, { missing: bad.slice(0, 1000) });
    }
    if (!whole) throw new Error('the whole-file hash of a read-back was lost');
    return whole;
  }

  /** Drops an upload session; its chunks are collected unless something else uses them. */
  async cancelUpload(user: User, uploadId: string): Promise<void> {
    const record = await this.meta.getUpload(uploadId);
    if (!record || record.userId !== user.id) throw new FerryError('UNKNOWN_UPLOAD');
    await this.meta.deleteUpload(uploadId);
    this.scheduleGc();
  }

  /** A stored version with its chunk list. Throws NOT_FOUND or IS_FOLDER. */
  async version(spaceId: number, path: string, version?: number) {
    const v = await this.meta.getVersion(spaceId, path, version);
    if (!v) {
      if (version === undefined && await this.meta.isFolder(spaceId, path)) throw new FerryError('IS_FOLDER', `"${path}" is a folder.`);
      throw new FerryError('NOT_FOUND', version === undefined ? `No file "${path}".` : `"${path}" has no version ${version}.`);
    }
    return v;
  }

  /** Re-reads a stored version and checks every chunk and the whole file against their hashes. */
  async verify(spaceId: number, path: string, version?: number) {
    const v = await this.version(spaceId, path, version);
    const bad: number[] = [];
    const whole = createHash('sha256');
    for (const [i, c] of v.chunks.entries()) {
      let data: Uint8Array;
      try {
        data = await this.chunks.get(c.sha256);
      } catch {
        bad.push(i);
        continue;
      }
      if (data.byteLength !== c.length || (await sha256Hex(data)) !== c.sha256) bad.push(i);
      whole.update(data);
    }
    const sha256Ok = bad.length === 0 && whole.digest('hex') === v.sha256;
    // Now computed from the bytes: a source for versions with the same content from here on.
    if (sha256Ok && !v.sha256Verified) await this.meta.markSha256Verified(v.id);
    return { path: v.path, version: v.version, ok: bad.length === 0 && sha256Ok, badChunks: bad, sha256: v.sha256, sha256Ok };
  }

  async restore(user: User, spaceId: number, path: string, version: number) {
    await this.version(spaceId, path, version);
    const restored = await this.meta.restoreVersion(spaceId, path, version, user.id, Date.now(), this.quotaFor(user), user.name);
    if (await this.meta.applyRetention(this.opts.retention, Date.now(), { spaceId, path }) > 0) this.scheduleGc();
    await this.pump();
    return { path, version: restored.version, restoredFrom: version };
  }

  /**
   * Settles a conflict copy (see conflictPath) in one action: `original` keeps the file
   * it stands beside and trashes the copy; `copy` makes the copy's content the file's
   * newest version, then trashes the copy; `both` keeps both under ordinary names (the
   * copy becomes `name_v2.ext`, or the next free one). Whatever is trashed can be restored.
   */
  async resolveConflict(user: User, spaceId: number, copy: string, keep: 'original' | 'copy' | 'both'): Promise<{ path: string; kept: string[] }> {
    const original = conflictOriginal(copy);
    if (!original) throw new FerryError('BAD_MESSAGE', `${copy} is not a conflict copy.`);
    if (!(await this.meta.getVersion(spaceId, copy))) throw new FerryError('NOT_FOUND', `No file ${copy}.`);
    const originalThere = !!(await this.meta.getVersion(spaceId, original));
    if (keep === 'both' || (keep === 'copy' && !originalThere)) {
      let to = original;
      if (keep === 'both') {
        for (let n = 2; ; n++) {
          to = renamedPath(original, n);
          if (!(await this.meta.getVersion(spaceId, to)) && !(await this.meta.isFolder(spaceId, to))) break;
        }
      }
      await this.move(user, { spaceId, path: copy }, { spaceId, path: to });
      return { path: copy, kept: keep === 'both' ? [original, to] : [to] };
    }
    if (keep === 'copy') {
      await this.meta.copyContent(spaceId, copy, original, user.id, Date.now(), this.quotaFor(user), user.name);
      if (await this.meta.applyRetention(this.opts.retention, Date.now(), { spaceId, path: original }) > 0) this.scheduleGc();
    }
    await this.trash(user, spaceId, copy);
    return { path: copy, kept: originalThere ? [original] : [] };
  }

  /** Deletes a file or one version for good (admins only; everyone else trashes). */
  async remove(user: User, spaceId: number, path: string, version?: number) {
    if (user.role !== 'admin') throw new FerryError('FORBIDDEN', 'Only admins can delete for good; move it to the trash instead.');
    const deletedVersions = await this.meta.deleteVersions(spaceId, path, version, user.name);
    this.scheduleGc();
    await this.pump();
    return { path, deletedVersions };
  }

  async makeFolder(user: User, spaceId: number, path: string) {
    await this.meta.makeFolder(spaceId, path, Date.now(), user.name);
    await this.pump();
    return { space: spaceId, path };
  }

  /** Renames or moves a file or folder (see MetaStore.move); both spaces were checked for edit. */
  async move(user: User, from: { spaceId: number; path: string }, to: { spaceId: number; path: string }, reseal?: { version: number; sealed: string }[]) {
    const moved = await this.meta.move(from, to, user.name, reseal);
    await this.pump();
    return { space: to.spaceId, path: to.path, ...moved };
  }

  async trash(user: User, spaceId: number, path: string): Promise<TrashItem> {
    const item = await this.meta.trash(spaceId, path, user.id, Date.now(), user.name);
    await this.pump();
    return item;
  }

  /** A trash item of this space, or NOT_FOUND. */
  private async trashItem(spaceId: number, id: number): Promise<TrashItem> {
    const item = await this.meta.getTrashItem(id);
    if (!item || item.spaceId !== spaceId) throw new FerryError('NOT_FOUND', 'That is no longer in the trash.');
    return item;
  }

  async untrash(user: User, spaceId: number, id: number) {
    await this.trashItem(spaceId, id);
    const { path } = await this.meta.untrash(id, user.name);
    await this.pump();
    return { space: spaceId, path };
  }

  /** Deletes one trash item or a space's whole trash for good (admins only). */
  async purge(user: User, spaceId: number, id?: number) {
    if (user.role !== 'admin') throw new FerryError('FORBIDDEN', 'Only admins can delete from the trash for good.');
    const item = id === undefined ? undefined : await this.trashItem(spaceId, id);
    const result = await this.meta.purgeTrash(item ? { id: item.id } : { spaceId }, user.name);
    if (result.items) this.scheduleGc();
    await this.pump();
    return { space: spaceId, ...result };
  }

  /**
   * Deletes for good the sealed copies of encrypted links that no live link hands out any
   * more (revoked, expired or used up; or never linked, an hour after their upload).
   */
  async dropLinkCopies(now = Date.now()): Promise<number> {
    const dead = await this.meta.deadLinkCopies(now);
    for (const c of dead) {
      await this.meta.deleteVersions(c.spaceId, c.path, undefined, 'link copies').catch((err: FerryError) => {
        if (err.code !== 'NOT_FOUND') throw err; // gone meanwhile
      });
    }
    if (dead.length) {
      this.log.info({ event: 'link.copies', dropped: dead.length }, 'copies of encrypted links no live link hands out deleted');
      this.scheduleGc();
      await this.pump();
    }
    return dead.length;
  }

  /** Drops expired uploads, applies retention everywhere, empties old trash, then collects chunks. */
  async sweep(now = Date.now()): Promise<{ expiredUploads: number; prunedVersions: number; purgedTrash: number; collectedChunks: number; collectorBusy: boolean }> {
    const stale = await this.meta.staleUploads(now - this.opts.uploadExpiryMs);
    for (const u of stale) await this.meta.deleteUpload(u.id);
    const prunedVersions = await this.meta.applyRetention(this.opts.retention, now);
    const purgedTrash = this.opts.trashDays > 0 ? (await this.meta.purgeTrash({ before: now - this.opts.trashDays * 86_400_000 })).items : 0;
    const linkCopies = await this.dropLinkCopies(now);
    const collected = await this.collectGarbage(now);
    const collectedChunks = collected ?? 0;
    const forgottenChanges = await this.meta.pruneChanges(now - CHANGE_LOG_MS);
    // Throttle windows are minutes long: a day-old failed attempt counts for nothing.
    await this.meta.pruneAttempts(now - 86_400_000);
    await this.meta.pruneLogLines(now - SHARED_LOG_MS);
    if (stale.length || prunedVersions || purgedTrash || collectedChunks || forgottenChanges || linkCopies) {
      this.log.info({ event: 'sweep', expiredUploads: stale.length, prunedVersions, purgedTrash, collectedChunks, forgottenChanges, linkCopies }, 'sweep');
    }
    return { expiredUploads: stale.length, prunedVersions, purgedTrash, collectedChunks, collectorBusy: collected === undefined };
  }

  /**
   * Deletes stored chunks that no version and no open upload references and that are
   * older than the grace period (a chunk just written, whose upload has not recorded it
   * yet, is left alone). One collector runs per deployment, under a lease in the
   * database; on another relay this returns `undefined` (busy). Each deletion is decided
   * again, holding the chunk against uploads that would record it at that moment
   * (`MetaStore.collectChunk`); an upload that still lost the race finds the chunk
   * missing before it commits and sends it again. Anything in doubt is kept.
   */
  collectGarbage(now = Date.now()): Promise<number | undefined> {
    this.gcRunning ??= (async () => {
      const lease = (at: number) => this.meta.takeLease(GC_LEASE, this.relayId, GC_LEASE_MS, at);
      if (!(await lease(Date.now()))) return undefined;
      try {
        const referenced = await this.meta.referencedChunks();
        let removed = 0;
        let renewed = Date.now();
        for await (const c of this.chunks.list()) {
          if (referenced.has(c.hash) || c.mtimeMs > now - this.opts.gcGraceMs) continue;
          if (Date.now() - renewed > GC_LEASE_MS / 4) {
            // Stalled past the lease: another relay may be collecting now; stop.
            if (!(await lease(Date.now()))) break;
            renewed = Date.now();
          }
          if (await this.meta.collectChunk(c.hash, () => this.chunks.delete(c.hash))) removed++;
        }
        return removed;
      } finally {
        this.gcRunning = undefined;
        await this.meta.dropLease(GC_LEASE, this.relayId).catch(() => {});
      }
    })();
    return this.gcRunning;
  }

  /** Runs the collector soon (coalescing bursts of deletes). */
  scheduleGc(delayMs = 1000): void {
    if (this.gcTimer) return;
    this.gcTimer = setTimeout(() => {
      this.gcTimer = undefined;
      this.collectGarbage().catch((err) => this.log.error({ event: 'gc', err }, 'garbage collection failed'));
    }, delayMs);
    this.gcTimer.unref?.();
  }

  /** Forgets an upload leg that will not finish on this connection (the session stays open for a resume). */
  releaseUpload(upload: ActiveUpload): void {
    this.hasher.drop(upload.key);
    if (this.live.get(upload.record.id) === upload) this.live.delete(upload.record.id);
  }

  async close(): Promise<void> {
    clearTimeout(this.gcTimer);
    await this.stopWatching?.();
    await this.pumping;
    await this.hasher.close();
  }
}
