/**
 * hw/i386/kvm/i8254.c: `kvm-pit`, QEMU's face of the PIT in the kernel (the full
 * in-kernel irqchip brings it: kvm_pit_in_kernel). Realize creates it with
 * KVM_CREATE_PIT2 (flags 0: the kernel also answers port 0x61) — "Create kernel PIC
 * irqchip failed" when it cannot; QEMU's state goes in with KVM_SET_PIT2 at reset
 * (`kvm_pit_put`) and comes back with KVM_GET_PIT2 (`kvm_pit_get`, which the PC speaker's
 * channel-2 queries use). Ports 0x40–0x43 are claimed with no handlers of QEMU's: the
 * guest's accesses stay in the kernel.
 *
 * Deviation: QEMU converts count_load_time between QEMU_CLOCK_VIRTUAL and the kernel's
 * CLOCK_MONOTONIC with a measured offset (kvm_pit_update_clock_offset); here both clocks
 * are the host's monotonic nanoseconds and the offset is 0.
 */
import {
  decodeKvmPitState2,
  encodeKvmPitConfig,
  encodeKvmPitState2,
  KVM_CAP_PIT2,
  KVM_CREATE_PIT2,
  KVM_GET_PIT2,
  KVM_PIT_FLAGS_HPET_LEGACY,
  KVM_PIT_STATE2_SIZE,
  KVM_SET_PIT2,
  strerror,
} from "@glassvm/kvm-kernel/uapi";
import {
  type DeviceClass,
  type DeviceState,
  objectPropertySetUint,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import {
  kvmCheckExtension,
  kvmIoctlFailed,
  kvmStateCurrent,
  kvmVmIoctl,
} from "../../../accel/kvm/kvm-all.js";
import { QemuError } from "../../../qapi/error.js";
import { memoryRegionDelSubregion, memoryRegionInitIo } from "../../../system/memory.js";
import { qemuRegisterReset, qemuUnregisterReset } from "../../../system/runstate.js";
import {
  type ISABus,
  isaByteIoOps,
  isaDeviceOwner,
  isaNew,
  isaRealizeAndUnref,
  isaRegisterIoport,
} from "../../isa/isa-bus.js";
import { type PITCommonState, pitResetCommon, TYPE_PIT_COMMON } from "../../timer/i8254.js";

export const TYPE_KVM_PIT = "kvm-pit";

/** `kvm_pit_get`: the kernel's channels into QEMU's copy. */
export function kvmPitGet(pit: PITCommonState): void {
  const kvm = kvmStateCurrent();
  if (!kvm) return;
  const buf = new Uint8Array(KVM_PIT_STATE2_SIZE);
  const r = kvmVmIoctl(kvm, KVM_GET_PIT2, buf);
  if (r < 0) kvmIoctlFailed("KVM_GET_PIT2", r);
  const k = decodeKvmPitState2(buf);
  pit.channels[0]!.irqDisabled = (k.flags & KVM_PIT_FLAGS_HPET_LEGACY) !== 0 ? 1 : 0;
  for (let i = 0; i < 3; i++) {
    const sc = pit.channels[i]!;
    const kc = k.channels[i]!;
    sc.count = kc.count;
    sc.latchedCount = kc.latchedCount;
    sc.countLatched = kc.countLatched;
    sc.statusLatched = kc.statusLatched;
    sc.status = kc.status;
    sc.readState = kc.readState;
    sc.writeState = kc.writeState;
    sc.writeLatch = kc.writeLatch;
    sc.rwMode = kc.rwMode;
    sc.mode = kc.mode;
    sc.bcd = kc.bcd;
    sc.gate = kc.gate;
    sc.countLoadTime = Number(kc.countLoadTime);
  }
}

/** `kvm_pit_put`: QEMU's copy into the kernel (KVM_SET_PIT2). */
export function kvmPitPut(pit: PITCommonState): void {
  const kvm = kvmStateCurrent();
  if (!kvm) return;
  const buf = encodeKvmPitState2({
    flags: pit.channels[0]!.irqDisabled ? KVM_PIT_FLAGS_HPET_LEGACY : 0,
    channels: pit.channels.map((sc) => ({
      count: sc.count,
      latchedCount: sc.latchedCount,
      countLatched: sc.countLatched,
      statusLatched: sc.statusLatched,
      status: sc.status,
      readState: sc.readState,
      writeState: sc.writeState,
      writeLatch: sc.writeLatch,
      rwMode: sc.rwMode,
      mode: sc.mode,
      bcd: sc.bcd,
      gate: sc.gate,
      countLoadTime: BigInt(Math.trunc(sc.countLoadTime)),
    })),
  });
  const r = kvmVmIoctl(kvm, KVM_SET_PIT2, buf);
  if (r < 0) kvmIoctlFailed("KVM_SET_PIT2", r);
}

/** `kvm_pit_reset`. */
function kvmPitReset(pit: PITCommonState): void {
  pitResetCommon(pit);
  kvmPitPut(pit);
}

const kvmPitResetHandler = (opaque: unknown) => kvmPitReset(opaque as PITCommonState);

/** `kvm_pit_realizefn`: KVM_CREATE_PIT2, then the (handler-less) port range. */
function kvmPitRealizefn(dev: DeviceState): void {
  const pit = dev as PITCommonState;
  const kvm = kvmStateCurrent();
  const r =
    kvm && kvmCheckExtension(kvm, KVM_CAP_PIT2) > 0
      ? kvmVmIoctl(kvm, KVM_CREATE_PIT2, encodeKvmPitConfig({ flags: 0 }))
      : -25; // ENOTTY: no KVM_CREATE_PIT in the kernel model either
  if (r < 0) {
    throw new QemuError("generic", `Create kernel PIC irqchip failed: ${strerror(r)}`, {
      operation: "kvm_pit_realizefn",
    });
  }
  pit.ioports = memoryRegionInitIo(
    isaDeviceOwner(pit),
    isaByteIoOps(
      4,
      () => 0xff,
      () => {},
    ),
    "kvm-pit",
    4,
  );
  isaRegisterIoport(pit, pit.ioports, pit.iobase);
  qemuRegisterReset(kvmPitResetHandler, pit);
}

function kvmPitUnrealizefn(dev: DeviceState): void {
  const pit = dev as PITCommonState;
  if (pit.ioports?.container) memoryRegionDelSubregion(pit.ioports.container, pit.ioports);
  qemuUnregisterReset(kvmPitResetHandler, pit);
}

/** `kvm_pit_init`: the kernel's PIT at `base`. */
export function kvmPitInit(bus: ISABus, base: number): PITCommonState {
  const d = isaNew<PITCommonState>(TYPE_KVM_PIT);
  objectPropertySetUint(d, "iobase", base);
  isaRealizeAndUnref(d, bus);
  return d;
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, PITCommonState>({
    name: TYPE_KVM_PIT,
    parent: TYPE_PIT_COMMON,
    classInit: (dc) => {
      dc.realize = kvmPitRealizefn;
      dc.unrealize = kvmPitUnrealizefn;
    },
  });
});
