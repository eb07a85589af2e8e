/**
 * Progress for long CLI work: a bar with speed and time left on a terminal, fitted to
 * its width, plain lines otherwise (logs, CI). The speed is that of the last few
 * seconds, and a dropped connection shows as "reconnecting" instead of a frozen figure.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, label?: string): void;
  /** The connection's state: anything but "open" is shown in place of the speed. */
  state(state: string): void;
  /** Prints a line on stdout above the bar (which is drawn again under it). */
  print(line: string): void;
  stop(): void;
}

function mib(n: number): string {
  return (n / 1048576).toFixed(1);
}

/** Seconds the speed is averaged over. */
const SPEED_WINDOW_S = 5;

/** Characters of the bar's line other than the label and the bar itself. */
const FIXED = ' || 100% 9999.9/9999.9 MiB 999.9 MiB/s ETA 99:99:99'.length;

/** `text` cut to `width` characters, with an ellipsis in the middle (the end of a path says most). */
export function fit(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 1) return chars.slice(0, width).join('');
  const tail = Math.ceil((width - 1) * 0.6);
  return `${chars.slice(0, width - 1 - tail).join('')}…${chars.slice(chars.length - tail).join('')}`;
}

export function createProgress(total: number, label: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) {
    let lastLabel = '';
    let stopped = false;
    return {
      update(_done, l) {
        if (l && l !== lastLabel) {
          lastLabel = l;
          stream.write(`${l}\n`);
        }
      },
      state(s) {
        // The connection closing after the transfer ended is no news.
        if (s !== 'open' && !stopped) stream.write(`(${s})\n`);
      },
      print(line) {
        process.stdout.write(`${line}\n`);
      },
      stop() {
        stopped = true;
      },
    };
  }
  const columns = stream.columns || 80;
  const barsize = Math.max(6, Math.min(24, Math.floor((columns - FIXED) / 3)));
  const labelWidth = Math.max(8, columns - FIXED - barsize - 1);
  const samples: { at: number; done: number }[] = [{ at: Date.now(), done: 0 }];
  let connection = 'open';
  let last = 0;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: '{label} |{bar}| {percentage}% {doneMiB}/{totalMiB} MiB {speed} ETA {eta_formatted}',
      barsize,
      hideCursor: true,
      etaBuffer: 20,
      linewrap: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const speed = () => {
    if (connection !== 'open') return connection;
    const first = samples[0];
    const lastSample = samples[samples.length - 1];
    const seconds = (lastSample.at - first.at) / 1000;
    return `${seconds > 0 ? mib((lastSample.done - first.done) / seconds) : '0.0'} MiB/s`;
  };
  const fields = (l: string) => ({ label: fit(l, labelWidth), doneMiB: mib(last), totalMiB: mib(total), speed: speed() });
  let currentLabel = label;
  bar.start(total, 0, fields(label));
  return {
    update(done, l) {
      const now = Date.now();
      last = done;
      if (l) currentLabel = l;
      samples.push({ at: now, done });
      while (samples.length > 2 && now - samples[0].at > SPEED_WINDOW_S * 1000) samples.shift();
      bar.update(done, fields(currentLabel));
    },
    state(s) {
      connection = s;
      if (s === 'open') {
        // Start the speed afresh: the time spent reconnecting is not a transfer rate.
        samples.splice(0, samples.length, { at: Date.now(), done: last });
      }
      bar.update(last, fields(currentLabel));
    },
    print(line) {
      // Clear the bar's line, print, and let the bar draw itself again below.
      stream.write('\r\x1b[2K');
      process.stdout.write(`${line}\n`);
      bar.update(last, fields(currentLabel));
    },
    stop() {
      bar.stop();
    },
  };
}
