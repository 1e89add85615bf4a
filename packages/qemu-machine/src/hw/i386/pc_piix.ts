/**
 * hw/i386/pc_piix.c — the QOM types of the i440FX + PIIX3 PC: one machine type per QEMU
 * release, `pc-i440fx-X.Y-machine`, the newest being the default machine and having the
 * alias `pc`. All are "Standard PC (i440FX + PIIX, 1996)" in family `pc_piix`; each older
 * version starts from the next newer one's options and adds that release's compat
 * properties.
 *
 * Modelled versions: 10.2 (default, alias `pc`) back to 6.0. Their compat-property tables
 * (hw_compat_X_Y, pc_compat_X_Y) are empty in glassvm: the versions differ only where
 * glassvm has the behaviour — `-smp` prefers sockets on 6.1 and older.
 *
 * The board init is `pc_i440fx_init` → `pc_init1(machine, "i440FX")`; pc_init1 lives with
 * the rest of the board code, which installs it with {@link setPcInit1}.
 */
import { type ObjectClass, typeInit, typeRegisterStatic } from "@glassvm/qom";
import { type MachineState, machineTypeName } from "../core/machine.js";
import { type PCMachineClass, TYPE_PC_MACHINE } from "./pc.js";

/** TYPE_I440FX_PCI_DEVICE: the host bridge pc_init1 is given. */
export const TYPE_I440FX_PCI_DEVICE = "i440FX";

/** `pc_init1(machine, pci_type)`. */
export type PcInit1 = (machine: MachineState, pciType: string) => void;

let pcInit1: PcInit1 | null = null;

/** Install pc_init1 (the board body). Returns the previous one. */
export function setPcInit1(fn: PcInit1 | null): PcInit1 | null {
  const old = pcInit1;
  pcInit1 = fn;
  return old;
}

/** `pc_i440fx_init`: the `init` of every pc-i440fx machine type. */
export function pcI440fxInit(machine: MachineState): void {
  if (!pcInit1) throw new Error("pc_i440fx_init: pc_init1 is not installed (setPcInit1)");
  pcInit1(machine, TYPE_I440FX_PCI_DEVICE);
}

/** `pc_i440fx_machine_options`: what every i440FX version has. */
function pcI440fxMachineOptions(m: PCMachineClass): void {
  m.defaultSouthBridge = "PIIX3";
  m.pciRootUid = 0;
  m.defaultCpuVersion = 1;
  m.family = "pc_piix";
  m.desc = "Standard PC (i440FX + PIIX, 1996)";
  // QEMU names SeaBIOS (bios-256k.bin); glassvm ships its own firmware (pc-bios/).
  m.defaultMachineOpts = "firmware=glassvm-bios.bin";
  m.defaultDisplay = "std";
  m.defaultNic = "e1000";
  m.noFloppy = false;
  m.noParallel = false;
}

/** The modelled versions, newest first. */
export const PC_I440FX_VERSIONS: readonly (readonly [number, number])[] = [
  [10, 2],
  [10, 1],
  [10, 0],
  [9, 2],
  [9, 1],
  [9, 0],
  [8, 2],
  [8, 1],
  [8, 0],
  [7, 2],
  [7, 1],
  [7, 0],
  [6, 2],
  [6, 1],
  [6, 0],
];

/**
 * `pc_i440fx_machine_X_Y_options`: the newest takes the common options; each older one
 * the next newer one's, then its compat changes.
 */
function pcI440fxVersionOptions(m: PCMachineClass, index: number): void {
  if (index === 0) {
    pcI440fxMachineOptions(m);
    return;
  }
  pcI440fxVersionOptions(m, index - 1);
  const [major, minor] = PC_I440FX_VERSIONS[index]!;
  // pc_i440fx_machine_6_1_options: -smp prefers sockets over cores before 6.2.
  if (major === 6 && minor === 1) m.smpProps.preferSockets = true;
}

/** `DEFINE_I440FX_MACHINE(major, minor)` / `…_AS_LATEST`: the type for one version. */
function pcI440fxDefineMachine(index: number): void {
  const [major, minor] = PC_I440FX_VERSIONS[index]!;
  const latest = index === 0;
  typeRegisterStatic<PCMachineClass, MachineState>({
    name: machineTypeName(`pc-i440fx-${major}.${minor}`),
    parent: TYPE_PC_MACHINE,
    instanceSize: 1200,
    classInit: (klass: ObjectClass) => {
      const mc = klass as PCMachineClass;
      mc.init = pcI440fxInit;
      pcI440fxVersionOptions(mc, index);
      mc.alias = latest ? "pc" : undefined;
      mc.isDefault = latest;
    },
  });
}

function pcPiixRegisterTypes(): void {
  for (let i = 0; i < PC_I440FX_VERSIONS.length; i++) pcI440fxDefineMachine(i);
}

typeInit(pcPiixRegisterTypes);
