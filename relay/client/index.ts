/**
 * The transfer engine shared by the `ferry` CLI and the PWA. No Node or DOM
 * imports: the environment hands in a WebSocket factory, file sources and sinks.
 */
export * from './connection.js';
export * from './hashers.js';
export * from './upload.js';
export * from './chunk-feed.js';
export * from './download.js';
export * from './read-once.js';
