import type { ClientMessage, ReplyBody, RequestType } from '../protocol/index.js';
import type { ClientConnection } from '../connection.js';

/** A handler takes a validated request on a connection and returns its reply body. */
export type Handler<T extends RequestType> = (conn: ClientConnection, msg: Extract<ClientMessage, { type: T }>) => Promise<ReplyBody<T>>;
export type HandlerMap = { [T in RequestType]: Handler<T> };
