/**
 * The load benchmark's observer, in a process of its own so the uploaders' work does not
 * delay it: signs in, lists a folder every `everyMs` until SIGTERM, then prints each
 * list's milliseconds (send to answer, or to giving up) and how many failed, as JSON.
 * Usage: node --import tsx lister.ts WS_URL USER PASSWORD FOLDER EVERY_MS
 */
import { connectNode } from '../../relay/cli/node-client.js';

const [url, user, password, folder, everyMs] = process.argv.slice(2);
const client = await connectNode({ url });
await client.login(user, password);
const ms: number[] = [];
let stopping = false;
process.on('SIGTERM', () => (stopping = true));
console.log('ready');
let failed = 0;
while (!stopping) {
  await client.ready();
  const t = performance.now();
  try {
    await client.request('list', { folder });
  } catch {
    // No answer (the client gives up after 10 s without progress and reconnects): counted, with its time.
    failed++;
  }
  ms.push(performance.now() - t);
  await new Promise((r) => setTimeout(r, Number(everyMs)));
}
client.close();
console.log(JSON.stringify({ ms, failed }));
