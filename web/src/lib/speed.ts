/** Transfer speed over the last few seconds: steady even when progress comes in bursts. */

/** How far back the speed looks. */
export const SPEED_WINDOW_MS = 3_000;

export class SpeedMeter {
  private samples: { time: number; done: number }[] = [];

  /** Records `done` bytes now; returns bytes per second, or undefined until half a second has passed. */
  sample(done: number, now = performance.now()): number | undefined {
    if (this.samples.length && done < this.samples[this.samples.length - 1].done) this.samples = [];
    this.samples.push({ time: now, done });
    while (this.samples.length > 2 && now - this.samples[0].time > SPEED_WINDOW_MS) this.samples.shift();
    const first = this.samples[0];
    const span = now - first.time;
    return span >= 500 ? ((done - first.done) / span) * 1000 : undefined;
  }

  reset(): void {
    this.samples = [];
  }
}
