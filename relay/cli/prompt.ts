/**
 * Reads a password: from a terminal without echo, else the first line of stdin.
 *
 * On a terminal the keys are read in raw mode, by hand: readline redraws its line as it
 * starts, which erased the prompt printed before it.
 */
export async function readPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let text = '';
    for await (const chunk of stdin) text += chunk;
    return text.split(/\r?\n/)[0];
  }
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((resolve, reject) => {
    let answer = '';
    const done = (result?: string) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (result === undefined) reject(new Error('no password given'));
      else resolve(result);
    };
    const onData = (keys: string) => {
      for (const key of keys) {
        if (key === '\r' || key === '\n') return done(answer);
        if (key === '\u0003') {
          // Ctrl-C: stop as a terminal program does.
          done('');
          process.exit(130);
        }
        if (key === '\u0004') return done(); // Ctrl-D
        if (key === '\u007f' || key === '\b') answer = [...answer].slice(0, -1).join('');
        else if (key === '\u0015') answer = ''; // Ctrl-U
        else if (key >= ' ') answer += key;
      }
    };
    stdin.on('data', onData);
  });
}

/** Asks a question on stderr and reads one line: from the terminal, else the first line of stdin. */
export async function readAnswer(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let text = '';
    for await (const chunk of stdin) {
      text += chunk;
      if (text.includes('\n')) break;
    }
    return text.split(/\r?\n/)[0];
  }
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: stdin, terminal: false });
  try {
    return await new Promise<string>((resolve) => rl.once('line', resolve).once('close', () => resolve('')));
  } finally {
    rl.close();
  }
}
