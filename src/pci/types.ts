// The PCI model shared by the host layer, which reads it from a machine, and the operator, which plans from the
// agent's report of it: addresses, devices, and the bus-master preservation plan.

/** PCI address in the kernel's sysfs form: domain:bus:device.function, lowercase hex (e.g. 0000:05:00.1). */
export type Bdf = string;

export interface PciDevice {
  bdf: Bdf;
  /** 4 lowercase hex digits, no 0x. */
  vendor: string;
  device: string;
  /** 6 lowercase hex digits, no 0x (a bridge is 0604xx). */
  class: string;
  driver: string | null;
  driverOverride: string | null;
  iommuGroup: string | null;
  /** Bit 2 of the command register (offset 4 of config). */
  busMaster: boolean;
  bridge: boolean;
  /** Bridges above this device, nearest first, up to and including the root port. Root buses are not devices. */
  upstream: Bdf[];
  /** SR-IOV: the physical function of a virtual function. */
  physfn: Bdf | null;
  /** SR-IOV: the virtual functions of a physical function, in VF order (the Linux reader always fills it). */
  virtfns?: Bdf[];
  /** VFIO device cdev name (vfio<N>, i.e. /dev/vfio/devices/vfio<N>) when bound to vfio-pci with cdev support. */
  vfioDevice?: string | null;
  /** True while some process holds the device's VFIO group or cdev open. */
  inUse: boolean;
}

/** A device the host could not read, or could not preserve, and why. Never silently dropped. */
export interface DeviceError {
  bdf: Bdf;
  reason: string;
  message: string;
}

export interface Inventory {
  devices: PciDevice[];
  errors: DeviceError[];
}

export type PreservationFlag = 'busmaster' | 'busmaster-bridge';

export interface PreservationEntry {
  bdf: Bdf;
  flags: PreservationFlag[];
  /** SR-IOV: set when the preserved endpoint is a virtual function. */
  physfn?: Bdf;
}

export interface PreservationPlan {
  preserve: PreservationEntry[];
  errors: DeviceError[];
  /** Advisory facts about the plan (e.g. VFs rejected by the newest mainline PCI series). */
  notes: string[];
}
