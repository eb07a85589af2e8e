/** The shared protocol: constants, error table, message schemas, codec, paths, hashing. */
export * from './constants.js';
export * from './errors.js';
export * from './messages.js';
export * from './codec.js';
export * from './paths.js';
export * from './hashing.js';
export * from './units.js';
export * from './media-types.js';
