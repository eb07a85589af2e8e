// Builds the relay/CLI bundle once before the tests spawn `ferry` processes, so they
// do not all build it at the same time.
import { ensureBuilt } from '../bin/build-node.js';

export default async function setup(): Promise<void> {
  await ensureBuilt();
}
