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
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.FERRY_CONFIG) return path.resolve(env.FERRY_CONFIG);
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'ferry', 'config.json');
}

export async function loadSession(): Promise<CliSession> {
  try {
    return JSON.parse(await readFile(configPath(), 'utf8')) as CliSession;
  } catch {
    throw new FerryError('AUTH_REQUIRED', 'Not signed in. Run: ferry login URL --user NAME');
  }
}

export async function saveSession(session: CliSession): Promise<void> {
  const file = configPath();
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, JSON.stringify(session, null, 2), { mode: 0o600 });
}

export async function clearSession(): Promise<void> {
  await rm(configPath(), { force: true });
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
