/**
 * The load benchmark's observer, in a process of its own so the uploaders' work does not
 * delay it: signs in, lists a folder every `everyMs` until SIGTERM, then prints each
 * list's milliseconds (send to answer) as JSON.
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
while (!stopping) {
  const t = performance.now();
  await client.request('list', { folder });
  ms.push(performance.now() - t);
  await new Promise((r) => setTimeout(r, Number(everyMs)));
}
client.close();
console.log(JSON.stringify(ms));
