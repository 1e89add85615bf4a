/**
 * Port I/O (Bochs io.cc): IN and OUT with an immediate port or DX. Outside real mode an
 * access with CPL > IOPL, or any access in VM86, must be allowed by the I/O permission
 * bitmap of the current 32-bit TSS (SDM Vol. 1 §19.5.2), else #GP(0). Then the
 * virtualization hook is asked (EV_IO), and only then the device is touched: permission
 * faults have priority over VM exits (SDM Vol. 3 §26.1.1).
 */
import { linRead16 } from "../access.js";
import type { X86Cpu } from "../cpu.js";
import { raiseFault } from "../exception.js";
import type { HandlerSpec } from "../handlers.js";
import { EV_IO } from "../hooks.js";
import type { AccessSize } from "../memory.js";
import { EAX, EDX, FLAG_IOPL, FLAG_VM, GP_VECTOR, TR } from "../regs.js";
import { CPL, FLAGS } from "../state.js";
import { intercepted } from "./proc_ctrl.js";

/** Offset of the I/O map base field in a 32-bit TSS. */
const TSS32_IOMAP_BASE = 102;

/**
 * True when `size` bytes at `port` may be accessed at the current privilege; otherwise
 * raises #GP(0) and returns false.
 */
export function ioPermitted(cpu: X86Cpu, port: number, size: number): boolean {
  if (cpu.realMode) return true;
  const st = cpu.st;
  const f = st[FLAGS]!;
  if ((f & FLAG_VM) === 0 && st[CPL]! <= (f & FLAG_IOPL) >>> 12) return true;
  // The bitmap exists only in a 32-bit TSS (available 9 or busy 11) of at least 104 bytes.
  const type = cpu.segAr[TR]! & 0xf;
  const limit = cpu.segLimit[TR]! >>> 0;
  if ((type === 9 || type === 11) && limit >= TSS32_IOMAP_BASE + 1) {
    const base = cpu.segBase[TR]!;
    const off = linRead16(cpu, (base + TSS32_IOMAP_BASE) | 0) + (port >>> 3);
    if (off + 1 <= limit) {
      const bits = linRead16(cpu, (base + off) | 0);
      if ((bits & (((1 << size) - 1) << (port & 7))) === 0) return true;
    }
  }
  raiseFault(cpu, GP_VECTOR, 0);
  return false;
}

/**
 * Ask the hook about an I/O access (hooks.ts EV_IO). `str`/`rep` mark INS/OUTS and a REP
 * prefix; `value` is what OUT writes. True when the hook claimed it (the instruction stops).
 */
export function ioIntercepted(
  cpu: X86Cpu,
  port: number,
  size: number,
  isIn: boolean,
  str: boolean,
  rep: boolean,
  value: number,
): boolean {
  if (cpu.hooks === null) return false;
  const x = cpu.exitInfo;
  x[1] = port;
  x[2] = size;
  x[3] = isIn ? 1 : 0;
  x[4] = str ? 1 : 0;
  x[5] = rep ? 1 : 0;
  x[6] = value;
  return intercepted(cpu, EV_IO);
}

function inOp(cpu: X86Cpu, port: number, size: AccessSize): void {
  if (!ioPermitted(cpu, port, size)) return;
  if (ioIntercepted(cpu, port, size, true, false, false, 0)) return;
  const v = cpu.mem.devices.ioRead(port, size);
  if (size === 1) cpu.r8[0] = v;
  else if (size === 2) cpu.r16[EAX << 1] = v;
  else cpu.regs[EAX] = v;
}

function outOp(cpu: X86Cpu, port: number, size: AccessSize): void {
  if (!ioPermitted(cpu, port, size)) return;
  const v = size === 1 ? cpu.r8[0]! : size === 2 ? cpu.r16[EAX << 1]! : cpu.regs[EAX]! >>> 0;
  if (ioIntercepted(cpu, port, size, false, false, false, v)) return;
  cpu.mem.devices.ioWrite(port, size, v);
}

const immPort = (cpu: X86Cpu, i: number) => cpu.dc.imm[i]! & 0xff;
const dxPort = (cpu: X86Cpu) => cpu.r16[EDX << 1]!;

export const IO: Readonly<Record<string, HandlerSpec>> = {
  in_Zb_Ib: (cpu, i) => inOp(cpu, immPort(cpu, i), 1),
  in_Zv_Ib: {
    o16: (cpu, i) => inOp(cpu, immPort(cpu, i), 2),
    o32: (cpu, i) => inOp(cpu, immPort(cpu, i), 4),
  },
  out_Ib_Zb: (cpu, i) => outOp(cpu, immPort(cpu, i), 1),
  out_Ib_Zv: {
    o16: (cpu, i) => outOp(cpu, immPort(cpu, i), 2),
    o32: (cpu, i) => outOp(cpu, immPort(cpu, i), 4),
  },
  in_Zb_DX: (cpu) => inOp(cpu, dxPort(cpu), 1),
  in_Zv_DX: { o16: (cpu) => inOp(cpu, dxPort(cpu), 2), o32: (cpu) => inOp(cpu, dxPort(cpu), 4) },
  out_DX_Zb: (cpu) => outOp(cpu, dxPort(cpu), 1),
  out_DX_Zv: {
    o16: (cpu) => outOp(cpu, dxPort(cpu), 2),
    o32: (cpu) => outOp(cpu, dxPort(cpu), 4),
  },
};
