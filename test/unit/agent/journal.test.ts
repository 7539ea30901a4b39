// The journal: durable, atomic, and never guessed at when it cannot be read.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { JournalCorruptError, JournalStore, type Journal } from '../../../src/agent/journal';

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
