// Pure PCI decoding: sysfs attribute formats, command register, chains from device paths, /proc fd targets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compareBdf, formatBdf, isBdf, parseBdf } from '../../../src/pci/bdf';
import { upstreamFromDevicePath } from '../../../src/host/pci/chain';
import { busMasterEnabled } from '../../../src/host/pci/config';
import { classifyFdTarget, emptyOpenVfioFiles } from '../../../src/host/pci/in-use';
import { isBridgeClass, parseClass, parseDeviceId, parseDriverOverride, parseId } from '../../../src/host/pci/sysfs-values';

describe('sysfs attribute values', () => {
  it('parses ids and classes in the kernel format, lowercasing', () => {
    assert.equal(parseId('0x10DE\n'), '10de');
    assert.equal(parseId('10de\n'), undefined);
    assert.equal(parseId('0x10de0\n'), undefined);
    assert.equal(parseClass('0x060400\n'), '060400');
    assert.equal(parseClass('0x0604\n'), undefined);
    assert.equal(parseClass(''), undefined);
  });

  it('recognises PCI-to-PCI bridges by class 0604xx only', () => {
    assert.equal(isBridgeClass('060400'), true);
    assert.equal(isBridgeClass('060401'), true);
    assert.equal(isBridgeClass('060000'), false, 'host bridge');
    assert.equal(isBridgeClass('030200'), false);
  });

  it('reads driver_override "(null)" as unset', () => {
    assert.equal(parseDriverOverride('(null)\n'), null);
    assert.equal(parseDriverOverride('\n'), null);
    assert.equal(parseDriverOverride('vfio-pci\n'), 'vfio-pci');
  });

  it('parses VENDOR:DEVICE selectors', () => {
    assert.deepEqual(parseDeviceId('8086:1457'), { vendor: '8086', device: '1457' });
    assert.deepEqual(parseDeviceId('10DE:2330'), { vendor: '10de', device: '2330' });
    for (const bad of ['8086', '8086:145', '8086:14570', 'zz86:1457', '8086-1457']) assert.equal(parseDeviceId(bad), undefined, bad);
  });
});

describe('command register', () => {
  it('bus master is bit 2 of the little-endian 16-bit word at offset 4, whatever the other bits', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.integer({ min: 0, max: 0xffff }), (config, command) => {
        config[4] = command & 0xff;
        config[5] = command >> 8;
        assert.equal(busMasterEnabled(config), (command & 0x4) !== 0);
      }),
    );
  });
});

describe('addresses', () => {
  it('formats and validates BDFs; string order is numeric order', () => {
    assert.equal(formatBdf(0, 5, 0, 1), '0000:05:00.1');
    assert.equal(formatBdf(0x10, 0xab, 0x1f, 7), '0010:ab:1f.7');
    for (const bad of ['0000:05:00.8', '000:05:00.1', '0000:05:00', '0000:5:00.1', '0000:05:00.1 ', '0000:0G:00.1', '0000:05:00.A'])
      assert.equal(isBdf(bad), false, bad);
    fc.assert(
      fc.property(
        fc.tuple(fc.nat(0xffff), fc.nat(0xff), fc.nat(0x1f), fc.nat(7)),
        fc.tuple(fc.nat(0xffff), fc.nat(0xff), fc.nat(0x1f), fc.nat(7)),
        (a, b) => {
          const numeric = a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || a[3] - b[3];
          assert.equal(Math.sign(compareBdf(formatBdf(...a), formatBdf(...b))), Math.sign(numeric));
          assert.ok(isBdf(formatBdf(...a)));
        },
      ),
    );
  });
});

describe('bridge chain from a device directory', () => {
  it('lists bridges nearest first and skips root buses', () => {
    assert.deepEqual(upstreamFromDevicePath('pci0000:04/0000:04:01.0/0000:05:00.1', '0000:05:00.1'), ['0000:04:01.0']);
    assert.deepEqual(
      upstreamFromDevicePath('pci0000:00/0000:00:01.0/0000:04:01.0/0000:05:00.1', '0000:05:00.1'),
      ['0000:04:01.0', '0000:00:01.0'],
    );
    assert.deepEqual(upstreamFromDevicePath('pci0000:00/0000:00:1f.0', '0000:00:1f.0'), []);
    assert.deepEqual(upstreamFromDevicePath('platform/soc/pci0002:00/0002:00:00.0/0002:01:00.0', '0002:01:00.0'), ['0002:00:00.0']);
  });

  it('refuses paths that are not a PCI device below a root bus', () => {
    assert.equal(upstreamFromDevicePath('0000:00:01.0/0000:01:00.0', '0000:01:00.0'), undefined, 'no root bus');
    assert.equal(upstreamFromDevicePath('pci0000:00/0000:00:01.0', '0000:01:00.0'), undefined, 'ends elsewhere');
    assert.equal(upstreamFromDevicePath('pci0000:00/0000:00:01.0/usb1/0000:01:00.0', '0000:01:00.0'), undefined, 'non-PCI step');
    assert.equal(upstreamFromDevicePath('pci0000:00', '0000:00:01.0'), undefined, 'a root bus is not a device');
  });
});

describe('open file classification', () => {
  it('recognises VFIO group files, device cdevs and group-API device fds (by their fdinfo) only', () => {
    const found = emptyOpenVfioFiles();
    const targets = ['/dev/vfio/12', '/dev/vfio/vfio', '/dev/vfio/devices/vfio3', '/dev/iommu', '/dev/vfio/12x', 'anon_inode:[vfio-device]', '/dev/vfio/devices/vfio3'];
    targets.forEach((target, fd) => classifyFdTarget(target, { pid: 42, fd }, found));
    assert.deepEqual([...found.groups], [['12', { pid: 42, fd: 0 }]]);
    assert.deepEqual([...found.cdevs], [['vfio3', { pid: 42, fd: 2 }]], 'the first holder of a cdev is kept');
    assert.deepEqual([...found.groupDevices], [], 'a device fd without fdinfo names no device');
    classifyFdTarget('anon_inode:[vfio-device]', { pid: 43, fd: 9 }, found, 'pos:\t0\nvfio-device-syspath: /sys/devices/pci0000:00/0000:00:01.0/0000:05:00.1\n');
    classifyFdTarget('anon_inode:[eventfd]', { pid: 43, fd: 10 }, found, 'vfio-device-syspath: /sys/devices/pci0000:00/0000:00:02.0\n');
    assert.deepEqual([...found.groupDevices], [['0000:05:00.1', { pid: 43, fd: 9 }]]);
  });
});

it('parses a PCI address into its numbers and back', () => {
  assert.deepEqual(parseBdf('0001:b7:1f.7'), { domain: 1, bus: 0xb7, device: 0x1f, fn: 7 });
  assert.equal(formatBdf(1, 0xb7, 0x1f, 7), '0001:b7:1f.7');
  assert.equal(parseBdf('0000:05:00.8'), undefined);
});
