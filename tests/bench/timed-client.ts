/** A client that times each chunk from send to acknowledgement (the load and scale benchmarks). */
import { FerryClient, type ChunkEvent } from '../../relay/client/index.js';

export class TimedClient extends FerryClient {
  readonly sentAt = new Map<string, number>();
  readonly ackMs: number[] = [];
  override sendChunk(handle: number, index: number, data: Uint8Array): void {
    this.sentAt.set(`${handle}:${index}`, performance.now());
    super.sendChunk(handle, index, data);
  }
  override onChunkEvents(handle: number, listener: (ev: ChunkEvent) => void) {
    return super.onChunkEvents(handle, (ev) => {
      const at = this.sentAt.get(`${handle}:${ev.index}`);
      if (ev.type === 'chunk.ack' && at !== undefined) this.ackMs.push(performance.now() - at);
      listener(ev);
    });
  }
}
