// Facts the host-side test and the guest programs share: the guest's paths and PCI topology (QEMU arguments in
// support/qemu.ts place the devices at these addresses).

export const GUEST = {
  /** The NVMe namespace's ext2 file system, mounted by init.sh. */
  root: '/lu',
  /** The kernel and initramfs the guest kexecs into (the agent's --image-dir). */
  boot: '/lu/boot',
  /** State that must survive kexec (LUO records, the agent journal). */
  state: '/lu/state',
  /** The NVMe endpoint carrying /lu, behind root port 00:04.0. */
  nvme: '0000:01:00.0',
  nvmeRootPort: '0000:00:04.0',
  /** A QEMU `edu` device behind root port 00:05.0, bound to vfio-pci (no-IOMMU) by the guest. */
  vfioDevice: '0000:02:00.0',
  vfioRootPort: '0000:00:05.0',
  /** A second `edu` device no driver claims. */
  driverless: '0000:00:06.0',
  /** QEMU's user-mode network: the guest reaches the test apiserver at this address (one guestfwd). */
  apiserverAddress: '10.0.2.100',
  apiserverPort: 6443,
} as const;
