import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SimHost } from '../../../src/host/sim/host';
import { installKernels, kernelsIndex } from '../../../src/sim/kernels';
import { NO_PASSTHROUGH, prepareNode } from '../../../src/sim/prepare';

describe('simulated kernels', () => {
  it('the image of a release has the same bytes, hence sha256, wherever it is installed', () => {
    const a = kernelsIndex('/a/images', ['6.19.4-lu2', '6.20.0-sim']);
    const b = kernelsIndex('/b/images', ['6.19.4-lu2']);
    assert.equal(a['6.19.4-lu2']!.sha256, b['6.19.4-lu2']!.sha256);
    assert.notEqual(a['6.19.4-lu2']!.sha256, a['6.20.0-sim']!.sha256);
    assert.equal(a['6.20.0-sim']!.image, '/a/images/vmlinuz-6.20.0-sim');
    assert.match(a['6.20.0-sim']!.sha256, /^[0-9a-f]{64}$/);
    assert.throws(() => kernelsIndex('/a', ['../etc/passwd']), /not a release name/);
  });

  it('installs the images and writes kernels.json: release -> image path and the sha256 of its bytes', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sim-kernels-'));
    const index = await installKernels(path.join(dir, 'images'), dir, ['6.19.4-lu2']);
    assert.deepEqual(JSON.parse(await readFile(path.join(dir, 'kernels.json'), 'utf8')), index);
    const { image, sha256 } = index['6.19.4-lu2']!;
    assert.equal(image, path.join(dir, 'images', 'vmlinuz-6.19.4-lu2'));
    assert.equal(createHash('sha256').update(await readFile(image)).digest('hex'), sha256);
  });

  it('one kernels.json path loads on every fleet node: each node image dir is the shared one', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sim-kernels-'));
    const shared = path.join(dir, 'images');
    const index = await installKernels(shared, dir, ['6.20.0-sim']);
    const target = { ...index['6.20.0-sim']!, cmdline: { append: [], remove: [], reuse: true } };
    for (const node of ['n1', 'n2']) {
      const nodeDir = path.join(dir, node);
      assert.equal(await prepareNode({ dir: nodeDir, node, topology: NO_PASSTHROUGH.topology, sharedImageDir: shared }), true);
      assert.equal(await prepareNode({ dir: nodeDir, node, topology: NO_PASSTHROUGH.topology, sharedImageDir: shared }), false, 'an existing node is kept');
      // The SimHost's default image dir (<node>/images) and the agent's --image-dir (<dir>/images) both accept it.
      for (const imageDir of [undefined, shared]) {
        const host = await SimHost.open({ dir: nodeDir, node, imageDir });
        await host.kexec.load(target);
        await host.kexec.unload();
      }
    }
  });
});
