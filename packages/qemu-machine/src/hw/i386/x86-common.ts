/**
 * hw/i386/x86-common.c: creating the CPUs (`x86_cpus_init` → `x86_cpu_new` for each
 * boot CPU, reference §4), mapping the BIOS image (`x86_bios_rom_init`) and `-kernel`
 * (`x86_load_linux`).
 */
import { objectNew, objectPropertySetBool, objectPropertySetUint, objectUnref } from "@glassvm/qom";
import { QemuExit, withErrorFatal } from "../../qapi/error.js";
import { QEMU_FILE_TYPE_BIOS, qemuFindFile } from "../../system/datadir.js";
import {
  type MemoryRegion,
  memoryRegionAddSubregion,
  memoryRegionInitAlias,
  memoryRegionInitRom,
} from "../../system/memory.js";
import { qemuHost } from "../../system/qemu-host.js";
import { startupStep } from "../../system/startup-trace.js";
import { type X86CPU, x86CpuSetDefaultVersion } from "../../target/i386/cpu.js";
import { errorPrintf } from "../../util/error-report.js";
import type { MachineState } from "../core/machine.js";
import type { FWCfgState } from "../nvram/fw_cfg.js";
import { loadMultiboot } from "./multiboot.js";
import { type X86MachineState, x86CpuApicIdFromIndex, x86PossibleCpuArchIds } from "./x86.js";

const FILE = "hw/i386/x86-common.ts";

/**
 * `x86_cpu_new(x86ms, apic_id, &error_fatal)`: object_new(cpu_type), `apic-id`, realize
 * (→ x86_cpu_realizefn → qemu_init_vcpu), drop the reference. Errors are fatal.
 */
export function x86CpuNew(x86ms: X86MachineState, apicId: number): X86CPU {
  startupStep(FILE, "x86CpuNew");
  const cpu = objectNew<X86CPU>(x86ms.cpuType!);
  withErrorFatal(() => {
    objectPropertySetUint(cpu, "apic-id", apicId);
    startupStep("target/i386/cpu.ts", "x86CpuRealizefn");
    objectPropertySetBool(cpu, "realized", true);
  });
  objectUnref(cpu);
  return cpu;
}

/**
 * `x86_cpus_init(x86ms, default_cpu_version)`: the default model version, the APIC ID
 * limit, the possible-CPU slots, then one x86_cpu_new per boot CPU.
 */
export function x86CpusInit(x86ms: X86MachineState, defaultCpuVersion: number): X86CPU[] {
  startupStep(FILE, "x86CpusInit");
  x86CpuSetDefaultVersion(defaultCpuVersion);
  x86ms.apicIdLimit = x86CpuApicIdFromIndex(x86ms, x86ms.smp.maxCpus - 1) + 1;
  const possible = x86PossibleCpuArchIds(x86ms);
  const cpus: X86CPU[] = [];
  for (let i = 0; i < x86ms.smp.cpus; i++) {
    const cpu = x86CpuNew(x86ms, possible.cpus[i]!.archId);
    possible.cpus[i]!.cpu = cpu;
    cpus.push(cpu);
  }
  return cpus;
}

/** `bios_error`: QEMU prints this with fprintf (no program prefix) and exits 1. */
function biosError(name: string): never {
  errorPrintf(`qemu: could not load PC BIOS '${name}'\n`);
  throw new QemuExit(1);
}

/**
 * `x86_bios_rom_init(ms, "glassvm-bios.bin", rom_memory, isapc_ram_fw=false)`: the image
 * qemu_find_file finds (a non-zero multiple of 64 KiB) becomes the ROM `pc.bios` ending at 4 GiB, and its last
 * 128 KiB (or all of it, if smaller) the alias `isa-bios` ending at 1 MiB, over low RAM
 * (priority 1). The ROM lives in anonymous host memory (HostOs mmap) so KVM can map it
 * read-only.
 */
export function x86BiosRomInit(
  firmware: string,
  romMemory: MemoryRegion,
): { bios: MemoryRegion; isaBios: MemoryRegion } {
  startupStep(FILE, "x86BiosRomInit");
  const { os } = qemuHost();
  const image = qemuFindFile(QEMU_FILE_TYPE_BIOS, firmware);
  if (!image || image.length === 0 || image.length % 65536 !== 0) biosError(firmware);
  const size = image.length;
  const hostAddr = os.mmap(-1, size);
  if (hostAddr < 0) biosError(firmware);
  const bytes = os.view(hostAddr, size);
  bytes.set(image);
  const bios = memoryRegionInitRom("/machine", "pc.bios", bytes, hostAddr);
  const isaBiosSize = Math.min(size, 128 * 1024);
  const isaBios = memoryRegionInitAlias(
    "/machine",
    "isa-bios",
    bios,
    size - isaBiosSize,
    isaBiosSize,
  );
  memoryRegionAddSubregion(romMemory, 0x10_0000 - isaBiosSize, isaBios, 1);
  memoryRegionAddSubregion(romMemory, 2 ** 32 - size, bios);
  return { bios, isaBios };
}

/**
 * `x86_load_linux(x86ms, fw_cfg, acpi_data_size, pvh_enabled)`: read the `-kernel` image;
 * a Linux boot-protocol image ("HdrS" at 0x202) would go through the setup header, any
 * other is tried as multiboot. glassvm loads multiboot images; Linux (bzImage) and PVH
 * boot are not modelled yet and say so.
 */
export function x86LoadLinux(ms: MachineState, fwCfg: FWCfgState): void {
  startupStep(FILE, "x86LoadLinux");
  const kernelFilename = ms.kernelFilename!;
  const image = qemuHost().files(kernelFilename);
  if (!image || image.length === 0) {
    errorPrintf(`qemu: could not load kernel '${kernelFilename}': No such file or directory\n`);
    throw new QemuExit(1);
  }
  const isLinux =
    image.length >= 0x206 &&
    new DataView(image.buffer, image.byteOffset).getUint32(0x202, true) === 0x5372_6448;
  if (!isLinux) {
    startupStep("hw/i386/multiboot.ts", "loadMultiboot");
    const mb = loadMultiboot(
      fwCfg,
      image,
      kernelFilename,
      ms.initrdFilename,
      ms.kernelCmdline,
      (p) => qemuHost().files(p),
    );
    if (mb) return;
  }
  errorPrintf(
    `qemu: could not load kernel '${kernelFilename}': ${
      isLinux ? "Linux boot protocol" : "no multiboot header; Linux/PVH boot"
    } is not implemented in glassvm yet\n`,
  );
  throw new QemuExit(1);
}
