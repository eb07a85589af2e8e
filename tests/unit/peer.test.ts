import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { peerOf } from '../../relay/peer.js';

const req = (headers: Record<string, string | string[]>, remote = '127.0.0.1', encrypted = false) =>
  ({ headers, socket: { remoteAddress: remote, encrypted } }) as unknown as IncomingMessage;

describe('peerOf', () => {
  it('ignores every forwarding header unless the proxy is trusted', () => {
    expect(peerOf(req({ 'x-forwarded-for': '10.0.0.1', 'x-forwarded-proto': 'https' }), false)).toEqual({ address: '127.0.0.1', secure: false });
    expect(peerOf(req({}, '192.0.2.9', true), false)).toEqual({ address: '192.0.2.9', secure: true });
  });

  it('believes only the last X-Forwarded-For entry: the one the proxy appended', () => {
    expect(peerOf(req({ 'x-forwarded-for': '10.9.9.9, 203.0.113.7', 'x-forwarded-proto': 'https' }), true)).toEqual({ address: '203.0.113.7', secure: true });
    expect(peerOf(req({ 'x-forwarded-for': ['10.9.9.9', '203.0.113.8'] }), true).address).toBe('203.0.113.8');
    expect(peerOf(req({ 'x-forwarded-for': 'not-an-address' }), true).address).toBe('127.0.0.1');
  });

  it('reads Forwarded (RFC 7239): quoted IPv6 with a port, proto, the last element only', () => {
    expect(peerOf(req({ forwarded: 'for=10.9.9.9;proto=http, for="[2001:DB8::17]:4711";proto=https' }), true)).toEqual({ address: '2001:db8::17', secure: true });
    expect(peerOf(req({ forwarded: 'for=198.51.100.4:5000' }), true)).toEqual({ address: '198.51.100.4', secure: false });
    expect(peerOf(req({ forwarded: 'for=unknown;proto=https', 'x-forwarded-for': '198.51.100.5' }), true)).toEqual({ address: '198.51.100.5', secure: true });
  });
});
