/**
 * accel/accel-system.c — the system-emulation half of the accelerator core:
 * `accel_init_machine` (bring the chosen accelerator up for the machine),
 * `accel_setup_post`, `accel_pre_resume`, and TYPE_ACCEL_OPS ("accel-ops"): each
 * accelerator's vCPU-thread operations class `<accel-type>-ops` (`kvm-accel-ops`),
 * found and registered with the CPU code by accel_init_ops_interfaces.
 *
 * `cpus_register_accel` (system/cpus.c) is the slot those ops land in; it lives here,
 * with `cpusGetAccel` to read it, until the CPU code has a home of its own.
 */
import {
  type ObjectClass,
  objectClassByName,
  objectClassGetName,
  objectSetAcceleratorCompatProps,
  objectUnref,
  type QomObject,
  TYPE_OBJECT,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import type { MachineState } from "../hw/core/machine.js";
import { QemuExit } from "../qapi/error.js";
import { errorReport } from "../util/error-report.js";
import { type AccelClass, type AccelState, accelGetClass } from "./accel-common.js";

export const TYPE_ACCEL_OPS = "accel-ops";
/** ACCEL_OPS_SUFFIX: `kvm-accel` has its ops in `kvm-accel-ops`. */
export const ACCEL_OPS_SUFFIX = "-ops";

/**
 * `AccelOpsClass` (include/system/accel-ops.h): how an accelerator runs vCPUs. Only
 * `createVcpuThread` is mandatory; the rest are optional hooks, called with the CPU
 * object.
 */
export interface AccelOpsClass extends ObjectClass {
  opsInit?: (ops: AccelOpsClass) => void;
  cpuThreadIsIdle?: (cpu: QomObject) => boolean;
  cpusAreResettable?: () => boolean;
  cpuResetHold?: (cpu: QomObject) => void;
  /** Start the vCPU's thread (KVM: kvm_start_vcpu_thread). */
  createVcpuThread?: (cpu: QomObject) => void;
  kickVcpuThread?: (cpu: QomObject) => void;
  synchronizePostReset?: (cpu: QomObject) => void;
  synchronizePostInit?: (cpu: QomObject) => void;
  synchronizeState?: (cpu: QomObject) => void;
  synchronizePreLoadvm?: (cpu: QomObject) => void;
  synchronizePreResume?: (stepPending: boolean) => void;
  handleInterrupt?: (cpu: QomObject, mask: number) => void;
  getVirtualClock?: () => bigint;
  getElapsedTicks?: () => bigint;
}

let cpusAccel: AccelOpsClass | null = null;

/** `cpus_register_accel(ops)` (system/cpus.c): the vCPU-thread provider from now on. */
export function cpusRegisterAccel(ops: AccelOpsClass): void {
  if (!ops.createVcpuThread) {
    throw new Error("cpus_register_accel: ops->create_vcpu_thread != NULL");
  }
  cpusAccel = ops;
}

/** The registered vCPU-thread provider (`cpus_accel` in system/cpus.c), or null. */
export function cpusGetAccel(): AccelOpsClass | null {
  return cpusAccel;
}

/**
 * `accel_init_machine(accel, ms)`: make `accel` the machine's accelerator, set its
 * `allowed` flag and run its init_machine. On failure (<0) both are cleared and the
 * accelerator object dropped; on success its compat properties are registered.
 * Returns init_machine's result.
 */
export function accelInitMachine(accel: AccelState, ms: MachineState): number {
  const acc = accelGetClass(accel);
  ms.accelerator = accel;
  acc.allowed?.set(true);
  if (!acc.initMachine) throw new Error(`${objectClassGetName(acc)}: no init_machine`);
  const ret = acc.initMachine(accel, ms);
  if (ret < 0) {
    ms.accelerator = null;
    acc.allowed?.set(false);
    objectUnref(accel);
  } else {
    objectSetAcceleratorCompatProps(acc.compatProps);
  }
  return ret;
}

/** `accel_setup_post(ms)`: the accelerator's post-setup hook. */
export function accelSetupPost(ms: MachineState): void {
  const accel = ms.accelerator;
  if (accel) accelGetClass(accel).setupPost?.(accel);
}

/** `accel_pre_resume(ms, step_pending)`. */
export function accelPreResume(ms: MachineState, stepPending: boolean): void {
  const accel = ms.accelerator;
  if (accel) accelGetClass(accel).preResumeVm?.(accel, stepPending);
}

/**
 * `accel_init_ops_interfaces(ac)`: find `<accel-type>-ops`, run its ops_init and register
 * it as the vCPU-thread provider. A missing ops class is fatal, as in QEMU:
 * `fatal: could not load module for type 'kvm-accel-ops'`.
 */
export function accelInitOpsInterfaces(ac: AccelClass): void {
  const opsName = `${objectClassGetName(ac)}${ACCEL_OPS_SUFFIX}`;
  const oc = objectClassByName(opsName) as AccelOpsClass | null;
  if (!oc) {
    errorReport(`fatal: could not load module for type '${opsName}'`);
    throw new QemuExit(1);
  }
  oc.opsInit?.(oc);
  cpusRegisterAccel(oc);
}

function accelSystemRegisterTypes(): void {
  typeRegisterStatic<AccelOpsClass, QomObject>({
    name: TYPE_ACCEL_OPS,
    parent: TYPE_OBJECT,
    abstract: true,
    classSize: 160,
  });
}

typeInit(accelSystemRegisterTypes);
