/**
 * The page's handle on the engine worker, which owns the WebSocket. The only module
 * that creates it; state classes call it, components never do.
 */
import * as Comlink from 'comlink';
import type { EngineApi, EngineEvent } from '../workers/engine-api';
import type { ReplyBody, RequestBody, RequestType } from '../../../relay/protocol/messages';

const worker = new Worker(new URL('../workers/engine.worker.ts', import.meta.url), { type: 'module' });
export const engine = Comlink.wrap<EngineApi>(worker);

type Listener = (e: EngineEvent) => void;
const listeners = new Set<Listener>();
void engine.setListener(Comlink.proxy((e: EngineEvent) => listeners.forEach((l) => l(e))));

/** Subscribes to engine events; returns the unsubscribe function. */
export function onEngineEvent(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export { relayUrl } from './relay-url';

/** The stable error code of an engine error (the worker sends it as the error's name). */
export function errorCode(err: unknown): string {
  return (err as Error)?.name ?? 'INTERNAL';
}

/** A typed request through the engine (comlink loses the generic). */
export function request<T extends RequestType>(type: T, body: RequestBody<T>): Promise<ReplyBody<T>> {
  return engine.request(type, body) as Promise<ReplyBody<T>>;
}

/**
 * An engine error as a person reads it: the relay's sentence, without its code (codes
 * go to the client log). Falls back to the code when there is no sentence.
 */
export function describe(err: unknown): string {
  const message = (err as Error)?.message?.trim();
  return message || `Something went wrong (${errorCode(err)}).`;
}
