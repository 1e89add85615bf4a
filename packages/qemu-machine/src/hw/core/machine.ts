/**
 * hw/core/machine.c — TYPE_MACHINE ("machine"), the abstract root of every board: the
 * MachineClass a board fills in (limits, defaults, its init), the MachineState every
 * board instance starts from (RAM size, CPU topology, kernel/initrd/append/firmware),
 * the machine's QOM properties through which `-machine`, `-smp` and `-m` reach it, and
 * `machine_run_board_init`, the last step before the board's own init.
 *
 * Machine type names end in `-machine`; the class's `name` (what `-machine` accepts) is
 * derived from it by class_base_init, so `pc-i440fx-10.2-machine` is `pc-i440fx-10.2`.
 *
 * Property errors carry QEMU's texts, e.g. for `-m 1G,maxmem=512M`:
 *   invalid value of maxmem: maximum memory size (0x20000000) must be at least the
 *   initial memory size (0x40000000)
 */
import {
  type GlobalProperty,
  type InputVisitor,
  type MachineHotplugClass,
  OBJ_PROP_LINK_STRONG,
  type ObjectClass,
  objectClassByName,
  objectClassDynamicCast,
  objectClassIsAbstract,
  objectClassPropertyAdd,
  objectClassPropertyAddBool,
  objectClassPropertyAddLink,
  objectClassPropertyAddStr,
  objectClassPropertySetDescription,
  objectGetCanonicalPathComponent,
  objectGetObjectsRoot,
  objectGetTypename,
  objectNew,
  objectPropertyAddChild,
  objectPropertyAllowSetLink,
  objectPropertyFind,
  objectPropertyGetUint,
  objectPropertySetBool,
  objectPropertySetLink,
  objectPropertySetStr,
  objectPropertySetUint,
  objectUnref,
  PHASE_MACHINE_INITIALIZED,
  phaseAdvance,
  type QomObject,
  type QValue,
  TYPE_MACHINE,
  TYPE_OBJECT,
  TYPE_USER_CREATABLE,
  typeInit,
  typeRegisterStatic,
  type UserCreatableClass,
} from "@glassvm/qom";
import { type AccelState, accelGetClass, accelInitInterfaces } from "../../accel/accel-common.js";
import { QemuError, QemuExit } from "../../qapi/error.js";
import type { MemoryRegion } from "../../system/memory.js";
import { errorReport, warnReport } from "../../util/error-report.js";
import { visitStartStruct } from "../../util/keyval.js";
import { machineParseSmpConfig } from "./machine-smp.js";

export { TYPE_MACHINE };
/** Every machine type name ends with this (TYPE_MACHINE_SUFFIX). */
export const TYPE_MACHINE_SUFFIX = "-machine";
/** `MACHINE_TYPE_NAME(name)`. */
export const machineTypeName = (name: string): string => `${name}${TYPE_MACHINE_SUFFIX}`;
/** TYPE_MEMORY_BACKEND: what `memory-backend` links to. */
export const TYPE_MEMORY_BACKEND = "memory-backend";

const MiB = 1024 * 1024;

/** `SMPCompatProps`: which topology levels a machine supports. */
export interface SMPCompatProps {
  /** Machine types ≤ 6.1: compute sockets before cores. */
  preferSockets: boolean;
  diesSupported: boolean;
  clustersSupported: boolean;
  /** Set when -smp gave clusters (used by some targets' CPU topology). */
  hasClusters: boolean;
  booksSupported: boolean;
  drawersSupported: boolean;
  modulesSupported: boolean;
}

/** `CpuTopology` (MachineState.smp). */
export interface CpuTopology {
  cpus: number;
  drawers: number;
  books: number;
  sockets: number;
  dies: number;
  clusters: number;
  modules: number;
  cores: number;
  threads: number;
  maxCpus: number;
}

/** `SMPConfiguration` (qapi/machine.json): what -smp gave; QAPI `int`, so int64. */
export interface SMPConfiguration {
  cpus?: number | bigint;
  drawers?: number | bigint;
  books?: number | bigint;
  sockets?: number | bigint;
  dies?: number | bigint;
  clusters?: number | bigint;
  modules?: number | bigint;
  cores?: number | bigint;
  threads?: number | bigint;
  maxcpus?: number | bigint;
}

/** The members of SMPConfiguration in QAPI order (the order they are visited). */
export const SMP_CONFIGURATION_MEMBERS = [
  "cpus",
  "drawers",
  "books",
  "sockets",
  "dies",
  "clusters",
  "modules",
  "cores",
  "threads",
  "maxcpus",
] as const;

/** `BootConfiguration` (qapi/machine.json), the `boot` property. */
export interface BootConfiguration {
  order?: string;
  once?: string;
  menu?: boolean;
  splash?: string;
  splashTime?: bigint;
  rebootTimeout?: bigint;
  strict?: boolean;
}

/** `CpuInstanceProperties`: where a CPU slot sits in the topology. */
export interface CpuInstanceProperties {
  nodeId?: number;
  drawerId?: number;
  bookId?: number;
  socketId?: number;
  dieId?: number;
  clusterId?: number;
  moduleId?: number;
  coreId?: number;
  threadId?: number;
}

/** `CPUArchId`: one possible CPU (x86: its APIC ID as arch_id). */
export interface CPUArchId {
  archId: number;
  vcpusCount: number;
  props: CpuInstanceProperties;
  /** The CPU object plugged in this slot, if any. */
  cpu: QomObject | null;
  type: string;
}

/** `CPUArchIdList`. */
export interface CPUArchIdList {
  len: number;
  cpus: CPUArchId[];
}

/** `MachineClass` (include/hw/boards.h): what a board type declares. */
export interface MachineClass extends MachineHotplugClass {
  /** `-machine` name: the type name without `-machine` (set by class_base_init). */
  name: string;
  family: string | undefined;
  alias: string | undefined;
  desc: string | undefined;
  deprecationReason: string | undefined;
  /** The board init (pc: pc_i440fx_init → pc_init1). */
  init: ((ms: MachineState) => void) | undefined;
  reset: ((ms: MachineState, type: string) => void) | undefined;
  wakeup: ((ms: MachineState) => void) | undefined;
  kvmType: ((ms: MachineState, arg: string | null) => number) | undefined;
  maxCpus: number;
  minCpus: number;
  defaultCpus: number;
  noSerial: boolean;
  noParallel: boolean;
  noFloppy: boolean;
  noCdrom: boolean;
  noSdcard: boolean;
  isDefault: boolean;
  defaultMachineOpts: string | undefined;
  defaultBootOrder: string | undefined;
  defaultDisplay: string | undefined;
  defaultNic: string | undefined;
  /** `block_default_type` (BlockInterfaceType name). */
  blockDefaultType: string;
  compatProps: GlobalProperty[];
  hwVersion: string | undefined;
  /** RAM when `-m` is absent (128 MiB from `machine`). */
  defaultRamSize: number;
  /** CPU type when `-cpu` is absent (pc: `qemu64-x86_64-cpu`). */
  defaultCpuType: string | undefined;
  defaultKernelIrqchipSplit: boolean;
  hasHotpluggableCpus: boolean;
  ignoreMemoryTransactionFailures: boolean;
  numaMemAlignShift: number;
  /** CPU types `-cpu` may name (NULL-terminated list in C; unset for pc). */
  validCpuTypes: readonly string[] | undefined;
  nvdimmSupported: boolean;
  numaMemSupported: boolean;
  autoEnableNumaWithMemhp: boolean;
  autoEnableNumaWithMemdev: boolean;
  romFileHasMr: boolean;
  smpProps: SMPCompatProps;
  /** Id of the RAM backend created when none is given (pc: `pc.ram`). */
  defaultRamId: string | undefined;
  minimumPageBits: number;
  possibleCpuArchIds: ((ms: MachineState) => CPUArchIdList) | undefined;
  cpuIndexToInstanceProps:
    | ((ms: MachineState, cpuIndex: number) => CpuInstanceProperties)
    | undefined;
  getDefaultCpuNodeId: ((ms: MachineState, idx: number) => number) | undefined;
  fixupRamSize: ((size: bigint) => bigint) | undefined;
}

/** `MachineState`: the machine instance (`/machine`). */
export interface MachineState extends QomObject {
  dtb: string | null;
  dumpdtb: string | null;
  kernelFilename: string | null;
  /** `-append`; `""` by default. */
  kernelCmdline: string;
  initrdFilename: string | null;
  firmware: string | null;
  /** Filled by qemu_init from `-cpu` or the class default. */
  cpuType: string | null;
  /** Guest RAM in bytes (multiple of 8 KiB). */
  ramSize: number;
  maxramSize: number;
  ramSlots: number;
  bootConfig: BootConfiguration;
  smp: CpuTopology;
  possibleCpus: CPUArchIdList | null;
  /** The RAM region boards map (from the memory backend). */
  ram: MemoryRegion | null;
  /** The memory backend (`memory-backend` link). */
  memdev: QomObject | null;
  /** `-machine memory-backend=id`, resolved by qemu_init into `memdev`. */
  ramMemdevId: string | null;
  accelerator: AccelState | null;
  enableGraphics: boolean;
  usb: boolean;
  usbDisabled: boolean;
  dumpGuestCore: boolean;
  memMerge: boolean;
  suppressVmdesc: boolean;
}

/** The part of a memory backend (backends/hostmem.c) the machine uses. */
export interface HostMemoryBackend extends QomObject {
  /** `host_memory_backend_get_memory`. */
  mr: MemoryRegion | null;
  /** `host_memory_backend_is_mapped`. */
  isMapped: boolean;
}

/** `MACHINE_GET_CLASS`. */
export function machineGetClass(ms: QomObject): MachineClass {
  return ms.class as MachineClass;
}

// Properties -------------------------------------------------------------------

function machineAddStrProp(
  klass: ObjectClass,
  name: string,
  field: "kernelFilename" | "initrdFilename" | "dtb" | "dumpdtb" | "firmware",
  desc: string,
): void {
  objectClassPropertyAddStr<MachineState>(
    klass,
    name,
    (ms) => ms[field] ?? "",
    (ms, value) => {
      ms[field] = value;
    },
  );
  objectClassPropertySetDescription(klass, name, desc);
}

function machineAddBoolProp(
  klass: ObjectClass,
  name: string,
  field: "dumpGuestCore" | "memMerge" | "usb" | "enableGraphics" | "suppressVmdesc",
  desc: string,
  onSet?: (ms: MachineState) => void,
): void {
  objectClassPropertyAddBool<MachineState>(
    klass,
    name,
    (ms) => ms[field],
    (ms, value) => {
      ms[field] = value;
      onSet?.(ms);
    },
  );
  objectClassPropertySetDescription(klass, name, desc);
}

/** `machine_get_smp`: every member present. */
function machineGetSmp(obj: QomObject): QValue {
  const s = (obj as MachineState).smp;
  return {
    cpus: s.cpus,
    drawers: s.drawers,
    books: s.books,
    sockets: s.sockets,
    dies: s.dies,
    clusters: s.clusters,
    modules: s.modules,
    cores: s.cores,
    threads: s.threads,
    maxcpus: s.maxCpus,
  };
}

/** `machine_set_smp`: visit an SMPConfiguration, then machine_parse_smp_config. */
function machineSetSmp(obj: QomObject, v: InputVisitor, name: string): void {
  const st = visitStartStruct(v, name);
  const config: SMPConfiguration = {};
  for (const m of SMP_CONFIGURATION_MEMBERS) {
    if (st.has(m)) config[m] = st.member(m).typeInt64(m);
  }
  st.check();
  machineParseSmpConfig(obj as MachineState, config);
}

/** `machine_get_mem`. */
function machineGetMem(obj: QomObject): QValue {
  const ms = obj as MachineState;
  const mem: Record<string, QValue> = { size: ms.ramSize };
  if (ms.ramSlots) {
    mem["max-size"] = ms.maxramSize;
    mem.slots = ms.ramSlots;
  }
  return mem;
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;
const UINT64_MASK = (1n << 64n) - 1n;

/**
 * `machine_set_mem`: size (default: the class's), aligned up to 8 KiB; `max-size` at
 * least size; `slots` only with a larger `max-size`.
 */
function machineSetMem(obj: QomObject, v: InputVisitor, name: string): void {
  const ms = obj as MachineState;
  const mc = machineGetClass(ms);
  const st = visitStartStruct(v, name);
  let size = st.has("size") ? st.member("size").typeSize("size") : BigInt(mc.defaultRamSize);
  const maxSize = st.has("max-size") ? st.member("max-size").typeSize("max-size") : undefined;
  const slots = st.has("slots") ? st.member("slots").typeUint64("slots") : undefined;
  st.check();

  // QEMU_ALIGN_UP in uint64 arithmetic (a size within 8 KiB of 2^64 wraps to 0).
  size = (size + 8191n) & ~8191n & UINT64_MASK;
  if (mc.fixupRamSize) size = mc.fixupRamSize(size);
  const fail = (message: string) =>
    new QemuError("machine", message, { operation: "machine_set_mem" });
  // ram_addr_t is 64 bits wide on the hosts glassvm models: "ram size too large" cannot
  // happen for a uint64 size, as in QEMU on 64-bit hosts.
  if (maxSize !== undefined) {
    if (maxSize < size) {
      throw fail(
        "invalid value of maxmem: maximum memory size " +
          `(${hex(maxSize)}) must be at least the initial memory size (${hex(size)})`,
      );
    }
    if (slots !== undefined && slots !== 0n && maxSize === size) {
      throw fail(
        "invalid value of maxmem: memory slots were specified but maximum memory size " +
          `(${hex(maxSize)}) is equal to the initial memory size (${hex(size)})`,
      );
    }
    ms.maxramSize = Number(maxSize);
  } else {
    if (slots !== undefined) throw fail("slots specified but no max-size");
    ms.maxramSize = Number(size);
  }
  ms.ramSize = Number(size);
  ms.ramSlots = slots !== undefined ? Number(slots) : 0;
}

const BOOT_MEMBERS = [
  ["order", "str"],
  ["once", "str"],
  ["menu", "bool"],
  ["splash", "str"],
  ["splash-time", "int"],
  ["reboot-timeout", "int"],
  ["strict", "bool"],
] as const;

/** `machine_get_boot`. */
function machineGetBoot(obj: QomObject): QValue {
  const b = (obj as MachineState).bootConfig;
  const out: Record<string, QValue> = {};
  if (b.order !== undefined) out.order = b.order;
  if (b.once !== undefined) out.once = b.once;
  if (b.menu !== undefined) out.menu = b.menu;
  if (b.splash !== undefined) out.splash = b.splash;
  if (b.splashTime !== undefined) out["splash-time"] = b.splashTime;
  if (b.rebootTimeout !== undefined) out["reboot-timeout"] = b.rebootTimeout;
  if (b.strict !== undefined) out.strict = b.strict;
  return out;
}

/** `machine_set_boot` (boot-device validation is the board's and not modelled). */
function machineSetBoot(obj: QomObject, v: InputVisitor, name: string): void {
  const st = visitStartStruct(v, name);
  const config: BootConfiguration = {};
  for (const [m, type] of BOOT_MEMBERS) {
    if (!st.has(m)) continue;
    const mv = st.member(m);
    if (type === "str") {
      const s = mv.typeStr(m);
      if (m === "order") config.order = s;
      else if (m === "once") config.once = s;
      else config.splash = s;
    } else if (type === "bool") {
      const b = mv.typeBool(m);
      if (m === "menu") config.menu = b;
      else config.strict = b;
    } else {
      const n = mv.typeInt64(m);
      if (m === "splash-time") config.splashTime = n;
      else config.rebootTimeout = n;
    }
  }
  st.check();
  machineCopyBootConfig(obj as MachineState, config);
}

/** `machine_copy_boot_config`: a missing `order` is the class's default boot order. */
function machineCopyBootConfig(ms: MachineState, config: BootConfiguration): void {
  ms.bootConfig = { ...config };
  if (config.order === undefined) {
    const order = machineGetClass(ms).defaultBootOrder;
    if (order !== undefined) ms.bootConfig.order = order;
  }
}

// Type registration ----------------------------------------------------------------

function machineClassInit(klass: ObjectClass): void {
  const mc = klass as MachineClass;
  mc.defaultRamSize = 128 * MiB;
  mc.romFileHasMr = true;
  mc.numaMemAlignShift = 23;
  mc.blockDefaultType = "ide";
  mc.smpProps = {
    preferSockets: false,
    diesSupported: false,
    clustersSupported: false,
    hasClusters: false,
    booksSupported: false,
    drawersSupported: false,
    modulesSupported: false,
  };
  mc.compatProps = [];

  machineAddStrProp(klass, "kernel", "kernelFilename", "Linux kernel image file");
  machineAddStrProp(klass, "initrd", "initrdFilename", "Linux initial ramdisk file");
  objectClassPropertyAddStr<MachineState>(
    klass,
    "append",
    (ms) => ms.kernelCmdline,
    (ms, value) => {
      ms.kernelCmdline = value;
    },
  );
  objectClassPropertySetDescription(klass, "append", "Linux kernel command line");
  machineAddStrProp(klass, "dtb", "dtb", "Linux kernel device tree file");
  machineAddStrProp(klass, "dumpdtb", "dumpdtb", "Dump current dtb to a file and quit");

  objectClassPropertyAdd(klass, "boot", "BootConfiguration", machineGetBoot, machineSetBoot);
  objectClassPropertySetDescription(klass, "boot", "Boot configuration");
  objectClassPropertyAdd(klass, "smp", "SMPConfiguration", machineGetSmp, machineSetSmp);
  objectClassPropertySetDescription(klass, "smp", "CPU topology");

  machineAddBoolProp(
    klass,
    "dump-guest-core",
    "dumpGuestCore",
    "Include guest memory in a core dump",
  );
  machineAddBoolProp(klass, "mem-merge", "memMerge", "Enable/disable memory merge support");
  machineAddBoolProp(klass, "usb", "usb", "Set on/off to enable/disable usb", (ms) => {
    ms.usbDisabled = !ms.usb;
  });
  machineAddBoolProp(
    klass,
    "graphics",
    "enableGraphics",
    "Set on/off to enable/disable graphics emulation",
  );
  machineAddStrProp(klass, "firmware", "firmware", "Firmware image");
  machineAddBoolProp(
    klass,
    "suppress-vmdesc",
    "suppressVmdesc",
    "Set on to disable self-describing migration",
  );

  objectClassPropertyAddLink(
    klass,
    "memory-backend",
    TYPE_MEMORY_BACKEND,
    "memdev",
    objectPropertyAllowSetLink,
    OBJ_PROP_LINK_STRONG,
  );
  objectClassPropertySetDescription(
    klass,
    "memory-backend",
    "Set RAM backendValid value is ID of hostmem based backend",
  );
  objectClassPropertyAdd(klass, "memory", "MemorySizeConfiguration", machineGetMem, machineSetMem);
  objectClassPropertySetDescription(klass, "memory", "Memory size configuration");
}

/**
 * `machine_class_base_init`, run for every machine class below `machine` before its own
 * class_init: CPU limits 0 become 1, the name is the type name without `-machine`, and
 * each class gets its own compat-property table (and, in this model, its own copy of the
 * smp_props struct, which C copies with the class bytes).
 */
function machineClassBaseInit(klass: ObjectClass): void {
  const mc = klass as MachineClass;
  mc.maxCpus = mc.maxCpus || 1;
  mc.minCpus = mc.minCpus || 1;
  mc.defaultCpus = mc.defaultCpus || 1;
  mc.smpProps = { ...mc.smpProps };
  mc.compatProps = [];
  if (!objectClassIsAbstract(klass)) {
    const cname = klass.type.name;
    if (!cname.endsWith(TYPE_MACHINE_SUFFIX)) {
      throw new Error(`machine type '${cname}' does not end in ${TYPE_MACHINE_SUFFIX}`);
    }
    mc.name = cname.slice(0, -TYPE_MACHINE_SUFFIX.length);
  }
}

/** `machine_initfn`: defaults of every machine instance. */
function machineInitfn(obj: QomObject): void {
  const ms = obj as MachineState;
  const mc = machineGetClass(ms);
  ms.dtb = null;
  ms.dumpdtb = null;
  ms.kernelFilename = null;
  ms.initrdFilename = null;
  ms.firmware = null;
  ms.cpuType = null;
  ms.possibleCpus = null;
  ms.ram = null;
  ms.memdev = null;
  ms.ramMemdevId = null;
  ms.accelerator = null;
  ms.dumpGuestCore = true;
  ms.memMerge = true;
  ms.enableGraphics = true;
  ms.usb = false;
  ms.usbDisabled = false;
  ms.suppressVmdesc = false;
  ms.kernelCmdline = "";
  ms.ramSize = mc.defaultRamSize;
  ms.maxramSize = mc.defaultRamSize;
  ms.ramSlots = 0;
  ms.smp = {
    cpus: mc.defaultCpus,
    maxCpus: mc.defaultCpus,
    drawers: 1,
    books: 1,
    sockets: 1,
    dies: 1,
    clusters: 1,
    modules: 1,
    cores: 1,
    threads: 1,
  };
  machineCopyBootConfig(ms, {});
}

function machineRegisterTypes(): void {
  typeRegisterStatic<MachineClass, MachineState>({
    name: TYPE_MACHINE,
    parent: TYPE_OBJECT,
    abstract: true,
    classSize: 400,
    classInit: machineClassInit,
    classBaseInit: machineClassBaseInit,
    instanceSize: 600,
    instanceInit: machineInitfn,
  });
}

typeInit(machineRegisterTypes);

// machine_run_board_init -----------------------------------------------------------------

/** `cpu_model_from_type`: `SandyBridge-x86_64-cpu` → `SandyBridge`. */
export function cpuModelFromType(cpuType: string): string {
  const suffix = "-x86_64-cpu";
  return cpuType.endsWith(suffix) ? cpuType.slice(0, -suffix.length) : cpuType;
}

/**
 * `is_cpu_type_supported`: with `valid_cpu_types` set, the CPU type must be one of them
 * (`Invalid CPU model: <m>` and a hint listing the valid ones); a deprecated model warns.
 */
export function isCpuTypeSupported(ms: MachineState): void {
  const mc = machineGetClass(ms);
  const oc = ms.cpuType ? objectClassByName(ms.cpuType) : null;
  if (mc.validCpuTypes) {
    const ok = mc.validCpuTypes.some((t) => oc && objectClassDynamicCast(oc, t));
    if (!ok) {
      const models = mc.validCpuTypes.map(cpuModelFromType);
      const hint =
        models.length === 1
          ? `The only valid type is: ${models[0]}\n`
          : `The valid models are: ${models.join(", ")}\n`;
      throw new QemuError("machine", `Invalid CPU model: ${cpuModelFromType(ms.cpuType ?? "")}`, {
        hint,
        operation: "is_cpu_type_supported",
      });
    }
  }
  const note = (oc as { deprecationNote?: string } | null)?.deprecationNote;
  if (note) warnReport(`CPU model ${ms.cpuType} is deprecated -- ${note}`);
}

/**
 * Creates the default RAM backend `/objects/<default_ram_id>` of `ram_size` bytes and
 * links it as `memory-backend` (`create_default_memdev`).
 */
export type CreateDefaultMemdev = (ms: MachineState, memPath: string | null) => void;

/**
 * `create_default_memdev`, QEMU's way: a `memory-backend-ram` (or `-file` with
 * `-mem-path`) object with `size`, child of /objects, completed, then linked. Needs
 * those backend types to be registered.
 */
export const createDefaultMemdev: CreateDefaultMemdev = (ms, memPath) => {
  const mc = machineGetClass(ms);
  const obj = objectNew(memPath !== null ? "memory-backend-file" : "memory-backend-ram");
  try {
    if (memPath !== null) objectPropertySetStr(obj, "mem-path", memPath);
    objectPropertySetUint(obj, "size", ms.ramSize);
    objectPropertyAddChild(objectGetObjectsRoot(), mc.defaultRamId!, obj);
    objectPropertySetBool(obj, "x-use-canonical-path-for-ramblock-id", false);
    const uc = objectClassDynamicCast(obj.class, TYPE_USER_CREATABLE) as UserCreatableClass | null;
    uc?.complete?.(obj);
    objectPropertySetLink(ms, "memory-backend", obj);
  } finally {
    objectUnref(obj);
  }
};

/** `machine_consume_memdev`: the backend's region becomes the machine's RAM, once. */
function machineConsumeMemdev(_ms: MachineState, backend: HostMemoryBackend): MemoryRegion | null {
  if (backend.isMapped) {
    errorReport(
      `memory backend ${objectGetCanonicalPathComponent(backend)} can't be used multiple times.`,
    );
    throw new QemuExit(1);
  }
  backend.isMapped = true;
  return backend.mr;
}

/**
 * `machine_run_board_init(machine, mem_path, errp)` (reference §3.2): the RAM backend
 * (size check of a user one, or the default one, refusing an object that already took
 * its id), the machine's RAM region, the CPU type check, the accelerator's CPU glue
 * (accel_init_interfaces), then the board's own init; phase MACHINE_INITIALIZED.
 *
 * `makeDefaultMemdev` creates the default backend; it defaults to QEMU's way (needs the
 * `memory-backend-ram` type). NUMA, confidential guests and replay are not modelled.
 * Throws a QemuError (QEMU's errp) on failure.
 */
export function machineRunBoardInit(
  machine: MachineState,
  memPath: string | null = null,
  makeDefaultMemdev: CreateDefaultMemdev = createDefaultMemdev,
): void {
  const mc = machineGetClass(machine);
  if (machine.memdev) {
    const backendSize = objectPropertyGetUint(machine.memdev, "size");
    if (backendSize !== BigInt(machine.ramSize)) {
      throw new QemuError(
        "machine",
        "Machine memory size does not match the size of the memory backend",
        { operation: "machine_run_board_init" },
      );
    }
  } else if (mc.defaultRamId && machine.ramSize) {
    if (objectPropertyFind(objectGetObjectsRoot(), mc.defaultRamId)) {
      throw new QemuError(
        "machine",
        `object's id '${mc.defaultRamId}' is reserved for the default RAM backend, ` +
          "it can't be used for any other purposes",
        {
          hint:
            "Change the object's 'id' to something else or disable automatic creation " +
            `of the default RAM backend by setting 'memory-backend=${mc.defaultRamId}' ` +
            "with '-machine'.\n",
          operation: "machine_run_board_init",
        },
      );
    }
    makeDefaultMemdev(machine, memPath);
  }

  if (!machine.ram && machine.memdev) {
    machine.ram = machineConsumeMemdev(machine, machine.memdev as HostMemoryBackend);
  }

  if (machine.cpuType) isCpuTypeSupported(machine);

  if (!machine.accelerator) {
    throw new Error("machine_run_board_init: no accelerator (configure_accelerators runs first)");
  }
  accelInitInterfaces(accelGetClass(machine.accelerator));
  if (!mc.init) {
    throw new Error(`machine type ${objectGetTypename(machine)} has no init`);
  }
  mc.init(machine);
  phaseAdvance(PHASE_MACHINE_INITIALIZED);
}
