/**
 * The pc board body: `pc_init1` (hw/i386/pc_piix.c, reference §3.3) with the parts of
 * hw/i386/pc.c it calls — `pc_memory_init`, `pc_basic_device_init`, the PIC's INTR line
 * to the first CPU (`pic_irq_request`), the CMOS memory sizes (`pc_cmos_init`).
 * Installed into the pc-i440fx machine types with `setPcInit1(pcInit1)` by qemu_init.
 *
 * glassvm's board has no PCI yet: no i440FX host bridge, no PIIX3 function, so the ISA
 * bus hangs off the machine and the RTC and i8259 are created directly; no fw_cfg,
 * VGA, NICs, HPET, IOAPIC, APIC, kvmclock or option ROMs. The CMOS
 * sizes are written at the end of pc_init1 (QEMU: pc_machine_done).
 */
import { objectPropertySetLink, objectPropertySetStr, objectPropertySetUint } from "@glassvm/qom";
import { kvmIrqchipInKernel, kvmPitInKernel } from "../../accel/kvm/kvm-all.js";
import { CPU_INTERRUPT_HARD, cpuInterrupt, cpuResetInterrupt } from "../../system/cpus.js";
import { memoryRegionAddSubregion, memoryRegionInitAlias } from "../../system/memory.js";
import { getSystemIo, getSystemMemory } from "../../system/physmem.js";
import { serialHd } from "../../system/qemu-host.js";
import { qemuDevicesReset } from "../../system/runstate.js";
import { startupStep } from "../../system/startup-trace.js";
import { cpuForeach, type X86CPU } from "../../target/i386/cpu.js";
import { TYPE_PC_SPEAKER } from "../audio/pcspk.js";
import { ISA_SERIAL_IO, MAX_ISA_SERIAL_PORTS, TYPE_ISA_SERIAL } from "../char/serial.js";
import type { MachineState } from "../core/machine.js";
import { TYPE_I8042 } from "../input/pckbd.js";
import type { APICCommonState } from "../intc/apic_common.js";
import { i8259Init } from "../intc/i8259.js";
import { IOAPIC_NUM_PINS } from "../intc/ioapic_common.js";
import { type QemuIrq, qemuAllocateIrq, qemuAllocateIrqs, qemuSetIrq } from "../irq.js";
import {
  ISA_NUM_IRQS,
  type ISABus,
  isaBusNew,
  isaBusRegisterInputIrqs,
  isaCreateSimple,
  isaNew,
  isaRealizeAndUnref,
} from "../isa/isa-bus.js";
import { TYPE_PIIX_RCR } from "../isa/piix-rcr.js";
import { type MC146818RtcState, mc146818RtcInit, rtcSetMemory } from "../rtc/mc146818rtc.js";
import { i8254PitInit } from "../timer/i8254.js";
import { E820_RAM, e820AddEntry, e820Reset } from "./e820_memory_layout.js";
import { fwCfgArchCreate } from "./fw_cfg.js";
import { kvmApicReset } from "./kvm/apic.js";
import { kvmPitInit } from "./kvm/i8254.js";
import { kvmI8259Init } from "./kvm/i8259.js";
import { kvmIoapicInitGsi } from "./kvm/ioapic.js";
import { type PCMachineState, pcMachineGetClass } from "./pc.js";
import { TYPE_PORT92 } from "./port92.js";
import { x86BiosRomInit, x86CpusInit, x86LoadLinux } from "./x86-common.js";

const FILE = "hw/i386/pc-init.ts";
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** The firmware the pc machine types name by default (`default_machine_opts`; QEMU: SeaBIOS). */
export const PC_DEFAULT_BIOS = "glassvm-bios.bin";

/** What pc_init1 built, for the main loop, resets and tests. */
export interface PcBoard {
  isaBus: ISABus;
  rtc: MC146818RtcState;
  cpus: X86CPU[];
}

let board: PcBoard | null = null;

/** The board of the running machine (null before pc_init1). */
export function pcBoard(): PcBoard | null {
  return board;
}

/** Forget the board (a fresh process; for tests). */
export function pcBoardReset(): void {
  board = null;
}

/**
 * `pc_memory_init`: `ram-below-4g` at 0 and `ram-above-4g` at 4 GiB (aliases of the
 * machine's RAM) with their e820 entries, the firmware (`pc_system_firmware_init` →
 * x86_bios_rom_init), fw_cfg (`fw_cfg_arch_create`), and `-kernel` (`x86_load_linux`).
 * A null firmware (qemu_init: no `-bios` but `-device loader`) maps none.
 */
export function pcMemoryInit(pcms: PCMachineState): void {
  startupStep(FILE, "pcMemoryInit");
  const system = getSystemMemory();
  const ram = pcms.ram!;
  const below = memoryRegionInitAlias("/machine", "ram-below-4g", ram, 0, pcms.below4gMemSize);
  memoryRegionAddSubregion(system, 0, below);
  if (pcms.above4gMemSize > 0) {
    const above = memoryRegionInitAlias(
      "/machine",
      "ram-above-4g",
      ram,
      pcms.below4gMemSize,
      pcms.above4gMemSize,
    );
    memoryRegionAddSubregion(system, pcms.above4gMemStart, above);
  }
  e820Reset(); // the process's table: this board's entries only
  e820AddEntry(0n, BigInt(pcms.below4gMemSize), E820_RAM);
  if (pcms.above4gMemSize > 0) {
    e820AddEntry(BigInt(pcms.above4gMemStart), BigInt(pcms.above4gMemSize), E820_RAM);
  }
  if (pcms.firmware !== null) {
    startupStep("hw/i386/pc-init.ts", "pcSystemFirmwareInit");
    x86BiosRomInit(pcms.firmware, system);
  }
  const fwCfg = fwCfgArchCreate(pcms, pcms.smp.cpus, pcms.apicIdLimit);
  pcms.fwCfg = fwCfg;
  if (pcms.kernelFilename !== null) x86LoadLinux(pcms, fwCfg);
}

/** `GSIState`: where each GSI goes (the 8259 inputs for 0–15, the I/O APIC's 0–23). */
interface GSIState {
  readonly i8259Irq: QemuIrq[];
  readonly ioapicIrq: QemuIrq[];
}

/**
 * `gsi_handler` (hw/i386/x86.c): GSIs 0–15 to the 8259 input and the I/O APIC input of the
 * same number — under KVM both are KVM_IRQ_LINE on that GSI, the kernel routing it to its
 * PIC and IOAPIC — and 16–23 to the I/O APIC only.
 */
function gsiHandler(opaque: unknown, n: number, level: number): void {
  const s = opaque as GSIState;
  if (n < ISA_NUM_IRQS) qemuSetIrq(s.i8259Irq[n] ?? null, level);
  qemuSetIrq(s.ioapicIrq[n] ?? null, level);
}

/**
 * The in-kernel-irqchip board interrupts, in pc_init1's order: `pc_gsi_create` (the 24
 * GSI lines through gsi_handler), `pc_i8259_create` → kvm_i8259_init, and
 * `ioapic_init_gsi` → kvm-ioapic at 0xFEC00000. Returns the GSIs (x86ms->gsi).
 */
function pcGsiCreate(isaBus: ISABus): QemuIrq[] {
  const state: GSIState = { i8259Irq: kvmI8259Init(isaBus), ioapicIrq: [] };
  const gsi = qemuAllocateIrqs(gsiHandler, state, IOAPIC_NUM_PINS);
  state.ioapicIrq.push(...kvmIoapicInitGsi());
  return gsi;
}

/**
 * `pc_machine_reset`: every device, then each CPU's local APIC (x86_cpu_after_reset), so
 * that nothing a device reset did is left in an APIC.
 */
export function pcMachineReset(): void {
  qemuDevicesReset();
  for (const cpu of cpuForeach() as X86CPU[]) {
    if (cpu.apicState) kvmApicReset(cpu.apicState as APICCommonState);
  }
}

/** `pic_irq_request`: the master 8259's INTR to the first CPU's interrupt_request. */
function picIrqRequest(_opaque: unknown, _n: number, level: number): void {
  const cpu = cpuForeach()[0];
  if (!cpu) return;
  if (level) cpuInterrupt(cpu, CPU_INTERRUPT_HARD);
  else cpuResetInterrupt(cpu, CPU_INTERRUPT_HARD);
}

/**
 * `pc_basic_device_init` (the parts glassvm has): PIT at 0x40 with the PC speaker, the
 * Super-I/O serial ports for each `-serial` (`serial_hds_isa_init`), i8042 at 0x60/0x64,
 * port92; plus the PIIX reset-control register at 0xCF9 (QEMU: part of PIIX3).
 */
export function pcBasicDeviceInit(isaBus: ISABus): void {
  startupStep(FILE, "pcBasicDeviceInit");
  // With the full in-kernel irqchip the PIT is the kernel's too (kvm_pit_in_kernel).
  const pit = kvmPitInKernel() ? kvmPitInit(isaBus, 0x40) : i8254PitInit(isaBus, 0x40, 0, null);
  const pcspk = isaNew(TYPE_PC_SPEAKER);
  objectPropertySetLink(pcspk, "pit", pit);
  isaRealizeAndUnref(pcspk, isaBus);
  for (let i = 0; i < MAX_ISA_SERIAL_PORTS && i < ISA_SERIAL_IO.length; i++) {
    const chr = serialHd(i);
    if (!chr) continue;
    const dev = isaNew(TYPE_ISA_SERIAL);
    objectPropertySetUint(dev, "index", i);
    objectPropertySetStr(dev, "chardev", chr.label!);
    isaRealizeAndUnref(dev, isaBus);
  }
  isaCreateSimple(isaBus, TYPE_I8042);
  isaCreateSimple(isaBus, TYPE_PORT92);
  isaCreateSimple(isaBus, TYPE_PIIX_RCR);
}

/**
 * `pc_cmos_init` (memory sizes): base memory (KiB, ≤ 640) at 0x15/0x16, extended memory
 * above 1 MiB (KiB, ≤ 65535) at 0x17/0x18 and 0x30/0x31, memory above 16 MiB (64 KiB
 * units) at 0x34/0x35, above 4 GiB (64 KiB units) at 0x5b–0x5d, CPU count − 1 at 0x5f.
 */
export function pcCmosInit(pcms: PCMachineState, rtc: MC146818RtcState): void {
  const below = pcms.below4gMemSize;
  const put16 = (lo: number, v: number) => {
    rtcSetMemory(rtc, lo, v & 0xff);
    rtcSetMemory(rtc, lo + 1, (v >>> 8) & 0xff);
  };
  put16(0x15, Math.min(Math.floor(below / 1024), 640));
  const ext = below > MiB ? Math.min(Math.floor((below - MiB) / 1024), 65535) : 0;
  put16(0x17, ext);
  put16(0x30, ext);
  const high = below > 16 * MiB ? Math.min(Math.floor((below - 16 * MiB) / 65536), 65535) : 0;
  put16(0x34, high);
  const above = Math.floor(pcms.above4gMemSize / 65536);
  rtcSetMemory(rtc, 0x5b, above & 0xff);
  rtcSetMemory(rtc, 0x5c, (above >>> 8) & 0xff);
  rtcSetMemory(rtc, 0x5d, (above >>> 16) & 0xff);
  rtcSetMemory(rtc, 0x5f, pcms.smp.cpus - 1);
}

/**
 * `pc_init1(machine, "i440FX")` in QEMU's order (reference §3.3): the RAM split at the
 * 4 GiB hole, x86_cpus_init, pc_memory_init, the ISA bus with the RTC and the i8259
 * (INTR → first CPU), pc_basic_device_init, the CMOS sizes.
 */
export function pcInit1(machine: MachineState, _pciType: string): void {
  startupStep(FILE, "pcInit1");
  const pcms = machine as PCMachineState;
  const pcmc = pcMachineGetClass(machine);
  // 1. RAM below/above 4G: lowmem = max-ram-below-4g (default 3.5 GiB), 3 GiB when the
  //    RAM reaches it and the machine type aligns to gigabytes.
  let lowmem = pcms.maxRamBelow4g || 0xe000_0000;
  if (machine.ramSize >= lowmem && pcmc.gigabyteAlign) lowmem = 0xc000_0000;
  if (machine.ramSize >= lowmem) {
    pcms.below4gMemSize = lowmem;
    pcms.above4gMemSize = machine.ramSize - lowmem;
  } else {
    pcms.below4gMemSize = machine.ramSize;
    pcms.above4gMemSize = 0;
  }
  pcms.above4gMemStart = 4 * GiB;
  // 3. The CPUs.
  const cpus = x86CpusInit(pcms, pcmc.defaultCpuVersion);
  // 6. Memory and firmware.
  pcMemoryInit(pcms);
  // 7. The south bridge's ISA bus (and, below, its RTC).
  const isaBus = isaBusNew(null, getSystemMemory(), getSystemIo());
  // 8. The interrupt controllers. With the kernel's irqchip: the GSIs go through
  //    gsi_handler to the kvm-i8259 pair and the kvm-ioapic, whose lines are KVM_IRQ_LINE.
  //    Else QEMU's i8259 pair with its INTR to the first CPU, its inputs the ISA IRQs.
  //    (QEMU wires the GSIs first and creates the PIC after PIIX3; here the PIC must exist
  //    before any ISA device asks the bus for its IRQ.)
  if (kvmIrqchipInKernel()) {
    const gsi = pcGsiCreate(isaBus);
    isaBusRegisterInputIrqs(isaBus, gsi);
    pcms.gsi = gsi;
  } else {
    const picIrqs = i8259Init(isaBus, qemuAllocateIrq(picIrqRequest, null, 0));
    isaBusRegisterInputIrqs(isaBus, picIrqs);
    pcms.gsi = picIrqs;
  }
  const rtc = mc146818RtcInit(isaBus, 2000, null);
  pcms.rtc = rtc;
  // 11. PIT, speaker, serial ports, keyboard controller, port92.
  pcBasicDeviceInit(isaBus);
  pcCmosInit(pcms, rtc);
  board = { isaBus, rtc, cpus };
}
