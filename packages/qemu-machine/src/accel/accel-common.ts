/**
 * accel/accel-common.c — TYPE_ACCEL ("accel"), the abstract accelerator every
 * `<name>-accel` type (here `kvm-accel`) derives from; `accel_find`; the accelerator's
 * per-CPU glue (TYPE_ACCEL_CPU, `<accel-type>-x86_64-cpu`, attached to every CPU class by
 * accel_init_interfaces) and the hooks CPU code calls at instance init and realize.
 *
 * An AccelClass names its accelerator for messages (`KVM`), brings `init_machine` (KVM:
 * kvm_init), and points `allowed` at the flag `kvm_enabled()` reads.
 */
import {
  type GlobalProperty,
  type ObjectClass,
  objectClassByName,
  objectClassDynamicCast,
  objectClassForeach,
  objectClassGetName,
  type QomObject,
  type QomPtr,
  qdevGetMachine,
  TYPE_OBJECT,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import type { MachineState } from "../hw/core/machine.js";
import { accelInitOpsInterfaces } from "./accel-system.js";

export const TYPE_ACCEL = "accel";
/** ACCEL_CLASS_SUFFIX: `kvm` is the class `kvm-accel`. */
export const ACCEL_CLASS_SUFFIX = "-accel";
/** `ACCEL_CLASS_NAME(name)`. */
export const accelClassName = (name: string): string => `${name}${ACCEL_CLASS_SUFFIX}`;
export const TYPE_ACCEL_CPU = "accel-cpu";
/** CPU_RESOLVING_TYPE of qemu-system-x86_64 (TYPE_X86_CPU). */
export const CPU_RESOLVING_TYPE = "x86_64-cpu";

/** `AccelState`: an accelerator instance (KVM: the KVMState). */
export type AccelState = QomObject;

/** `AccelClass` (include/qemu/accel.h). */
export interface AccelClass extends ObjectClass {
  /** Display name (`KVM`), used by "falling back to …". */
  name: string;
  /** Bring the accelerator up for this machine; <0 is -errno. */
  initMachine: ((accel: AccelState, ms: MachineState) => number) | undefined;
  /** Generic part of CPU realize; throws a QemuError to fail. */
  cpuCommonRealize: ((cpu: QomObject) => void) | undefined;
  cpuCommonUnrealize: ((cpu: QomObject) => void) | undefined;
  setupPost: ((accel: AccelState) => void) | undefined;
  preResumeVm: ((accel: AccelState, stepPending: boolean) => void) | undefined;
  gdbstubSupportedSstepFlags: ((accel: AccelState) => number) | undefined;
  /** The `<accel>_allowed` flag (kvm_allowed) that `<accel>_enabled()` reads. */
  allowed: QomPtr<boolean> | undefined;
  /** Registered as accelerator compat properties once init_machine succeeds. */
  compatProps: GlobalProperty[];
}

/** `AccelCPUClass` (include/hw/core/accel-cpu.h): an accelerator's per-CPU hooks. */
export interface AccelCPUClass extends ObjectClass {
  /** Run on every CPU class when the accelerator is chosen. */
  cpuClassInit: ((cc: ObjectClass) => void) | undefined;
  /** Run from the CPU's instance init (accel_cpu_instance_init). */
  cpuInstanceInit: ((cpu: QomObject) => void) | undefined;
  /** Target part of realize; throws a QemuError to fail. */
  cpuTargetRealize: ((cpu: QomObject) => void) | undefined;
}

/** The fields of a CPUClass this file reads and writes. */
export interface CPUClassAccelHooks extends ObjectClass {
  accelCpu?: AccelCPUClass;
  /** `cc->init_accel_cpu`: the CPU customizing the accel-cpu. */
  initAccelCpu?: (accelCpu: AccelCPUClass, cc: ObjectClass) => void;
}

/** `ACCEL_GET_CLASS`. */
export function accelGetClass(accel: AccelState): AccelClass {
  return accel.class as AccelClass;
}

/**
 * `accel_find(opt_name)`: the class of accelerator `opt_name` (class `<name>-accel`), or
 * null when this build has none.
 */
export function accelFind(optName: string): AccelClass | null {
  const oc = objectClassByName(accelClassName(optName));
  if (!oc) return null;
  return objectClassDynamicCast<AccelClass>(oc, TYPE_ACCEL);
}

/** `current_accel()`: the accelerator of the machine at /machine. */
export function currentAccel(): AccelState | null {
  return (qdevGetMachine() as MachineState).accelerator;
}

/** `current_accel_name()`: its display name (`KVM`). */
export function currentAccelName(): string {
  const accel = currentAccel();
  return accel ? accelGetClass(accel).name : "";
}

/**
 * `accel_init_cpu_interfaces`: if the accelerator has CPU glue for this target
 * (`kvm-accel-x86_64-cpu`), attach it to every (non-abstract) x86 CPU class, running its
 * cpu_class_init and the CPU class's init_accel_cpu.
 */
function accelInitCpuInterfaces(ac: AccelClass): void {
  const accName = `${objectClassGetName(ac)}-${CPU_RESOLVING_TYPE}`;
  const acc = objectClassByName(accName) as AccelCPUClass | null;
  if (!acc) return;
  objectClassForeach(
    (klass) => {
      const cc = klass as CPUClassAccelHooks;
      cc.accelCpu = acc;
      acc.cpuClassInit?.(cc);
      cc.initAccelCpu?.(acc, cc);
    },
    CPU_RESOLVING_TYPE,
    false,
  );
}

/**
 * `accel_init_interfaces(ac)`: the accelerator's vCPU-thread ops (`<accel>-ops`,
 * registered with the CPU code) and its per-CPU glue. Called by machine_run_board_init
 * before the board creates CPUs.
 */
export function accelInitInterfaces(ac: AccelClass): void {
  accelInitOpsInterfaces(ac);
  accelInitCpuInterfaces(ac);
}

/** `accel_cpu_instance_init`: the accelerator's hook for a new CPU object. */
export function accelCpuInstanceInit(cpu: QomObject): void {
  const cc = cpu.class as CPUClassAccelHooks;
  cc.accelCpu?.cpuInstanceInit?.(cpu);
}

/**
 * `accel_cpu_common_realize`: the accelerator's target realize hook, then its generic
 * one. Throws (QEMU's errp) to fail the CPU's realize.
 */
export function accelCpuCommonRealize(cpu: QomObject): void {
  const cc = cpu.class as CPUClassAccelHooks;
  cc.accelCpu?.cpuTargetRealize?.(cpu);
  const accel = currentAccel();
  if (accel) accelGetClass(accel).cpuCommonRealize?.(cpu);
}

/** `accel_cpu_common_unrealize`. */
export function accelCpuCommonUnrealize(cpu: QomObject): void {
  const accel = currentAccel();
  if (accel) accelGetClass(accel).cpuCommonUnrealize?.(cpu);
}

/** `accel_supported_gdbstub_sstep_flags`. */
export function accelSupportedGdbstubSstepFlags(): number {
  const accel = currentAccel();
  if (!accel) return 0;
  return accelGetClass(accel).gdbstubSupportedSstepFlags?.(accel) ?? 0;
}

function accelClassInitDefaults(klass: ObjectClass): void {
  const ac = klass as AccelClass;
  ac.name = "";
  ac.initMachine = undefined;
  ac.cpuCommonRealize = undefined;
  ac.cpuCommonUnrealize = undefined;
  ac.setupPost = undefined;
  ac.preResumeVm = undefined;
  ac.gdbstubSupportedSstepFlags = undefined;
  ac.allowed = undefined;
  ac.compatProps = [];
}

function accelRegisterTypes(): void {
  typeRegisterStatic<AccelClass, AccelState>({
    name: TYPE_ACCEL,
    parent: TYPE_OBJECT,
    abstract: true,
    classSize: 120,
    instanceSize: 48,
    classInit: accelClassInitDefaults,
  });
  typeRegisterStatic<AccelCPUClass, QomObject>({
    name: TYPE_ACCEL_CPU,
    parent: TYPE_OBJECT,
    abstract: true,
    classSize: 128,
  });
}

typeInit(accelRegisterTypes);
