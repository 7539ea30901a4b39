// The journal: durable, atomic, and never guessed at when it cannot be read.
import assert from 'node:assert/strict';
import * as fsp from 'node:fs/promises';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { JOURNAL_FILE, JournalCorruptError, JournalStore, JournalWriteError, type Journal, type JournalFs } from '../../../src/agent/journal';

const sample: Journal = {
  version: 1,
  planUid: 'uid-a',
  planName: 'plan-a',
  attempt: 2,
  phase: 'Prepared',
  holder: 'p1',
  target: { release: '6.19.4-lu2', image: '/images/vmlinuz-6.19.4-lu2', sha256: 'a'.repeat(64), cmdline: { append: [], remove: [], reuse: true } },
  preserve: ['0000:05:00.1'],
  closure: [
    { bdf: '0000:00:01.0', flags: ['busmaster-bridge'] },
    { bdf: '0000:05:00.1', flags: ['busmaster'] },
  ],
  before: { bootId: 'b1', kernelRelease: '6.19.0', busMaster: {} },
  timings: { prepareMs: 12 },
  updatedAt: '2026-11-30T00:00:00.000Z',
};

describe('journal', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'journal-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads nothing on a clean node, then exactly what was written, leaving no temp file', async () => {
    const store = new JournalStore(dir);
    assert.equal(await store.read(), undefined);
    await store.write(sample);
    assert.deepEqual(await store.read(), sample);
    await store.write({ ...sample, phase: 'Executing', kexecIssuedAt: '2026-11-30T00:00:01.000Z' });
    assert.equal((await store.read())?.phase, 'Executing');
    assert.deepEqual(await readdir(dir), ['journal.json']);
  });

  it('refuses to write an invalid journal (the old one stays)', async () => {
    const store = new JournalStore(dir);
    await store.write(sample);
    await assert.rejects(store.write({ ...sample, attempt: -1 }));
    assert.equal((await store.read())?.attempt, 2);
  });

  const corrupt: [string, string, RegExp][] = [
    ['half-written JSON', '{"version":1,"planUid":', /not JSON/],
    ['an unknown version', JSON.stringify({ ...sample, version: 2 }), /version 2, this agent reads version 1/],
    ['a bad field', JSON.stringify({ ...sample, phase: 'Sideways' }), /phase/],
    ['an unknown field', JSON.stringify({ ...sample, extra: true }), /extra|Unrecognized/i],
  ];
  for (const [what, content, detail] of corrupt) {
    it(`reports ${what} as corrupt, naming the file`, async () => {
      const store = new JournalStore(dir);
      await writeFile(store.file, content);
      await assert.rejects(store.read(), (err: unknown) => err instanceof JournalCorruptError && err.message.includes(store.file) && detail.test(err.message));
      assert.equal(await readFile(store.file, 'utf8'), content, 'a corrupt journal is left for a human, untouched');
    });
  }
});

/** A file system that logs every durability-relevant call of the journal, and can make one of them fail. */
function probedFs(events: string[], fail?: { op: string; code: string }): JournalFs {
  const check = (op: string) => {
    if (fail?.op === op) throw Object.assign(new Error(`${fail.code}: injected`), { code: fail.code });
  };
  return {
    readFile: fsp.readFile,
    rename: async (from, to) => {
      check('rename');
      await fsp.rename(from, to);
      events.push(`rename ${path.basename(String(from))} ${path.basename(String(to))}`);
    },
    open: async (file, flags, mode) => {
      const handle = await fsp.open(file, flags, mode);
      const name = path.basename(String(file));
      return {
        writeFile: async (data: string) => {
          check('write');
          await handle.writeFile(data);
          events.push(`write ${name}`);
        },
        sync: async () => {
          check(`sync ${name}`);
          await handle.sync();
          events.push(`sync ${name}`);
        },
        close: async () => handle.close(),
      };
    },
  };
}

describe('journal durability (probed file system)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'journal-fs-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fsyncs the temp file before the rename and the directory after it', async () => {
    const events: string[] = [];
    await new JournalStore(dir, probedFs(events)).write(sample);
    const dirName = path.basename(dir);
    assert.deepEqual(events, [`write ${JOURNAL_FILE}.tmp`, `sync ${JOURNAL_FILE}.tmp`, `rename ${JOURNAL_FILE}.tmp ${JOURNAL_FILE}`, `sync ${dirName}`]);
  });

  it('a failed write names the errno and the file (JournalWriteError), and leaves the old journal', async () => {
    const store = new JournalStore(dir);
    await store.write(sample);
    const full = new JournalStore(dir, probedFs([], { op: 'write', code: 'ENOSPC' }));
    await assert.rejects(full.write({ ...sample, phase: 'Executing' }), (err: unknown) => {
      assert.ok(err instanceof JournalWriteError, String(err));
      assert.equal(err.errno, 'ENOSPC');
      assert.equal(err.file, path.join(dir, `${JOURNAL_FILE}.tmp`));
      assert.match(err.message, new RegExp(`${JOURNAL_FILE}\\.tmp: ENOSPC`));
      return true;
    });
    assert.equal((await store.read())?.phase, 'Prepared');
  });
});
