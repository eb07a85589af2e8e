/**
 * End-to-end encryption's cost, from the CLI, in one run: `ferry put` and `ferry get` of
 * the same random file into an encrypted folder and into a plain one (interleaved, best
 * of N; each run's file differs in every chunk, so neither upload finds it stored), putting the
 * unchanged file again, and unlocking with the passphrase (Argon2id at its defaults).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { FERRY_BIN, addUsers, startRelayProcess } from '../helpers/relay.js';
import { KDF_DEFAULTS } from '../../relay/crypto/format.js';

function ferry(args: string[], env: Record<string, string>): Promise<{ seconds: number; out: string; err: string; code: number | null }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [FERRY_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ seconds: (performance.now() - started) / 1000, out, err, code }));
  });
}

async function ok(args: string[], env: Record<string, string>): Promise<number> {
  const r = await ferry(args, env);
  if (r.code !== 0) throw new Error(`ferry ${args.join(' ')}: ${r.err}`);
  return r.seconds;
}

export async function benchE2e(opts: { file: string; work: string; runs: number; size: number; settle: () => void }): Promise<string[]> {
  const user = { name: 'sealer', password: 'sealer-password', role: 'user' as const };
  const dataDir = path.join(opts.work, 'e2e-data');
  rmSync(dataDir, { recursive: true, force: true });
  await addUsers(dataDir, [user]);
  const relay = await startRelayProcess({ dataDir });
  const env = { FERRY_CONFIG: path.join(opts.work, 'e2e-cli.json'), FERRY_PASSWORD: user.password, FERRY_PASSPHRASE: 'a bench passphrase' };
  const t = { plainPut: [] as number[], sealedPut: [] as number[], again: [] as number[], plainGet: [] as number[], sealedGet: [] as number[], unlock: [] as number[] };
  try {
    await ok(['login', relay.httpUrl, '--user', user.name], env);
    await ok(['keys', 'init'], env);
    for (let i = 0; i < opts.runs; i++) {
      console.error(`e2e run ${i + 1}/${opts.runs}`);
      // Content the relay has not seen (it deduplicates per user): the run's number at the
      // start of every 4 MiB, which falls in every chunk, plain or sealed.
      const fd = openSync(opts.file, 'r+');
      for (let at = 0; at < opts.size; at += 4 * 2 ** 20) writeSync(fd, Buffer.from(`run ${i} of the e2e bench`), 0, 16, at);
      closeSync(fd);
      await ok(['mkdir', `vault${i}`, '--encrypted'], env);
      opts.settle();
      t.plainPut.push(await ok(['put', opts.file, '--to', `plain${i}`], env));
      opts.settle();
      t.sealedPut.push(await ok(['put', opts.file, '--to', `vault${i}`], env));
      opts.settle();
      t.again.push(await ok(['put', opts.file, '--to', `vault${i}`], env));
      const back = path.join(opts.work, 'e2e-back.bin');
      opts.settle();
      t.plainGet.push(await ok(['get', `plain${i}/${path.basename(opts.file)}`, '-o', back, '--force'], env));
      opts.settle();
      t.sealedGet.push(await ok(['get', `vault${i}/${path.basename(opts.file)}`, '-o', back, '--force'], env));
      rmSync(back, { force: true });
      await ok(['lock'], env);
      t.unlock.push(await ok(['unlock'], env));
    }
  } finally {
    await relay.stop();
  }
  const best = (xs: number[]) => Math.min(...xs);
  const mibs = (s: number) => opts.size / 2 ** 20 / s;
  const list = (xs: number[]) => xs.map((s) => s.toFixed(2)).join(', ');
  const mib = opts.size / 2 ** 20;
  return [
    `| CLI upload of ${mib} MiB into an encrypted folder vs a plain one (best of ${opts.runs}; runs ${list(t.plainPut)} / ${list(t.sealedPut)} s) | ${mibs(best(t.plainPut)).toFixed(1)} MiB/s | ${mibs(best(t.sealedPut)).toFixed(1)} MiB/s | ${(best(t.plainPut) / best(t.sealedPut)).toFixed(2)} | ≥ 0.8 |`,
    `| CLI download of the same, encrypted vs plain (runs ${list(t.plainGet)} / ${list(t.sealedGet)} s) | ${mibs(best(t.plainGet)).toFixed(1)} MiB/s | ${mibs(best(t.sealedGet)).toFixed(1)} MiB/s | ${(best(t.plainGet) / best(t.sealedGet)).toFixed(2)} | ≥ 0.8 |`,
    `| putting the unchanged encrypted file again vs its first upload (runs ${list(t.again)} s) | ${best(t.sealedPut).toFixed(2)} s | ${best(t.again).toFixed(2)} s | ${(best(t.sealedPut) / best(t.again)).toFixed(1)}× faster | ≥ 3× |`,
    `| ferry unlock (process start to exit; Argon2id ${KDF_DEFAULTS.memoryKiB / 1024} MiB, ${KDF_DEFAULTS.iterations} passes, ${KDF_DEFAULTS.parallelism} lane; runs ${list(t.unlock)} s) | — | ${best(t.unlock).toFixed(2)} s | — | stated |`,
  ];
}
