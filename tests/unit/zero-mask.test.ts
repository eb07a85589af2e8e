import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { nodeSocketFactory } from '../../relay/cli/node-client.js';

describe('the CLI socket', () => {
  it('sends masked frames with an all-zero key, so neither side copies or XORs chunk bytes', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wss.once('listening', r));
    const port = (wss.address() as { port: number }).port;
    const raw: Buffer[] = [];
    const got = new Promise<Buffer>((resolve) =>
      wss.on('connection', (ws, req) => {
        req.socket.on('data', (d: Buffer) => raw.push(d));
        ws.on('message', (data) => resolve(data as Buffer));
      }),
    );
    const ws = nodeSocketFactory(`ws://127.0.0.1:${port}`, 'test') as unknown as import('ws').WebSocket;
    await new Promise((r) => ws.once('open', r));
    const payload = Buffer.from('chunk bytes as they are');
    ws.send(payload);
    expect(Buffer.compare(await got, payload)).toBe(0);
    const frame = Buffer.concat(raw);
    expect(frame[0]).toBe(0x82); // final binary frame
    expect(frame[1] & 0x80).toBe(0x80); // masked, as RFC 6455 requires of clients
    expect(frame[1] & 0x7f).toBe(payload.length);
    expect([...frame.subarray(2, 6)]).toEqual([0, 0, 0, 0]);
    expect(Buffer.compare(frame.subarray(6, 6 + payload.length), payload)).toBe(0);
    ws.close();
    await new Promise<void>((r) => wss.close(() => r()));
  });
});
