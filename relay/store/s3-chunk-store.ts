/**
 * ChunkStore on S3-compatible object storage (AWS S3, Ceph RGW, Swift's s3api, MinIO,
 * Garage, R2): one object per chunk at `<prefix><ab>/<sha256>`, so keys spread evenly
 * over the hash space (S3 scales request rates per key prefix).
 *
 * - **Durable on ack.** `put` resolves when the PUT returned 200: the engine has the
 *   object (Ceph and Swift acknowledge after a write quorum of replicas).
 * - **Checked end to end.** Every PUT carries a signed payload hash (SigV4's
 *   `x-amz-content-sha256`, which for a chunk is its own SHA-256, checked by the relay
 *   before it stores); Ceph RGW and Swift verify it and refuse a body that is not those
 *   bytes (`XAmzContentSHA256Mismatch`). That covers everything `Content-MD5` would (an
 *   MD5 of the bytes as sent catches only damage after it was computed) at no cost, so
 *   no MD5 is computed. `x-amz-checksum-sha256` is not used: neither engine verifies it.
 * - **Engine differences.** `If-None-Match: *` makes storing a present chunk a 412
 *   instead of a second upload; where it is not implemented (Swift answers 501) the
 *   store falls back to a plain PUT, harmless for content-addressed objects. Deletes are
 *   one DeleteObject each (a batch delete needs `Content-MD5` on Swift, which the SDK
 *   no longer sends). No multipart: a chunk is at most 16 MiB.
 * - **Reads.** Ranged GETs; `openChunk` streams one GET from the first piece asked and
 *   serves the following pieces from it, so a link download makes one request per
 *   chunk, not one per 256 KiB piece.
 * - **Failures.** Timeouts are bounded (a request to a placement group with too few
 *   live replicas can hang on Ceph); engine and network failures become storage errors
 *   (`STORAGE_FAILED` to the client, nothing half-stored is referenced).
 */
import type { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { FerryError } from '../protocol/errors.js';
import type { ChunkReader, ChunkStore, StoredChunk } from './chunk-store.js';

const HASH_RE = /^[0-9a-f]{64}$/;

export interface S3ChunkStoreOptions {
  bucket: string;
  /** Key prefix inside the bucket ('' or ending in '/'). */
  prefix?: string;
  /** The engine's address (Ceph RGW, Swift, MinIO…); absent for AWS itself. */
  endpoint?: string;
  /** Default `AWS_REGION`, else `us-east-1` (what most other engines expect). */
  region?: string;
  /** Default: the SDK's chain (`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`, profiles…). */
  credentials?: S3ClientConfig['credentials'];
  /** How long one request may take before it fails and is retried (default 60 s). */
  requestTimeoutMs?: number;
}

/** An S3 error or a network failure, as a storage error the relay turns into STORAGE_FAILED. */
export class S3StorageError extends Error {
  readonly code = 'S3_FAILED';
  constructor(what: string, cause: unknown) {
    const c = cause as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    super(`${what}: ${c?.name ?? 'error'}${c?.$metadata?.httpStatusCode ? ` (HTTP ${c.$metadata.httpStatusCode})` : ''}: ${c?.message ?? String(cause)}`, { cause });
    this.name = 'S3StorageError';
  }
}

const status = (err: unknown) => (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
const isMissing = (err: unknown) => status(err) === 404 || ['NoSuchKey', 'NotFound'].includes((err as { name?: string })?.name ?? '');

/** Parses `s3://BUCKET[/prefix]`. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) throw new Error(`--chunks takes s3://BUCKET or s3://BUCKET/prefix (a bucket name of 3–63 lower-case letters, digits, dots and dashes), got "${url}"`);
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  return { bucket: m[1], prefix: prefix ? `${prefix}/` : '' };
}

export class S3ChunkStore implements ChunkStore {
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  /** False once the engine said it does not implement `If-None-Match` on PUT. */
  private conditionalPut = true;
  private readonly ready: Promise<void>;

  constructor(opts: S3ChunkStoreOptions) {
    this.bucket = opts.bucket;
    this.prefix = opts.prefix ?? '';
    this.client = new S3Client({
      endpoint: opts.endpoint,
      region: opts.region ?? process.env.AWS_REGION ?? 'us-east-1',
      credentials: opts.credentials,
      forcePathStyle: !!opts.endpoint,
      // Only what the engines verify: the signed payload hash (set per PUT).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: opts.requestTimeoutMs ?? 60_000 },
    });
    this.ready = this.ensureBucket();
    this.ready.catch(() => {}); // reported by the first operation that waits for it
  }

  /** Creates the bucket when it is missing. */
  private async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return;
    } catch (err) {
      if (!isMissing(err)) throw new S3StorageError(`Bucket ${this.bucket} cannot be reached`, err);
    }
    try {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      // Another relay made it at the same moment.
      if (!['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes((err as { name?: string }).name ?? '')) throw new S3StorageError(`Bucket ${this.bucket} cannot be created`, err);
    }
  }

  /** Waits until the bucket is there (or throws why not): call at start to fail early. */
  async open(): Promise<void> {
    await this.ready;
  }

  private key(hash: string): string {
    if (!HASH_RE.test(hash)) throw new FerryError('BAD_MESSAGE', `Not a SHA-256: ${hash}`);
    return `${this.prefix}${hash.slice(0, 2)}/${hash}`;
  }

  async put(hash: string, data: Uint8Array): Promise<void> {
    const Key = this.key(hash);
    await this.ready;
    // The body must stay as it is for the whole request (and any retry): chunks in the
    // relay's shared receive memory are copied out of it.
    const body = data.buffer instanceof SharedArrayBuffer ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const send = (conditional: boolean) => {
      const command = new PutObjectCommand({ Bucket: this.bucket, Key, Body: body, ContentLength: body.byteLength, ContentType: 'application/octet-stream', ...(conditional ? { IfNoneMatch: '*' } : {}) });
      // SigV4 signs the payload's SHA-256, which is the chunk's own hash (checked by the
      // caller): given as the header, the signer uses it instead of hashing 4 MiB again.
      command.middlewareStack.add(
        (next) => (args) => {
          const request = args.request as { headers?: Record<string, string> };
          if (request.headers) request.headers['x-amz-content-sha256'] = hash;
          return next(args);
        },
        { step: 'build', name: 'ferryKnownPayloadHash' },
      );
      return this.client.send(command);
    };
    const conditional = this.conditionalPut;
    try {
      await send(conditional);
    } catch (err) {
      if (status(err) === 412) return; // stored already
      if (conditional && status(err) === 501) {
        this.conditionalPut = false;
        try {
          await send(false);
          return;
        } catch (again) {
          throw new S3StorageError(`Storing chunk ${hash} failed`, again);
        }
      }
      throw new S3StorageError(`Storing chunk ${hash} failed`, err);
    }
  }

  async has(hash: string): Promise<boolean> {
    const Key = this.key(hash);
    await this.ready;
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw new S3StorageError(`Looking for chunk ${hash} failed`, err);
    }
  }

  async get(hash: string): Promise<Uint8Array> {
    const body = await this.body(hash);
    if (!body) return new Uint8Array(0);
    return read(body, Infinity);
  }

  async getRange(hash: string, offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    if (length <= 0) return new Uint8Array(0);
    const body = await this.body(hash, offset, offset + length - 1);
    if (!body) return new Uint8Array(0);
    return read(body, length, into);
  }

  async openChunk(hash: string): Promise<ChunkReader> {
    // The GET from the start both finds a missing chunk here (NOT_FOUND, as the contract
    // asks) and serves a whole-chunk read with no second request.
    let stream: Readable | undefined = await this.body(hash, 0);
    let at = 0;
    return {
      read: async (offset, length, into) => {
        if (length <= 0) return new Uint8Array(0);
        if (!stream || offset !== at) {
          stream?.destroy();
          stream = await this.body(hash, offset);
          at = offset;
          if (!stream) return new Uint8Array(0);
        }
        const got = await read(stream, length, into);
        at += got.byteLength;
        return got;
      },
      close: async () => {
        stream?.destroy();
        stream = undefined;
      },
    };
  }

  /**
   * The body of the chunk's object, from `start` to `end` (inclusive; open-ended when
   * absent); undefined when `start` is past its end. Throws NOT_FOUND when it is absent.
   */
  private async body(hash: string, start?: number, end?: number): Promise<Readable | undefined> {
    const Key = this.key(hash);
    await this.ready;
    const Range = start === undefined ? undefined : `bytes=${start}-${end ?? ''}`;
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key, Range }));
      return r.Body as Readable;
    } catch (err) {
      if (isMissing(err)) throw new FerryError('NOT_FOUND', `Chunk ${hash} is not stored.`);
      if (status(err) === 416) return undefined; // the range starts past the end
      throw new S3StorageError(`Reading chunk ${hash} failed`, err);
    }
  }

  async delete(hash: string): Promise<void> {
    const Key = this.key(hash);
    await this.ready;
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }));
    } catch (err) {
      if (isMissing(err)) return;
      throw new S3StorageError(`Deleting chunk ${hash} failed`, err);
    }
  }

  async *list(): AsyncIterable<StoredChunk> {
    await this.ready;
    let ContinuationToken: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken }));
      } catch (err) {
        throw new S3StorageError(`Listing chunks in ${this.bucket} failed`, err);
      }
      for (const o of page.Contents ?? []) {
        const hash = o.Key?.slice(this.prefix.length + 3);
        if (!hash || !HASH_RE.test(hash) || o.Key !== this.key(hash)) continue;
        yield { hash, size: o.Size ?? 0, mtimeMs: o.LastModified?.getTime() ?? 0 };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  }

  /** Closes the client's sockets. */
  close(): void {
    this.client.destroy();
  }
}

/**
 * Up to `length` bytes from `stream` (all of it for Infinity), into `into` when given
 * and large enough; fewer only at its end. What is read past `length` stays in the
 * stream for the next call.
 */
async function read(stream: Readable, length: number, into?: Uint8Array): Promise<Uint8Array> {
  const whole = length === Infinity;
  const parts: Buffer[] = [];
  let have = 0;
  const target = !whole && into && into.byteLength >= length ? into : undefined;
  while (whole || have < length) {
    const piece = stream.read() as Buffer | null;
    if (piece === null) {
      if (stream.readableEnded || stream.destroyed) break;
      const more = await new Promise<boolean>((resolve, reject) => {
        const onReadable = () => done(true);
        const onEnd = () => done(false);
        const onError = (err: Error) => {
          cleanup();
          reject(new S3StorageError('Reading a chunk failed mid-way', err));
        };
        const cleanup = () => {
          stream.off('readable', onReadable);
          stream.off('end', onEnd);
          stream.off('error', onError);
        };
        const done = (v: boolean) => {
          cleanup();
          resolve(v);
        };
        stream.on('readable', onReadable);
        stream.on('end', onEnd);
        stream.on('error', onError);
      });
      if (!more) break;
      continue;
    }
    const room = whole ? piece.length : length - have;
    const used = piece.length > room ? piece.subarray(0, room) : piece;
    if (piece.length > room) stream.unshift(piece.subarray(room));
    if (target) target.set(used, have);
    else parts.push(used);
    have += used.length;
  }
  if (target) return target.subarray(0, have);
  return parts.length === 1 ? parts[0] : Buffer.concat(parts, have);
}
