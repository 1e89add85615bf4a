/**
 * hw/i386/x86.c (+ the CPU-slot helpers of x86-common.c) — TYPE_X86_MACHINE
 * ("x86-machine"), the abstract base of the PC machines: the x86 machine state (RAM split
 * around 4 GiB, APIC ID limit, SMM/ACPI/PIT/PIC switches) and the table of possible CPUs,
 * one slot per `-smp maxcpus`, each with its APIC ID and socket/die/module/core/thread
 * ids computed by hw/i386/topology.ts.
 *
 *   -smp 4,sockets=2  → slots 0..3, APIC IDs 0, 1, 2, 3 (socket 0 cores 0-1, socket 1 …)
 *   -smp 6,sockets=2,cores=3 → APIC IDs 0, 1, 2, 4, 5, 6 (two bits for the core id)
 */
import {
  type ObjectClass,
  ON_OFF_AUTO_AUTO,
  ON_OFF_AUTO_LOOKUP,
  objectClassPropertyAdd,
  objectClassPropertyAddEnum,
  objectClassPropertyAddStr,
  objectClassPropertySetDescription,
  type QomObject,
  type QValue,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import { QemuError } from "../../qapi/error.js";
import {
  type CPUArchId,
  type CPUArchIdList,
  type CpuInstanceProperties,
  type MachineClass,
  type MachineState,
  machineGetClass,
  TYPE_MACHINE,
} from "../core/machine.js";
import type { QemuIrq } from "../irq.js";
import {
  type X86CPUTopoInfo,
  x86ApicidFromCpuIdx,
  x86TopoIdsFromApicid,
  x86TopoInfoFromSmp,
} from "./topology.js";

export const TYPE_X86_MACHINE = "x86-machine";

/** Property names (X86_MACHINE_*). */
export const X86_MACHINE_SMM = "smm";
export const X86_MACHINE_ACPI = "acpi";
export const X86_MACHINE_PIT = "pit";
export const X86_MACHINE_PIC = "pic";
export const X86_MACHINE_OEM_ID = "x-oem-id";
export const X86_MACHINE_OEM_TABLE_ID = "x-oem-table-id";
export const X86_MACHINE_BUS_LOCK_RATELIMIT = "bus-lock-ratelimit";

/** ACPI_BUILD_APPNAME6 / ACPI_BUILD_APPNAME8: the default ACPI OEM ids. */
const ACPI_BUILD_APPNAME6 = "BOCHS ";
const ACPI_BUILD_APPNAME8 = "BXPC    ";
/** ACPI_BUILD_PCI_IRQS: IRQs 5, 9, 10, 11 usable by PCI. */
const ACPI_BUILD_PCI_IRQS = (1 << 5) | (1 << 9) | (1 << 10) | (1 << 11);
const GiB = 1024 * 1024 * 1024;

/** `X86MachineClass`. */
export interface X86MachineClass extends MachineClass {
  /** Migrate the TSC frequency. */
  saveTscKhz: boolean;
  /** fw_cfg DMA interface enabled. */
  fwcfgDmaEnabled: boolean;
  /** MADT interrupt source override for IRQ0. */
  apicXruptOverride: boolean;
}

/** `X86MachineState`. */
export interface X86MachineState extends MachineState {
  /** GSI lines (ISA IRQs 0-15 then IOAPIC pins), wired by the board. */
  gsi: QemuIrq[] | null;
  /** `/machine/fw_cfg`. */
  fwCfg: QomObject | null;
  /** The ISA RTC (mc146818rtc). */
  rtc: QomObject | null;
  /** The ACPI device that is also a hotplug handler (PIIX4_PM). */
  acpiDev: QomObject | null;
  /** RAM below and above the 4 GiB hole (pc_init1 computes the split). */
  below4gMemSize: number;
  above4gMemSize: number;
  /** Where RAM above 4G starts (4 GiB). */
  above4gMemStart: number;
  /** One more than the largest APIC ID in use (x86_cpus_init). */
  apicIdLimit: number;
  /** CPUs plugged so far (fw_cfg reports it). */
  bootCpus: number;
  /** OnOffAuto (ON_OFF_AUTO_*). */
  smm: number;
  acpi: number;
  pit: number;
  pic: number;
  pciIrqMask: number;
  oemId: string;
  oemTableId: string;
  busLockRatelimit: bigint;
}

/** `X86_MACHINE_GET_CLASS`. */
export function x86MachineGetClass(ms: QomObject): X86MachineClass {
  return ms.class as X86MachineClass;
}

/** `init_topo_info`: the machine's -smp as topology info for APIC ID math. */
export function initTopoInfo(x86ms: MachineState): X86CPUTopoInfo {
  return x86TopoInfoFromSmp(x86ms.smp);
}

/** `x86_cpu_apic_id_from_index`: the APIC ID of the CPU with this contiguous index. */
export function x86CpuApicIdFromIndex(x86ms: MachineState, cpuIndex: number): number {
  return x86ApicidFromCpuIdx(initTopoInfo(x86ms), cpuIndex);
}

/**
 * `x86_possible_cpu_arch_ids`: the slot table, built once per machine (`maxcpus` slots):
 * arch_id = APIC ID of the index, type = the machine's CPU type, one vCPU each, and the
 * socket/core/thread ids (die and module ids only when there are several).
 */
export function x86PossibleCpuArchIds(ms: MachineState): CPUArchIdList {
  const maxCpus = ms.smp.maxCpus;
  if (ms.possibleCpus) {
    if (ms.possibleCpus.len !== maxCpus) {
      throw new Error("x86_possible_cpu_arch_ids: possible_cpus->len == max_cpus");
    }
    return ms.possibleCpus;
  }
  const topoInfo = initTopoInfo(ms);
  const cpus: CPUArchId[] = [];
  for (let i = 0; i < maxCpus; i++) {
    const archId = x86ApicidFromCpuIdx(topoInfo, i);
    const ids = x86TopoIdsFromApicid(archId, topoInfo);
    const props: CpuInstanceProperties = { socketId: ids.pkgId };
    if (ms.smp.dies > 1) props.dieId = ids.dieId;
    if (ms.smp.modules > 1) props.moduleId = ids.moduleId;
    props.coreId = ids.coreId;
    props.threadId = ids.smtId;
    cpus.push({ archId, vcpusCount: 1, props, cpu: null, type: ms.cpuType ?? "" });
  }
  ms.possibleCpus = { len: maxCpus, cpus };
  return ms.possibleCpus;
}

/** `x86_cpu_index_to_props`: the topology properties of slot `cpuIndex`. */
export function x86CpuIndexToProps(ms: MachineState, cpuIndex: number): CpuInstanceProperties {
  const mc = machineGetClass(ms);
  const possible = mc.possibleCpuArchIds!(ms);
  if (cpuIndex >= possible.len) {
    throw new Error("x86_cpu_index_to_props: cpu_index < possible_cpus->len");
  }
  return possible.cpus[cpuIndex]!.props;
}

/**
 * `x86_get_default_cpu_node_id`: NUMA node of slot `idx` when the user gave none — its
 * socket modulo the node count (NUMA is not modelled: one node unless told otherwise).
 */
export function x86GetDefaultCpuNodeId(ms: MachineState, idx: number, numNodes = 1): number {
  const possible = ms.possibleCpus;
  if (!possible || idx >= possible.len) {
    throw new Error("x86_get_default_cpu_node_id: idx < possible_cpus->len");
  }
  const ids = x86TopoIdsFromApicid(possible.cpus[idx]!.archId, initTopoInfo(ms));
  return ids.pkgId % numNodes;
}

/**
 * `x86_find_cpu_slot`: the slot whose APIC ID is `apicId` (slots are sorted by APIC ID)
 * and its index, or null.
 */
export function x86FindCpuSlot(
  ms: MachineState,
  apicId: number,
): { slot: CPUArchId; index: number } | null {
  const cpus = ms.possibleCpus?.cpus ?? [];
  let lo = 0;
  let hi = cpus.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const id = cpus[mid]!.archId;
    if (id === apicId) return { slot: cpus[mid]!, index: mid };
    if (id < apicId) lo = mid + 1;
    else hi = mid - 1;
  }
  return null;
}

/** `x86_kvm_type`: no x86 machine selects a KVM VM type (0, the default VM). */
function x86KvmType(_ms: MachineState, vmType: string | null): number {
  if (vmType !== null) throw new Error("x86_kvm_type: vm_type == NULL");
  return 0;
}

function onOffAutoProp(klass: ObjectClass, name: string, field: "smm" | "acpi" | "pit" | "pic") {
  objectClassPropertyAddEnum<X86MachineState>(
    klass,
    name,
    "OnOffAuto",
    ON_OFF_AUTO_LOOKUP,
    (ms) => ms[field],
    (ms, v) => {
      ms[field] = v;
    },
  );
}

function x86MachineClassInit(klass: ObjectClass): void {
  const mc = klass as X86MachineClass;
  mc.cpuIndexToInstanceProps = x86CpuIndexToProps;
  mc.getDefaultCpuNodeId = (ms, idx) => x86GetDefaultCpuNodeId(ms, idx);
  mc.possibleCpuArchIds = x86PossibleCpuArchIds;
  mc.kvmType = x86KvmType;
  mc.saveTscKhz = true;
  mc.fwcfgDmaEnabled = true;
  mc.apicXruptOverride = false;

  onOffAutoProp(klass, X86_MACHINE_SMM, "smm");
  objectClassPropertySetDescription(klass, X86_MACHINE_SMM, "Enable SMM");
  onOffAutoProp(klass, X86_MACHINE_ACPI, "acpi");
  objectClassPropertySetDescription(klass, X86_MACHINE_ACPI, "Enable ACPI");
  onOffAutoProp(klass, X86_MACHINE_PIT, "pit");
  objectClassPropertySetDescription(klass, X86_MACHINE_PIT, "Enable i8254 PIT");
  onOffAutoProp(klass, X86_MACHINE_PIC, "pic");
  objectClassPropertySetDescription(klass, X86_MACHINE_PIC, "Enable i8259 PIC");

  objectClassPropertyAddStr<X86MachineState>(
    klass,
    X86_MACHINE_OEM_ID,
    (ms) => ms.oemId,
    (ms, value) => {
      if (value.length > 6) {
        throw oemError(`User specified ${X86_MACHINE_OEM_ID} value is bigger than 6 bytes in size`);
      }
      ms.oemId = value;
    },
  );
  objectClassPropertySetDescription(
    klass,
    X86_MACHINE_OEM_ID,
    "Override the default value of field OEMID in ACPI table header.The string may be up to 6 bytes in size",
  );
  objectClassPropertyAddStr<X86MachineState>(
    klass,
    X86_MACHINE_OEM_TABLE_ID,
    (ms) => ms.oemTableId,
    (ms, value) => {
      if (value.length > 8) {
        throw oemError(
          `User specified ${X86_MACHINE_OEM_TABLE_ID} value is bigger than 8 bytes in size`,
        );
      }
      ms.oemTableId = value;
    },
  );
  objectClassPropertySetDescription(
    klass,
    X86_MACHINE_OEM_TABLE_ID,
    "Override the default value of field OEM Table ID in ACPI table header.The string may be up to 8 bytes in size",
  );
  objectClassPropertyAdd(
    klass,
    X86_MACHINE_BUS_LOCK_RATELIMIT,
    "uint64_t",
    (obj): QValue => (obj as X86MachineState).busLockRatelimit,
    (obj, v, name) => {
      (obj as X86MachineState).busLockRatelimit = v.typeUint64(name);
    },
  );
  objectClassPropertySetDescription(
    klass,
    X86_MACHINE_BUS_LOCK_RATELIMIT,
    "Set the ratelimit for the bus locks acquired in VMs",
  );
}

function oemError(message: string): QemuError {
  return new QemuError("invalid-parameter-value", message, { operation: "x86_machine_set_oem_id" });
}

/** `x86_machine_initfn`. */
function x86MachineInitfn(obj: QomObject): void {
  const x86ms = obj as X86MachineState;
  x86ms.gsi = null;
  x86ms.fwCfg = null;
  x86ms.rtc = null;
  x86ms.acpiDev = null;
  x86ms.below4gMemSize = 0;
  x86ms.above4gMemSize = 0;
  x86ms.apicIdLimit = 0;
  x86ms.bootCpus = 0;
  x86ms.smm = ON_OFF_AUTO_AUTO;
  x86ms.acpi = ON_OFF_AUTO_AUTO;
  x86ms.pit = ON_OFF_AUTO_AUTO;
  x86ms.pic = ON_OFF_AUTO_AUTO;
  x86ms.pciIrqMask = ACPI_BUILD_PCI_IRQS;
  x86ms.oemId = ACPI_BUILD_APPNAME6;
  x86ms.oemTableId = ACPI_BUILD_APPNAME8;
  x86ms.busLockRatelimit = 0n;
  x86ms.above4gMemStart = 4 * GiB;
}

function x86MachineRegisterTypes(): void {
  typeRegisterStatic<X86MachineClass, X86MachineState>({
    name: TYPE_X86_MACHINE,
    parent: TYPE_MACHINE,
    abstract: true,
    instanceSize: 800,
    instanceInit: x86MachineInitfn,
    classSize: 440,
    classInit: x86MachineClassInit,
  });
}

typeInit(x86MachineRegisterTypes);
