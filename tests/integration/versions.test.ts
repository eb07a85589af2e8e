import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFile, uploadFile, type FerryClient } from '../../relay/client/index.js';
import { ADMIN, ALICE, sharedFolder, signIn, standardRelay } from '../helpers/relay.js';
import { bufferSource, memorySink, sha256 } from '../helpers/files.js';

const text = (s: string) => Buffer.from(s, 'utf8');

async function fetch(client: FerryClient, path: string, version?: number): Promise<string> {
  const sink = memorySink();
  await downloadFile(client, sink, { path, version });
  return sink.bytes().toString('utf8');
}

describe('conflict policies, history and restore', () => {
  let env: Awaited<ReturnType<typeof standardRelay>>;
  let alice: FerryClient;
  beforeAll(async () => {
    env = await standardRelay();
    alice = await signIn(env.relay, ALICE.name, ALICE.password);
  });
  afterAll(async () => {
    alice?.close();
    await env?.close();
  });

  it('adds no version for content the file has already, whatever the policy, and tells no one of a change', async () => {
    const events: string[] = [];
    const watcher = await signIn(env.relay, ALICE.name, ALICE.password);
    watcher.onLibraryEvent((e) => events.push(`${e.kind} ${e.path}`));
    try {
      const first = await uploadFile(alice, bufferSource(text('same bytes')), { path: 'same/note.txt' });
      expect(first).toMatchObject({ version: 1, unchanged: false });
      for (const conflict of ['version', 'overwrite', 'rename'] as const) {
        const again = await uploadFile(alice, bufferSource(text('same bytes')), { path: 'same/note.txt', conflict });
        expect(again, conflict).toMatchObject({ path: 'same/note.txt', version: 1, unchanged: true, sha256: sha256(text('same bytes')) });
      }
      const h = await alice.request('history', { path: 'same/note.txt' });
      expect(h.versions).toHaveLength(1);
      expect((await alice.request('list', { folder: 'same' })).entries.map((e) => e.name)).toEqual(['note.txt']);
      // Changed content is a version again; the old content after it is one too (it is not the current one).
      expect((await uploadFile(alice, bufferSource(text('new bytes')), { path: 'same/note.txt' })).version).toBe(2);
      expect((await uploadFile(alice, bufferSource(text('same bytes')), { path: 'same/note.txt' })).version).toBe(3);
      await new Promise((r) => setTimeout(r, 200));
      expect(events.filter((e) => e.endsWith('same/note.txt'))).toEqual(['file.added same/note.txt', 'version.added same/note.txt', 'version.added same/note.txt']);
    } finally {
      watcher.close();
    }
  });

  it('version (the default): the new file becomes current, the old one stays in history', async () => {
    await uploadFile(alice, bufferSource(text('one')), { path: 'v/report.txt' });
    const second = await uploadFile(alice, bufferSource(text('two')), { path: 'v/report.txt' });
    expect(second).toMatchObject({ path: 'v/report.txt', version: 2 });
    expect(await fetch(alice, 'v/report.txt')).toBe('two');
    expect(await fetch(alice, 'v/report.txt', 1)).toBe('one');
    const h = await alice.request('history', { path: 'v/report.txt' });
    expect(h.versions.map((v) => [v.version, v.current, v.sha256])).toEqual([
      [2, true, sha256(text('two'))],
      [1, false, sha256(text('one'))],
    ]);
    const list = await alice.request('list', { folder: 'v' });
    expect(list.entries[0]).toMatchObject({ name: 'report.txt', versions: 2, version: 2 });
  });

  it('rename: name_v2.ext, then _v3, leaving the original alone', async () => {
    await uploadFile(alice, bufferSource(text('a')), { path: 'r/report.pdf' });
    const b = await uploadFile(alice, bufferSource(text('b')), { path: 'r/report.pdf', conflict: 'rename' });
    const c = await uploadFile(alice, bufferSource(text('c')), { path: 'r/report.pdf', conflict: 'rename' });
    expect([b.path, b.version, c.path, c.version]).toEqual(['r/report_v2.pdf', 1, 'r/report_v3.pdf', 1]);
    expect(await fetch(alice, 'r/report.pdf')).toBe('a');
    expect(await fetch(alice, 'r/report_v3.pdf')).toBe('c');
    const names = (await alice.request('list', { folder: 'r' })).entries.map((e) => e.name);
    expect(names).toEqual(['report.pdf', 'report_v2.pdf', 'report_v3.pdf']);
  });

  it('overwrite: replaces the current content; with history on the replaced content stays listed', async () => {
    await uploadFile(alice, bufferSource(text('old')), { path: 'o/notes.md' });
    const r = await uploadFile(alice, bufferSource(text('new')), { path: 'o/notes.md', conflict: 'overwrite' });
    expect(r.version).toBe(2);
    expect(await fetch(alice, 'o/notes.md')).toBe('new');
    expect((await alice.request('history', { path: 'o/notes.md' })).versions.length).toBe(2);
  });

  it('restore makes a copy of an old version the new current version', async () => {
    await uploadFile(alice, bufferSource(text('first')), { path: 'x/doc.txt' });
    await uploadFile(alice, bufferSource(text('second')), { path: 'x/doc.txt' });
    const r = await alice.request('restore', { path: 'x/doc.txt', version: 1 });
    expect(r).toEqual({ path: 'x/doc.txt', version: 3, restoredFrom: 1 });
    expect(await fetch(alice, 'x/doc.txt')).toBe('first');
    const h = await alice.request('history', { path: 'x/doc.txt' });
    expect(h.versions.map((v) => v.version)).toEqual([3, 2, 1]);
  });

  it('a file cannot hold a folder and a folder cannot be replaced by a file', async () => {
    await uploadFile(alice, bufferSource(text('f')), { path: 'p/file' });
    await expect(uploadFile(alice, bufferSource(text('g')), { path: 'p/file/inner.txt' })).rejects.toMatchObject({ code: 'PATH_CONFLICT' });
    await expect(uploadFile(alice, bufferSource(text('h')), { path: 'p' })).rejects.toMatchObject({ code: 'IS_FOLDER' });
    expect((await uploadFile(alice, bufferSource(text('h')), { path: 'p', conflict: 'rename' })).path).toBe('p_v2');
  });

  it('an admin deletes one version for good; the latest remaining becomes current', async () => {
    const admin = await signIn(env.relay, ADMIN.name, ADMIN.password);
    const space = await sharedFolder(env.relay, 'versions-desk', { alice: 'edit', admin: 'edit' });
    try {
      await uploadFile(alice, bufferSource(text('1')), { space, path: 'd/a.txt' });
      await uploadFile(alice, bufferSource(text('2')), { space, path: 'd/a.txt' });
      await expect(alice.request('delete', { space, path: 'd/a.txt', version: 2 })).rejects.toMatchObject({ code: 'FORBIDDEN' });
      expect(await admin.request('delete', { space, path: 'd/a.txt', version: 2 })).toEqual({ path: 'd/a.txt', deletedVersions: 1 });
      const sink = memorySink();
      await downloadFile(alice, sink, { space, path: 'd/a.txt' });
      expect(sink.bytes().toString()).toBe('1');
      expect(await admin.request('delete', { space, path: 'd/a.txt' })).toEqual({ path: 'd/a.txt', deletedVersions: 1 });
      await expect(alice.request('history', { space, path: 'd/a.txt' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    } finally {
      admin.close();
    }
  });
});

describe('retention and history settings', () => {
  it('keeps the last N versions (--keep-versions 2)', async () => {
    const env = await standardRelay(['--keep-versions', '2']);
    const alice = await signIn(env.relay, ALICE.name, ALICE.password);
    try {
      for (const s of ['1', '2', '3', '4']) await uploadFile(alice, bufferSource(text(s)), { path: 'k.txt' });
      const h = await alice.request('history', { path: 'k.txt' });
      expect(h.versions.map((v) => v.version)).toEqual([4, 3]);
      expect(await fetch(alice, 'k.txt', 3)).toBe('3');
      await expect(fetch(alice, 'k.txt', 1)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    } finally {
      alice.close();
      await env.close();
    }
  });

  it('drops the replaced content on overwrite when history is off (--history off)', async () => {
    const env = await standardRelay(['--history', 'off']);
    const alice = await signIn(env.relay, ALICE.name, ALICE.password);
    try {
      await uploadFile(alice, bufferSource(text('old')), { path: 'h.txt' });
      await uploadFile(alice, bufferSource(text('kept')), { path: 'h.txt', conflict: 'version' });
      await uploadFile(alice, bufferSource(text('new')), { path: 'h.txt', conflict: 'overwrite' });
      const h = await alice.request('history', { path: 'h.txt' });
      expect(h.versions.map((v) => v.version)).toEqual([3]);
      expect(await fetch(alice, 'h.txt')).toBe('new');
    } finally {
      alice.close();
      await env.close();
    }
  });
});
