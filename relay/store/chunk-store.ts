/**
 * Where chunk bytes live, addressed by their SHA-256. The relay depends on this
 * interface only; `tests/contract/chunk-store.contract.ts` is the suite every
 * backend must pass.
 */
export interface StoredChunk {
  hash: string;
  size: number;
  /** Last modification time, ms since the epoch (the GC grace period uses it). */
  mtimeMs: number;
}

/** An open chunk, read in pieces. */
export interface ChunkReader {
  /** Like `ChunkStore.getRange`. */
  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface ChunkStore {
  /**
   * Stores a chunk under its SHA-256. The caller has verified that `data` hashes to
   * `hash` (the library does, off the event loop). When the promise resolves the chunk
   * is durable: it survives a crash of the relay or of the machine. Storing a chunk
   * that is already present is a cheap no-op.
   */
  put(hash: string, data: Uint8Array): Promise<void>;
  /**
   * Optional. Adopts long-lived memory the caller receives chunks into; chunks handed
   * to `put` as views of it starting at the returned offset plus multiples of 4096
   * are stored without an extra copy. Undefined when the backend gains nothing.
   */
  adoptMemory?(memory: SharedArrayBuffer): Promise<number | undefined>;
  /** True when the chunk is stored. */
  has(hash: string): Promise<boolean>;
  /** The chunk's bytes; throws FerryError NOT_FOUND when absent. */
  get(hash: string): Promise<Uint8Array>;
  /**
   * `length` bytes of the chunk from `offset` (fewer at its end); throws FerryError
   * NOT_FOUND when absent. Link downloads read in pieces, so a stalled response holds
   * a piece, not a chunk. With `into` (at least `length` bytes) the backend may read
   * into it and return a view of it, so a response reuses one buffer.
   */
  getRange(hash: string, offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  /**
   * Optional. Opens a chunk for reading many pieces of it (`getRange` without opening it
   * each time); throws FerryError NOT_FOUND when absent. Close it when done.
   */
  openChunk?(hash: string): Promise<ChunkReader>;
  /** Removes a chunk; absent chunks are ignored. */
  delete(hash: string): Promise<void>;
  /** Every stored chunk. */
  list(): AsyncIterable<StoredChunk>;
}
