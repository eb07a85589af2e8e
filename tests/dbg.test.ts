import net from 'node:net';
import { readFileSync } from 'node:fs';
import { it } from 'vitest';
import { ADMIN, ALICE, signIn, standardRelay } from './helpers/relay.js';
import { rawClient } from './helpers/raw.js';
import { uploadFile } from '../relay/client/index.js';
import { bufferSource, randomData } from './helpers/files.js';
const rss = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
for (const admins of [0, 5]) it(`dbg ${admins}`, async () => {
  const env = await standardRelay([], {});
  const alice = await signIn(env.relay, ALICE.name, ALICE.password);
  await uploadFile(alice, bufferSource(randomData(64*1024*1024)), { path: 'big.bin' });
  const pid = env.relay.child.pid!;
  const subs = await Promise.all(Array.from({ length: admins }, async () => {
    const raw = await rawClient(env.relay.wsUrl);
    await raw.request({ type: 'login', id: 1, user: ADMIN.name, password: ADMIN.password });
    await raw.request({ type: 'log.subscribe', id: 2 });
    (raw.ws as any)._socket.pause();
    return raw;
  }));
  const before = rss(pid);
  const busy = await rawClient(env.relay.wsUrl);
  await busy.request({ type: 'login', id: 1, user: ALICE.name, password: ALICE.password });
  for (let batch = 0; batch < 100; batch++) {
    await Promise.all(Array.from({ length: 500 }, (_, i) => busy.request({ type: 'download.begin', id: 100 + batch * 500 + i, path: 'big.bin' })));
    if (batch % 20 === 0) console.log(admins, batch, rss(pid) - before);
  }
  console.log(admins, 'end', rss(pid) - before);
  await env.close();
}, 120000);
