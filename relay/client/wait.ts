/** A wake-up signal for loops that wait on events from several sources. */
export class Wakeup {
  private resolve?: () => void;

  /** Wakes the waiting loop, if any. */
  wake(): void {
    this.resolve?.();
    this.resolve = undefined;
  }

  /** Resolves on the next `wake()`, or after `timeoutMs` at the latest. */
  wait(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.resolve = undefined;
        resolve();
      }, timeoutMs);
      this.resolve = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
