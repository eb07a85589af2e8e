/**
 * Relay settings: command-line flags win over environment variables, which win
 * over defaults. `ferry serve --help` prints this table.
 */
import path from 'node:path';
import { parseS3Url } from './store/s3-chunk-store.js';

export interface RelayConfig {
  port: number;
  host: string;
  /** Folder holding the SQLite file, the chunk store and the logs. */
  dataDir: string;
  /** Built PWA to serve at `/` (vite's output folder). */
  webDir: string;
  /** Extra origins allowed to open the WebSocket (the relay's own origin always is). */
  origins: string[];
  /** Keep at most N versions per file (0 = no limit). */
  keepVersions: number;
  /** Drop non-current versions older than D days (0 = keep forever). */
  keepDays: number;
  /** When false, `overwrite` drops the replaced content instead of keeping it in history. */
  history: boolean;
  /** Open uploads untouched for this long are dropped and their chunks collected. */
  uploadExpiryMs: number;
  /** Unreferenced chunks younger than this are left alone by the collector. */
  gcGraceMs: number;
  sessionTtlMs: number;
  /** Log level for the JSON log file. */
  logLevel: string;
  /** Bytes each (non-admin) user's versions may take; 0 = no quota. */
  quotaBytes: number;
  /** Days trashed items are kept before they are deleted for good; 0 = until an admin empties the trash. */
  trashDays: number;
  /**
   * Host names a browser may reach the relay by (against DNS rebinding); empty = this
   * machine's own names and addresses, plus those of `origins`; `*` = any.
   */
  hosts: string[];
  /** The address people reach the relay at (behind a proxy, or a DNS name): for the URLs it prints and puts in links. */
  publicUrl?: string;
  /**
   * How the relay speaks TLS on its port: `auto` (its own CA in the data folder),
   * `files` (`tlsCert`/`tlsKey`), or `off` (plain HTTP only).
   */
  tls: 'auto' | 'files' | 'off';
  tlsCert?: string;
  tlsKey?: string;
  /** Take the client's address and scheme from the proxy's `Forwarded` / `X-Forwarded-*` headers. */
  trustProxy: boolean;
  /** A second, plain-HTTP port that only sends browsers to the https URL (0 = none). */
  redirectPort: number;
  /** Where metadata is kept: SQLite in `<data>/ferry.db`, or a PostgreSQL database several relays share. */
  meta: { kind: 'sqlite' } | { kind: 'postgres'; url: string };
  /** Where chunks are kept: files under `<data>/chunks`, or an S3-compatible bucket. */
  chunks: { kind: 'files'; dir?: string } | { kind: 's3'; bucket: string; prefix: string; endpoint?: string; region?: string };
}

export const SETTINGS: { flag: string; env: string; default: string; help: string }[] = [
  { flag: '--port', env: 'FERRY_PORT', default: '8080', help: 'port for HTTP and WebSocket' },
  { flag: '--host', env: 'FERRY_HOST', default: '0.0.0.0', help: 'address to listen on (127.0.0.1 for this machine only)' },
  { flag: '--data', env: 'FERRY_DATA', default: './data', help: 'folder for the database, chunks and logs' },
  { flag: '--web', env: 'FERRY_WEB', default: './dist/web', help: 'folder of the built web app' },
  { flag: '--origins', env: 'FERRY_ORIGINS', default: '', help: 'comma-separated extra origins allowed to connect' },
  { flag: '--keep-versions', env: 'FERRY_KEEP_VERSIONS', default: '0', help: 'keep at most N versions per file (0 = all)' },
  { flag: '--keep-days', env: 'FERRY_KEEP_DAYS', default: '0', help: 'drop old versions after D days (0 = never)' },
  { flag: '--history', env: 'FERRY_HISTORY', default: 'on', help: "'off': overwrite drops replaced content" },
  { flag: '--upload-expiry-days', env: 'FERRY_UPLOAD_EXPIRY_DAYS', default: '7', help: 'drop unfinished uploads after D days' },
  { flag: '--gc-grace-seconds', env: 'FERRY_GC_GRACE_SECONDS', default: '3600', help: 'leave unreferenced chunks this young alone' },
  { flag: '--session-days', env: 'FERRY_SESSION_DAYS', default: '30', help: 'sign-in sessions last this long' },
  { flag: '--log-level', env: 'FERRY_LOG_LEVEL', default: 'info', help: 'trace, debug, info, warn, error' },
  { flag: '--quota', env: 'FERRY_QUOTA', default: '0', help: 'bytes each user may store, like 50G or 2T (0 = no quota; admins have none)' },
  { flag: '--trash-days', env: 'FERRY_TRASH_DAYS', default: '30', help: 'delete trashed items for good after D days (0 = keep until emptied)' },
  { flag: '--hosts', env: 'FERRY_HOSTS', default: '', help: "extra host names browsers may use (this machine's are always allowed; * = any)" },
  { flag: '--tls', env: 'FERRY_TLS', default: 'auto', help: "'auto': HTTPS with the relay's own CA (made once in the data folder); 'off': plain HTTP only" },
  { flag: '--tls-cert', env: 'FERRY_TLS_CERT', default: '', help: 'PEM certificate (chain) to serve instead; read again when it changes' },
  { flag: '--tls-key', env: 'FERRY_TLS_KEY', default: '', help: 'PEM private key of --tls-cert' },
  { flag: '--redirect-port', env: 'FERRY_REDIRECT_PORT', default: '0', help: 'also listen here for plain HTTP and send it to the https URL (0 = no)' },
  { flag: '--trust-proxy', env: 'FERRY_TRUST_PROXY', default: 'off', help: "'on' behind a reverse proxy: client address and scheme from X-Forwarded-For/-Proto or Forwarded" },
  { flag: '--public-url', env: 'FERRY_PUBLIC_URL', default: '', help: 'the address people use, like https://files.example.org (for printed URLs and links)' },
  { flag: '--meta', env: 'FERRY_META', default: 'sqlite', help: "'sqlite' (ferry.db in the data folder) or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, shared by every relay" },
  { flag: '--chunks', env: 'FERRY_CHUNKS', default: 'files', help: "'files' (in the data folder), a folder (/path, such as a shared mount) or s3://BUCKET[/prefix]; keys from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY" },
  { flag: '--s3-endpoint', env: 'FERRY_S3_ENDPOINT', default: '', help: 'the S3 engine, like http://127.0.0.1:7480 (Ceph RGW, Swift, MinIO); none for AWS' },
  { flag: '--s3-region', env: 'FERRY_S3_REGION', default: '', help: 'the bucket\'s region (default AWS_REGION, else us-east-1)' },
];

/** `10G`, `512M`, `2T`, `1000` → bytes (binary units: K = 1024). */
export function parseBytes(name: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?$/i.exec(value.trim());
  if (!m) throw new Error(`${name} takes a size like 500M, 20G or 2T, got "${value}"`);
  const scale = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[m[2].toUpperCase() as 'K'];
  return Math.round(Number(m[1]) * scale);
}

function num(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${value}"`);
  return n;
}

function publicUrl(value: string): string | undefined {
  if (!value) return undefined;
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new Error(`--public-url must be a URL like https://files.example.org, got "${value}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`--public-url must start with http:// or https://, got "${value}"`);
  return u.origin;
}

/** Builds the configuration from parsed flags (by flag name without dashes) and the environment. */
export function loadConfig(flags: Record<string, string | undefined>, env: NodeJS.ProcessEnv = process.env): RelayConfig {
  const get = (flag: string) => {
    const s = SETTINGS.find((x) => x.flag === flag)!;
    return flags[flag.slice(2)] ?? env[s.env] ?? s.default;
  };
  const day = 86_400_000;
  return {
    port: num('--port', get('--port')),
    host: get('--host'),
    dataDir: path.resolve(get('--data')),
    webDir: path.resolve(get('--web')),
    origins: get('--origins').split(',').map((s) => s.trim()).filter(Boolean),
    keepVersions: num('--keep-versions', get('--keep-versions')),
    keepDays: num('--keep-days', get('--keep-days')),
    history: !['off', 'false', '0', 'no'].includes(get('--history').toLowerCase()),
    uploadExpiryMs: num('--upload-expiry-days', get('--upload-expiry-days')) * day,
    gcGraceMs: num('--gc-grace-seconds', get('--gc-grace-seconds')) * 1000,
    sessionTtlMs: num('--session-days', get('--session-days')) * day,
    logLevel: get('--log-level'),
    quotaBytes: parseBytes('--quota', get('--quota')),
    trashDays: num('--trash-days', get('--trash-days')),
    hosts: get('--hosts').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean),
    publicUrl: publicUrl(get('--public-url')),
    ...tlsSettings(get('--tls'), get('--tls-cert'), get('--tls-key')),
    redirectPort: num('--redirect-port', get('--redirect-port')),
    trustProxy: ['on', 'true', '1', 'yes'].includes(get('--trust-proxy').toLowerCase()),
    meta: metaSettings(get('--meta')),
    chunks: chunkSettings(get('--chunks'), get('--s3-endpoint'), get('--s3-region')),
  };
}

function metaSettings(where: string): RelayConfig['meta'] {
  if (where === 'sqlite') return { kind: 'sqlite' };
  if (!/^postgres(ql)?:\/\/[^/]+\/[^/?]+/.test(where)) throw new Error('--meta takes sqlite or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE');
  return { kind: 'postgres', url: where };
}

function chunkSettings(where: string, endpoint: string, region: string): RelayConfig['chunks'] {
  if (where === 'files' || path.isAbsolute(where)) {
    if (endpoint) throw new Error('--s3-endpoint needs --chunks s3://BUCKET');
    return where === 'files' ? { kind: 'files' } : { kind: 'files', dir: where };
  }
  if (!where.startsWith('s3://')) throw new Error(`--chunks takes files, an absolute folder path or s3://BUCKET[/prefix], got "${where}"`);
  if (endpoint && !/^https?:\/\/[^/]+\/?$/.test(endpoint)) throw new Error(`--s3-endpoint must be an address like http://127.0.0.1:7480, got "${endpoint}"`);
  return { kind: 's3', ...parseS3Url(where), endpoint: endpoint || undefined, region: region || undefined };
}

function tlsSettings(mode: string, cert: string, key: string): Pick<RelayConfig, 'tls' | 'tlsCert' | 'tlsKey'> {
  if (cert || key) {
    if (!cert || !key) throw new Error('--tls-cert and --tls-key go together: give both files');
    return { tls: 'files', tlsCert: path.resolve(cert), tlsKey: path.resolve(key) };
  }
  const m = mode.toLowerCase();
  if (m === 'auto') return { tls: 'auto' };
  if (['off', 'false', '0', 'no'].includes(m)) return { tls: 'off' };
  throw new Error(`--tls takes auto or off (or give --tls-cert and --tls-key), got "${mode}"`);
}
