/**
 * Progress for long CLI work: a bar with speed and time left on a terminal,
 * plain lines otherwise (logs, CI).
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, label?: string): void;
  stop(): void;
}

function mib(n: number): string {
  return (n / 1048576).toFixed(1);
}

export function createProgress(total: number, label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) {
    let lastLabel = '';
    return {
      update(_done, l) {
        if (l && l !== lastLabel) {
          lastLabel = l;
          stream.write(`${l}\n`);
        }
      },
      stop() {},
    };
  }
  const started = Date.now();
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: '{label} |{bar}| {percentage}% {doneMiB}/{totalMiB} MiB {speed} MiB/s ETA {eta_formatted}',
      barsize: 24,
      hideCursor: true,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { label, doneMiB: '0.0', totalMiB: mib(total), speed: '0.0' });
  return {
    update(done, l) {
      const seconds = (Date.now() - started) / 1000;
      bar.update(done, { label: l ?? label, doneMiB: mib(done), totalMiB: mib(total), speed: seconds > 0 ? mib(done / seconds) : '0.0' });
    },
    stop() {
      bar.stop();
    },
  };
}
