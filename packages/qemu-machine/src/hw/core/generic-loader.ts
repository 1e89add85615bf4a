/**
 * hw/core/generic-loader.c: `-device loader,file=F,addr=A[,cpu-num=N]` — a raw image
 * copied into guest memory at A (as a ROM blob: written even over ROM, and again at every
 * system reset, like QEMU's rom_reset); with `cpu-num`, that CPU's PC is set to A after
 * its reset (`generic_loader_reset` → cpu_reset + set_pc).
 *
 * On x86 `set_pc` is `x86_cpu_set_pc`, which sets EIP only: after reset CS is still
 * F000 with base 0xFFFF0000, so execution continues at 0xFFFF0000 + A (the ROM), not at
 * A. glassvm does exactly that — firmware (or the image itself, placed in the ROM range)
 * must get the CPU to A. Not modelled: ELF, uImage and Intel-hex images (every file is
 * raw, as with `force-raw=on`), `data=`/`data-len=` register/memory stores.
 */
import {
  DEVICE_CATEGORY_MISC,
  type DeviceClass,
  type DeviceState,
  definePropBool,
  definePropString,
  definePropUint32,
  definePropUint64,
  deviceClassSetProps,
  QomError,
  TYPE_DEVICE,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";
import type { AddressSpace } from "../../system/memory.js";
import { addressSpaceMemory } from "../../system/physmem.js";
import { qemuHost } from "../../system/qemu-host.js";
import { qemuRegisterReset } from "../../system/runstate.js";
import { cpuForeach, cpuReset, type X86CPU } from "../../target/i386/cpu.js";

export const TYPE_GENERIC_LOADER = "loader";
/** CPU_NONE: no `cpu-num`. */
const CPU_NONE = 0xffff_ffff;

export interface GenericLoaderState extends DeviceState {
  file: string | null;
  addr: bigint;
  cpuNum: number;
  forceRaw: boolean;
  image: Uint8Array | null;
  setPc: boolean;
  cpu: X86CPU | null;
}

function loaderError(msg: string): QomError {
  return new QomError("invalid-parameter-value", msg, { operation: "generic_loader_realize" });
}

/**
 * `address_space_write_rom`: copy `bytes` into the RAM or ROM backing `addr…` (what
 * rom_reset does); bytes over I/O or nothing are dropped.
 */
export function addressSpaceWriteRom(as: AddressSpace, addr: number, bytes: Uint8Array): void {
  const end = addr + bytes.length;
  for (const b of as.ramBlocks()) {
    const lo = Math.max(addr, b.gpa);
    const hi = Math.min(end, b.gpa + b.size);
    if (lo >= hi) continue;
    b.region.ram!.set(bytes.subarray(lo - addr, hi - addr), b.offset + (lo - b.gpa));
  }
}

/** `generic_loader_reset`: the image again, then cpu_reset + set_pc (EIP) if asked. */
function genericLoaderReset(opaque: unknown): void {
  const s = opaque as GenericLoaderState;
  if (s.image) addressSpaceWriteRom(addressSpaceMemory(), Number(s.addr), s.image);
  if (s.setPc && s.cpu) {
    cpuReset(s.cpu);
    // x86_cpu_set_pc: EIP only.
    s.cpu.env.eip = s.addr;
  }
}

function genericLoaderRealize(dev: DeviceState): void {
  const s = dev as GenericLoaderState;
  if (!s.file) throw loaderError("please include valid arguments");
  if (s.cpuNum !== CPU_NONE) {
    const cpu = cpuForeach().find((c) => c.cpuIndex === s.cpuNum) as X86CPU | undefined;
    if (!cpu) throw loaderError(`Specified boot CPU#${s.cpuNum} is nonexistent`);
    s.cpu = cpu;
    s.setPc = true;
  }
  const image = qemuHost().files(s.file);
  if (!image) throw loaderError(`Cannot load specified image ${s.file}`);
  s.image = image;
  qemuRegisterReset(genericLoaderReset, s);
}

typeInit(() => {
  typeRegisterStatic<DeviceClass, GenericLoaderState>({
    name: TYPE_GENERIC_LOADER,
    parent: TYPE_DEVICE,
    instanceSize: 256,
    instanceInit: (s) => {
      s.image = null;
      s.setPc = false;
      s.cpu = null;
    },
    classInit: (dc) => {
      dc.realize = genericLoaderRealize;
      dc.categories |= 1 << DEVICE_CATEGORY_MISC;
      dc.desc = "Generic Loader";
      deviceClassSetProps(dc, [
        definePropString("file", "file"),
        definePropUint64("addr", "addr", 0n),
        definePropUint32("cpu-num", "cpuNum", CPU_NONE),
        definePropBool("force-raw", "forceRaw", false),
      ]);
    },
  });
});
