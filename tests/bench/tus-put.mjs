// The tus side of the small-files benchmark: tus-js-client in Node uploading every file
// of a folder to a tus server, `concurrency` at a time (as `ferry put` does).
// Usage: node tus-put.mjs ENDPOINT DIR CONCURRENCY (prints "done N").
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tus from 'tus-js-client';

const [endpoint, dir, concurrency] = process.argv.slice(2);
const names = (await readdir(dir)).sort();
let next = 0;
let done = 0;
const one = (name) =>
  readFile(path.join(dir, name)).then(
    (data) =>
      new Promise((resolve, reject) => {
        const upload = new tus.Upload(data, {
          endpoint,
          chunkSize: Infinity,
          retryDelays: [],
          storeFingerprintForResuming: false,
          metadata: { filename: name },
          onError: reject,
          onSuccess: resolve,
        });
        upload.start();
      }),
  );
await Promise.all(
  Array.from({ length: Number(concurrency) }, async () => {
    while (next < names.length) {
      await one(names[next++]);
      done++;
    }
  }),
);
console.log(`done ${done}`);
