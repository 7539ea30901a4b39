import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { advanceCounters, dmaPathOpen } from '../../../src/host/sim/dma';
import { parseTopology } from '../../../src/host/sim/topology';
import { key, seedTopology, simNode } from './sim-fixture';
import { topologyArbitrary } from './topology-arbitrary';

describe('DMA counters', () => {
  it('property: an endpoint counts elapsed time exactly when its own and every upstream bus master are set', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ bm: fc.boolean(), bridge: fc.boolean() }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 10_000 }),
        (chain, elapsed) => {
          const devices = chain.map((c, i) => ({
            bdf: `0000:0${i}:00.0`,
            bridge: c.bridge,
            busMaster: c.bm,
            upstream: chain.slice(0, i).map((_, j) => `0000:0${j}:00.0`).reverse(),
          }));
          const after = advanceCounters({}, devices, elapsed);
          devices.forEach((d, i) => {
            if (d.bridge) return assert.equal(after[d.bdf], undefined, 'bridges have no counter');
            const open = chain.slice(0, i + 1).every((c) => c.bm);
            assert.equal(after[d.bdf], open ? elapsed : 0);
          });
        },
      ),
    );
  });

  it('dmaPathOpen needs the upstream bridges to be known and set', () => {
    assert.equal(dmaPathOpen({ busMaster: true, upstream: ['0000:04:01.0'] }, new Map([['0000:04:01.0', true]])), true);
    assert.equal(dmaPathOpen({ busMaster: true, upstream: ['0000:04:01.0'] }, new Map()), false);
    assert.equal(dmaPathOpen({ busMaster: false, upstream: [] }, new Map()), false);
  });

  it('across a simulated live update, the preserved VF keeps counting and the unpreserved one stops', async () => {
    const node = await simNode(await seedTopology());
    const host = await node.open();
    const start = (await host.dmaCounters()).counters;
    node.now += 500;
    await host.luo.prepare(key, ['0000:05:00.1']);
    await host.kexec.load(node.image);
    await host.kexec.execute(); // DMA advanced to the kexec moment, then bits cleared
    node.now += 2_000;
    const sample = await (await node.open()).dmaCounters();
    const after = sample.counters;
    assert.equal(after['0000:05:00.1']! - start['0000:05:00.1']!, 2_500, 'preserved: counted through the kexec');
    assert.equal(after['0000:05:00.2']! - start['0000:05:00.2']!, 500, 'not preserved: stopped at the kexec');
    assert.equal(after['0000:05:00.3']! - start['0000:05:00.3']!, 0, 'never had bus master');
  });

  it('property: after kexec on random topologies, counters advance only under fully preserved chains', async () => {
    await fc.assert(
      fc.asyncProperty(topologyArbitrary, fc.infiniteStream(fc.boolean()), async (input, picks) => {
        const node = await simNode(parseTopology(input), { bridges: 'explicit', api: 'legacy' });
        const host = await node.open();
        const devices = (await host.inventory()).devices;
        const requested = devices.filter(() => picks.next().value as boolean).map((d) => d.bdf);
        await host.luo.prepare(key, requested);
        await host.kexec.load(node.image);
        await host.kexec.execute();
        const rebooted = await node.open();
        const first = await rebooted.dmaCounters();
        node.now += 1_000;
        const second = await rebooted.dmaCounters();
        assert.equal(second.at - first.at, 1_000, 'each sample says the instant it describes');
        const [before, after] = [first.counters, second.counters];
        const kept = new Set(requested);
        for (const d of devices.filter((x) => !x.bridge)) {
          const chainPreserved = d.busMaster && kept.has(d.bdf) && d.upstream.every((u) => kept.has(u) && devices.find((x) => x.bdf === u)!.busMaster);
          assert.equal(after[d.bdf]! - before[d.bdf]!, chainPreserved ? 1_000 : 0, d.bdf);
        }
      }),
      { numRuns: 15 },
    );
  });
});
