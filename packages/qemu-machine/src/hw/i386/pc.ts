/**
 * hw/i386/pc.c — TYPE_PC_MACHINE ("generic-pc-machine"), the abstract PC every versioned
 * `pc-i440fx-X.Y` board derives from: the PC's class defaults (255 CPUs, `qemu64` CPU,
 * RAM backend `pc.ram`, boot order `cad`, dies and modules in `-smp`), the PC machine
 * state (devices the board wires up, the knobs `-machine` can turn) and its properties
 * (`max-ram-below-4g`, `vmport`, `smbus`, `sata`, `hpet`, `i8042`, `max-fw-size`, …).
 *
 * The PC machine is the hotplug handler of the CPUs (and DIMMs …) plugged into it. Its
 * hotplug-handler hooks are empty here: the per-device checks QEMU runs there
 * (x86-common.c's x86_cpu_pre_plug/plug) belong to the CPU plumbing, which installs them
 * on the machine class's `hotplug-handler` interface class.
 */
import {
  type ObjectClass,
  ON_OFF_AUTO_LOOKUP,
  ON_OFF_AUTO_OFF,
  objectClassPropertyAdd,
  objectClassPropertyAddBool,
  objectClassPropertyAddEnum,
  objectClassPropertySetDescription,
  objectDynamicCast,
  type QomObject,
  type QValue,
  TYPE_HOTPLUG_HANDLER,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import { QemuError } from "../../qapi/error.js";
import { qemuDevicesReset } from "../../system/runstate.js";
import { warnReport } from "../../util/error-report.js";
import { TYPE_X86_MACHINE, type X86MachineClass, type X86MachineState } from "./x86.js";

export const TYPE_PC_MACHINE = "generic-pc-machine";
/** TYPE_CPU: devices of this type are plugged through the machine. */
const TYPE_CPU = "cpu";
/** Other device types the PC machine handles the plugging of. */
const PC_HOTPLUG_TYPES = ["pc-dimm", TYPE_CPU, "virtio-md-pci", "virtio-iommu-pci", "x86-iommu"];

/** Property names (PC_MACHINE_*). */
export const PC_MACHINE_MAX_RAM_BELOW_4G = "max-ram-below-4g";
export const PC_MACHINE_VMPORT = "vmport";
export const PC_MACHINE_SMBUS = "smbus";
export const PC_MACHINE_SATA = "sata";
export const PC_MACHINE_I8042 = "i8042";
export const PC_MACHINE_MAX_FW_SIZE = "max-fw-size";
export const PC_MACHINE_HPET = "hpet";
/** TYPE_PIIX3_DEVICE: the default south bridge of pc-i440fx. */
export const TYPE_PIIX3_DEVICE = "PIIX3";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** `PCMachineClass`. */
export interface PCMachineClass extends X86MachineClass {
  pciEnabled: boolean;
  hasAcpiBuild: boolean;
  smbiosDefaults: boolean;
  /** Split RAM at 3 GiB when it does not fit below max_ram_below_4g (new types). */
  gigabyteAlign: boolean;
  hasReservedMemory: boolean;
  enforceAlignedDimm: boolean;
  enforceAmd1tbHole: boolean;
  isaBiosAlias: boolean;
  pvhEnabled: boolean;
  kvmclockCreateAlways: boolean;
  /** CPU model version unversioned names resolve to (pc: 1 → `SandyBridge-v1`). */
  defaultCpuVersion: number;
  defaultSouthBridge: string;
  pciRootUid: number;
}

/** `PCMachineState`. */
export interface PCMachineState extends X86MachineState {
  /** Set by pc_init1 as it creates them. */
  pcibus: QomObject | null;
  smbus: QomObject | null;
  pcspk: QomObject | null;
  idebus: [QomObject | null, QomObject | null];
  /** Largest RAM below 4 GiB; 0 = the default 0xe0000000. */
  maxRamBelow4g: number;
  /** OnOffAuto. */
  vmport: number;
  southBridge: string;
  acpiBuildEnabled: boolean;
  smbusEnabled: boolean;
  sataEnabled: boolean;
  hpetEnabled: boolean;
  i8042Enabled: boolean;
  fdBootchk: boolean;
  defaultBusBypassIommu: boolean;
  maxFwSize: number;
}

/** `PC_MACHINE_GET_CLASS`. */
export function pcMachineGetClass(ms: QomObject): PCMachineClass {
  return ms.class as PCMachineClass;
}

/** `pc_get_hotplug_handler`: the machine handles CPUs, DIMMs and a few PCI devices. */
function pcGetHotplugHandler(machine: QomObject, dev: QomObject): QomObject | null {
  return PC_HOTPLUG_TYPES.some((t) => objectDynamicCast(dev, t)) ? machine : null;
}

function pcBoolProp(
  klass: ObjectClass,
  name: string,
  field:
    | "smbusEnabled"
    | "sataEnabled"
    | "hpetEnabled"
    | "i8042Enabled"
    | "fdBootchk"
    | "defaultBusBypassIommu",
  desc: string,
): void {
  objectClassPropertyAddBool<PCMachineState>(
    klass,
    name,
    (ms) => ms[field],
    (ms, v) => {
      ms[field] = v;
    },
  );
  objectClassPropertySetDescription(klass, name, desc);
}

/** `pc_machine_set_max_ram_below_4g`: at most 4 GiB; below 1 MiB the BIOS may fail. */
function pcMachineSetMaxRamBelow4g(
  obj: QomObject,
  v: { typeSize(n: string): bigint },
  name: string,
) {
  const value = v.typeSize(name);
  if (value > BigInt(4 * GiB)) {
    throw new QemuError(
      "invalid-parameter-value",
      `Machine option 'max-ram-below-4g=${value}' expects size less than or equal to 4G`,
      { operation: "pc_machine_set_max_ram_below_4g" },
    );
  }
  if (value < BigInt(MiB)) {
    warnReport(
      `Only ${value} bytes of RAM below the 4GiB boundary,BIOS may not work with less than 1MiB`,
    );
  }
  (obj as PCMachineState).maxRamBelow4g = Number(value);
}

/** `pc_machine_set_max_fw_size`: at most 16 MiB of firmware. */
function pcMachineSetMaxFwSize(obj: QomObject, v: { typeSize(n: string): bigint }, name: string) {
  const value = v.typeSize(name);
  if (value > BigInt(16 * MiB)) {
    throw new QemuError(
      "invalid-parameter-value",
      `User specified max allowed firmware size ${value} is greater than 16MiB. ` +
        "If combined firmware size exceeds 16MiB the system may not boot, or experience " +
        "intermittentstability issues.",
      { operation: "pc_machine_set_max_fw_size" },
    );
  }
  (obj as PCMachineState).maxFwSize = Number(value);
}

/** `pc_machine_reset`, installed by the board code (pc-init.ts, which knows the CPUs). */
let pcMachineResetFn: (() => void) | null = null;

/** Install pc_machine_reset (as setPcInit1 installs the board init). */
export function setPcMachineReset(fn: (() => void) | null): void {
  pcMachineResetFn = fn;
}

function pcMachineReset(): void {
  if (pcMachineResetFn) pcMachineResetFn();
  else qemuDevicesReset();
}

function pcMachineClassInit(klass: ObjectClass): void {
  const mc = klass as PCMachineClass;
  mc.reset = pcMachineReset;
  mc.pciEnabled = true;
  mc.hasAcpiBuild = true;
  mc.smbiosDefaults = true;
  mc.gigabyteAlign = true;
  mc.hasReservedMemory = true;
  mc.enforceAlignedDimm = true;
  mc.enforceAmd1tbHole = true;
  mc.isaBiosAlias = true;
  mc.pvhEnabled = true;
  mc.kvmclockCreateAlways = true;
  mc.apicXruptOverride = true;
  mc.defaultCpuVersion = 1;
  mc.defaultSouthBridge = TYPE_PIIX3_DEVICE;
  mc.pciRootUid = 0;
  mc.getHotplugHandler = pcGetHotplugHandler;
  mc.autoEnableNumaWithMemhp = true;
  mc.autoEnableNumaWithMemdev = true;
  mc.hasHotpluggableCpus = true;
  mc.defaultBootOrder = "cad";
  mc.blockDefaultType = "ide";
  mc.maxCpus = 255;
  mc.defaultCpuType = "qemu64-x86_64-cpu";
  mc.nvdimmSupported = true;
  mc.smpProps.diesSupported = true;
  mc.smpProps.modulesSupported = true;
  mc.defaultRamId = "pc.ram";
  mc.defaultKernelIrqchipSplit = false;

  objectClassPropertyAdd(
    klass,
    PC_MACHINE_MAX_RAM_BELOW_4G,
    "size",
    (obj): QValue => (obj as PCMachineState).maxRamBelow4g,
    pcMachineSetMaxRamBelow4g,
  );
  objectClassPropertySetDescription(
    klass,
    PC_MACHINE_MAX_RAM_BELOW_4G,
    "Maximum ram below the 4G boundary (32bit boundary)",
  );
  objectClassPropertyAddEnum<PCMachineState>(
    klass,
    PC_MACHINE_VMPORT,
    "OnOffAuto",
    ON_OFF_AUTO_LOOKUP,
    (ms) => ms.vmport,
    (ms, v) => {
      ms.vmport = v;
    },
  );
  objectClassPropertySetDescription(klass, PC_MACHINE_VMPORT, "Enable vmport (pc & q35)");
  pcBoolProp(klass, PC_MACHINE_SMBUS, "smbusEnabled", "Enable/disable system management bus");
  pcBoolProp(klass, PC_MACHINE_SATA, "sataEnabled", "Enable/disable Serial ATA bus");
  pcBoolProp(
    klass,
    PC_MACHINE_HPET,
    "hpetEnabled",
    "Enable/disable high precision event timer emulation",
  );
  pcBoolProp(
    klass,
    PC_MACHINE_I8042,
    "i8042Enabled",
    "Enable/disable Intel 8042 PS/2 controller emulation",
  );
  pcBoolProp(klass, "fd-bootchk", "fdBootchk", "Enable/disable floppy boot check");
  pcBoolProp(
    klass,
    "default-bus-bypass-iommu",
    "defaultBusBypassIommu",
    "Bypass the IOMMU for the default PCI bus",
  );
  objectClassPropertyAdd(
    klass,
    PC_MACHINE_MAX_FW_SIZE,
    "size",
    (obj): QValue => (obj as PCMachineState).maxFwSize,
    pcMachineSetMaxFwSize,
  );
  objectClassPropertySetDescription(
    klass,
    PC_MACHINE_MAX_FW_SIZE,
    "Maximum combined firmware size",
  );
}

/**
 * `pc_machine_initfn`. vmport is off: glassvm is built without the VMware port. The
 * PC speaker and the pflash devices QEMU creates here come with the devices' code.
 */
function pcMachineInitfn(obj: QomObject): void {
  const pcms = obj as PCMachineState;
  const pcmc = pcMachineGetClass(pcms);
  pcms.pcibus = null;
  pcms.smbus = null;
  pcms.pcspk = null;
  pcms.idebus = [null, null];
  pcms.vmport = ON_OFF_AUTO_OFF;
  pcms.maxRamBelow4g = 0;
  pcms.southBridge = pcmc.defaultSouthBridge;
  pcms.acpiBuildEnabled = pcmc.hasAcpiBuild;
  pcms.smbusEnabled = true;
  pcms.sataEnabled = true;
  pcms.i8042Enabled = true;
  pcms.maxFwSize = 8 * MiB;
  pcms.hpetEnabled = true;
  pcms.fdBootchk = true;
  pcms.defaultBusBypassIommu = false;
}

function pcMachineRegisterTypes(): void {
  typeRegisterStatic<PCMachineClass, PCMachineState>({
    name: TYPE_PC_MACHINE,
    parent: TYPE_X86_MACHINE,
    abstract: true,
    instanceSize: 1200,
    instanceInit: pcMachineInitfn,
    classSize: 520,
    classInit: pcMachineClassInit,
    interfaces: [{ type: TYPE_HOTPLUG_HANDLER }],
  });
}

typeInit(pcMachineRegisterTypes);
