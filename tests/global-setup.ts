// Builds the relay/CLI bundle and the web app once before the tests spawn `ferry`
// processes and browsers, so they do not all build them at the same time.
import { ensureBuilt } from '../bin/build-node.js';
import { ensureWebBuilt } from '../bin/build-web.js';

export default async function setup(): Promise<void> {
  await ensureBuilt();
  await ensureWebBuilt();
}
