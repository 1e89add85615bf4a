/**
 * The `kvm-accel` QOM type of accel/kvm/kvm-all.c (TYPE_KVM_ACCEL): the accelerator `-accel
 * kvm` and `-machine accel=kvm` create. Its class is named `KVM` (as in "falling back to
 * KVM"), its `allowed` flag is `kvm_allowed` (kvmEnabled()), and its instance carries the
 * user's accelerator properties until kvm_init reads them:
 *
 *   kernel-irqchip=on|off|split   in-kernel irqchip (default on, split decided by machine)
 *   kvm-shadow-mem=N              shadow MMU size (-1: KVM's default)
 *   device=/dev/kvm               the KVM device node
 *   thread=single|multi           glassvm: all vCPUs on one thread, or one worker each
 *
 * init_machine: kvm_init in kvm-all.ts takes the HostOs, the machine's address spaces and a
 * report function — things only qemu_init has — so the accelerator calls the function
 * installed with {@link setKvmInitMachine}. qemu_init installs an adapter over kvmInit
 * before configure_accelerators runs:
 *
 *   setKvmInitMachine((accel, ms) => {
 *     const r = kvmInit(hostOs, { smpCpus: ms.smp.cpus, maxCpus: ms.smp.maxCpus, memory, io },
 *                       report, accel.device ?? "/dev/kvm");
 *     if (typeof r === "number") return r;
 *     accel.state = r;
 *     accel.fd = r.fd;
 *     return 0;
 *   });
 */

import { ENOSYS } from "@glassvm/kvm-kernel/uapi";
import {
  fieldPtr,
  type InputVisitor,
  type ObjectClass,
  ON_OFF_AUTO_AUTO,
  ON_OFF_AUTO_OFF,
  ON_OFF_AUTO_ON,
  objectClassPropertyAdd,
  objectClassPropertyAddStr,
  objectClassPropertySetDescription,
  type QomObject,
  type QValue,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import type { MachineState } from "../../hw/core/machine.js";
import { QemuError } from "../../qapi/error.js";
import { errorReport } from "../../util/error-report.js";
import { type AccelClass, type AccelState, accelClassName, TYPE_ACCEL } from "../accel-common.js";

export const TYPE_KVM_ACCEL = accelClassName("kvm");

/** The instance of `kvm-accel` (QEMU's KVMState, the part the properties fill). */
export interface KVMAccelState extends AccelState {
  /** The /dev/kvm fd once kvm_init opened it; -1 before (properties are settable). */
  fd: number;
  kernelIrqchipAllowed: boolean;
  kernelIrqchipRequired: boolean;
  /** OnOffAuto: auto = the machine's default_kernel_irqchip_split. */
  kernelIrqchipSplit: number;
  /** Bytes of shadow MMU, -1 for KVM's default. */
  kvmShadowMem: bigint;
  /** The device node to open (null: /dev/kvm). */
  device: string | null;
  /** glassvm: vCPU threading, `single` (round-robin) or `multi` (a worker per vCPU). */
  thread: "single" | "multi";
  /** What kvm_init returned (kvm-all.ts's KVMState), set by the init_machine adapter. */
  state: unknown;
}

/** `kvm_allowed`: true once KVM was chosen (read through kvmEnabled()). */
const kvmAllowed = { value: false };

/** `kvm_enabled()`. */
export function kvmEnabled(): boolean {
  return kvmAllowed.value;
}

/** The init_machine KVM uses (see the file comment). */
export type KvmInitMachine = (accel: KVMAccelState, ms: MachineState) => number;

let kvmInitMachine: KvmInitMachine | null = null;

/**
 * Install the function `kvm-accel`'s init_machine runs (an adapter over kvm-all's
 * kvmInit). Returns the previous one.
 */
export function setKvmInitMachine(fn: KvmInitMachine | null): KvmInitMachine | null {
  const old = kvmInitMachine;
  kvmInitMachine = fn;
  return old;
}

function kvmAccelInitMachine(accel: AccelState, ms: MachineState): number {
  if (!kvmInitMachine) {
    errorReport("kvm: init_machine is not wired (qemu_init calls setKvmInitMachine first)");
    return -ENOSYS;
  }
  return kvmInitMachine(accel as KVMAccelState, ms);
}

function notAfterInit(s: KVMAccelState): void {
  if (s.fd !== -1) {
    throw new QemuError(
      "accel",
      "Cannot set properties after the accelerator has been initialized",
      { operation: "kvm-accel property" },
    );
  }
}

const ON_OFF_SPLIT = ["on", "off", "split"] as const;

/** `kvm_set_kernel_irqchip`: on / off / split. */
function kvmSetKernelIrqchip(obj: QomObject, v: InputVisitor, name: string): void {
  const s = obj as KVMAccelState;
  notAfterInit(s);
  const mode = ON_OFF_SPLIT[v.typeEnum(name, ON_OFF_SPLIT)];
  s.kernelIrqchipAllowed = mode !== "off";
  s.kernelIrqchipRequired = mode !== "off";
  s.kernelIrqchipSplit = mode === "split" ? ON_OFF_AUTO_ON : ON_OFF_AUTO_OFF;
}

function kvmGetKvmShadowMem(obj: QomObject): QValue {
  return (obj as KVMAccelState).kvmShadowMem;
}

function kvmSetKvmShadowMem(obj: QomObject, v: InputVisitor, name: string): void {
  const s = obj as KVMAccelState;
  notAfterInit(s);
  s.kvmShadowMem = v.typeInt64(name);
}

function kvmAccelInstanceInit(obj: QomObject): void {
  const s = obj as KVMAccelState;
  s.fd = -1;
  s.kvmShadowMem = -1n;
  s.kernelIrqchipAllowed = true;
  s.kernelIrqchipRequired = false;
  s.kernelIrqchipSplit = ON_OFF_AUTO_AUTO;
  s.device = null;
  s.thread = "single";
  s.state = null;
}

function kvmAccelClassInit(klass: ObjectClass): void {
  const ac = klass as AccelClass;
  ac.name = "KVM";
  ac.initMachine = kvmAccelInitMachine;
  ac.allowed = fieldPtr(kvmAllowed, "value");
  ac.compatProps = [];

  objectClassPropertyAdd(klass, "kernel-irqchip", "on|off|split", undefined, kvmSetKernelIrqchip);
  objectClassPropertySetDescription(klass, "kernel-irqchip", "Configure KVM in-kernel irqchip");
  objectClassPropertyAdd(klass, "kvm-shadow-mem", "int", kvmGetKvmShadowMem, kvmSetKvmShadowMem);
  objectClassPropertySetDescription(klass, "kvm-shadow-mem", "KVM shadow MMU size");
  objectClassPropertyAddStr<KVMAccelState>(
    klass,
    "device",
    (s) => s.device ?? "",
    (s, value) => {
      notAfterInit(s);
      s.device = value;
    },
  );
  objectClassPropertySetDescription(
    klass,
    "device",
    "Path to the device node to use (default: /dev/kvm)",
  );
  objectClassPropertyAddStr<KVMAccelState>(
    klass,
    "thread",
    (s) => s.thread,
    (s, value) => {
      notAfterInit(s);
      if (value !== "single" && value !== "multi") {
        throw new QemuError("accel", `Invalid 'thread' setting ${value}`, {
          operation: "kvm-accel thread",
        });
      }
      s.thread = value;
    },
  );
  objectClassPropertySetDescription(
    klass,
    "thread",
    "Run vCPUs on one thread (single) or one worker each (multi); glassvm",
  );
}

function kvmAccelRegisterTypes(): void {
  typeRegisterStatic<AccelClass, KVMAccelState>({
    name: TYPE_KVM_ACCEL,
    parent: TYPE_ACCEL,
    instanceSize: 4096,
    instanceInit: kvmAccelInstanceInit,
    classInit: kvmAccelClassInit,
  });
}

typeInit(kvmAccelRegisterTypes);

/** Forget that KVM was chosen (a fresh process; tests). */
export function kvmAllowedReset(): void {
  kvmAllowed.value = false;
}
