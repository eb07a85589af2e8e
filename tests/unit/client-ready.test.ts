/**
 * `FerryClient.ready()` while a socket is closing but its close event has not run yet
 * (ws marks a socket CLOSING when the peer's TCP connection ends, and emits close later):
 * it must wait for the reconnect. Resolving at once let a download retrying on
 * CONNECTION_LOST spin in microtasks, so the close event never ran and it never reconnected.
 */
import { describe, expect, it } from 'vitest';
import { FerryClient, downloadFile, type WebSocketLike } from '../../relay/client/index.js';

class FakeSocket implements WebSocketLike {
  binaryType = 'arraybuffer';
  readyState = 0;
  bufferedAmount = 0;
  private readonly listeners = new Map<string, ((ev: unknown) => void)[]>();
  constructor() {
    setTimeout(() => {
      this.readyState = 1;
      this.emit('open', {});
    }, 1);
  }
  addEventListener(type: string, listener: (ev: unknown) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  emit(type: string, ev: unknown): void {
    for (const l of this.listeners.get(type) ?? []) l(ev);
  }
  send(): void {}
  close(): void {
    this.readyState = 3;
    this.emit('close', {});
  }
}

describe('FerryClient.ready while the socket is closing', () => {
  it('waits for the close event and the reconnect instead of resolving, so a retrying download does not spin', async () => {
    const sockets: FakeSocket[] = [];
    const client = new FerryClient({ url: 'ws://relay.invalid/ws', createSocket: () => (sockets.push(new FakeSocket()), sockets[sockets.length - 1]) });
    await client.connect();
    expect(client.state).toBe('open');
    // The peer went away: CLOSING, close event not yet delivered.
    sockets[0].readyState = 2;
    let readied = false;
    void client.ready().then(() => (readied = true), () => {});
    // A download retrying on CONNECTION_LOST: with the bug it never yields to the timer
    // below, so the thousandth request stops it (and the test fails instead of hanging).
    const stop = new AbortController();
    const request = client.request.bind(client);
    let requests = 0;
    client.request = ((type, body) => {
      if (++requests >= 1000) stop.abort();
      return request(type, body);
    }) as typeof client.request;
    const download = downloadFile(client, { write: async () => {}, finish: async () => {} }, { path: 'x.bin', signal: stop.signal }).catch((err: Error) => err);
    await new Promise((r) => setTimeout(r, 20));
    expect(requests).toBe(0);
    expect(readied).toBe(false);
    expect(sockets).toHaveLength(1);
    sockets[0].readyState = 3;
    sockets[0].emit('close', {});
    await expect.poll(() => sockets.length, { timeout: 5_000 }).toBe(2);
    await expect.poll(() => readied, { timeout: 5_000 }).toBe(true);
    client.close();
    expect(await download).toMatchObject({ code: 'CONNECTION_LOST' });
    expect(requests).toBe(1);
  });
});
