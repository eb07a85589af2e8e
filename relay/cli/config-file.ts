/** Where the CLI keeps its session: `$FERRY_CONFIG`, else `~/.config/ferry/config.json`. */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FerryError } from '../protocol/index.js';

export interface CliSession {
  /** The relay's http(s) URL. */
  url: string;
  user: string;
  token: string;
  /** Other relays of the same deployment, tried in turn when one cannot be reached. */
  alternates?: string[];
}

/** The file: the session, and the device tokens of earlier sign-ins (kept across sign-outs). */
interface ConfigFile extends Partial<CliSession> {
  /** Device token per `url|user`: sign-ins from this machine are not held back by guesses elsewhere. */
  devices?: Record<string, string>;
  /** The CA certificate (PEM) trusted for each relay origin that has its own CA. */
  trusted?: Record<string, string>;
  /** Public key fingerprints of people (encrypted shared folders), by `origin|user`, pinned on first use. */
  pins?: Record<string, string>;
}

async function readConfig(): Promise<ConfigFile> {
  try {
    return JSON.parse(await readFile(configPath(), 'utf8')) as ConfigFile;
  } catch {
    return {};
  }
}

async function writeConfig(config: ConfigFile): Promise<void> {
  const file = configPath();
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, JSON.stringify(config, null, 2), { mode: 0o600 });
}

const deviceKey = (url: string, user: string) => `${new URL(url).origin}|${user.toLowerCase()}`;

/** The device token an earlier sign-in of `user` at `url` from here got, if any. */
export async function loadDevice(url: string, user: string): Promise<string | undefined> {
  return (await readConfig()).devices?.[deviceKey(url, user)];
}

/** The CA certificate this machine trusts for the relay at `url`, if one was kept. */
export async function trustedCa(url: string): Promise<string | undefined> {
  return (await readConfig()).trusted?.[new URL(url).origin];
}

/** The public key fingerprint pinned for `user` of the relay at `url`, and pinning one (undefined forgets it). */
export async function pinnedKey(url: string, user: string): Promise<string | undefined> {
  return (await readConfig()).pins?.[deviceKey(url, user)];
}

/** Everyone pinned for the relay at `url`: user → fingerprint. */
export async function pinnedKeys(url: string): Promise<Record<string, string>> {
  const origin = `${new URL(url).origin}|`;
  return Object.fromEntries(Object.entries((await readConfig()).pins ?? {}).filter(([k]) => k.startsWith(origin)).map(([k, v]) => [k.slice(origin.length), v]));
}

export async function pinKey(url: string, user: string, fingerprint: string | undefined): Promise<void> {
  const c = await readConfig();
  const pins = { ...c.pins };
  if (fingerprint === undefined) delete pins[deviceKey(url, user)];
  else pins[deviceKey(url, user)] = fingerprint;
  await writeConfig({ ...c, pins });
}

/** Keeps `pem` as the CA trusted for the relay at `url` (replacing an earlier one). */
export async function trustCa(url: string, pem: string): Promise<void> {
  const c = await readConfig();
  await writeConfig({ ...c, trusted: { ...c.trusted, [new URL(url).origin]: pem } });
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FERRY_CONFIG) return path.resolve(env.FERRY_CONFIG);
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'ferry', 'config.json');
}

export async function loadSession(): Promise<CliSession> {
  const c = await readConfig();
  if (!c.url || !c.user || !c.token) throw new FerryError('AUTH_REQUIRED', 'Not signed in. Run: ferry login URL --user NAME');
  return { url: c.url, user: c.user, token: c.token, ...(c.alternates?.length ? { alternates: c.alternates } : {}) };
}

/** Saves the session, and the device token the sign-in returned. */
export async function saveSession(session: CliSession, device?: string): Promise<void> {
  const c = await readConfig();
  const devices = { ...c.devices };
  if (device) devices[deviceKey(session.url, session.user)] = device;
  await writeConfig({ ...session, devices });
}

/** Forgets the session (device tokens and trusted CAs stay). */
export async function clearSession(): Promise<void> {
  const { devices, trusted } = await readConfig();
  if (Object.keys(devices ?? {}).length > 0 || Object.keys(trusted ?? {}).length > 0) await writeConfig({ devices, trusted });
  else await rm(configPath(), { force: true });
}

/** ws(s)://host/ws for an http(s)://host URL. */
export function wsUrl(httpUrl: string): string {
  const u = new URL(httpUrl);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new FerryError('BAD_MESSAGE', `Relay URL must start with http:// or https://, got ${httpUrl}`);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = '/ws';
  u.search = '';
  u.hash = '';
  return u.toString();
}
