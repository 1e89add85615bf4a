/**
 * The memory operand of a decoded instruction, for an extension that executes the
 * instruction itself (VMXON/VMCLEAR/VMPTRLD/VMPTRST m64, VMREAD/VMWRITE r/m, INVEPT/INVVPID
 * m128): read or write it in 32-bit words through segmentation and paging, with the faults
 * an ordinary access raises (check the return value; the fault is already delivered or
 * claimed by a hook).
 */
import { ea, fetchMode, readMem32, writeMem32 } from "./access.js";
import { addr64, ea64, read64, write64 } from "./access64.js";
import type { X86Cpu } from "./cpu.js";
import { EA_HI, STOP, STOP_FAULT } from "./state.js";

/** Read `count` words of slot `i`'s memory operand into `out`. False after a fault. */
export function readMemOperand(cpu: X86Cpu, i: number, out: Int32Array, count: number): boolean {
  const st = cpu.st;
  const seg = cpu.dc.seg[i]!;
  if ((fetchMode(cpu) & 4) !== 0) {
    const lo = ea64(cpu, i);
    const hi = st[EA_HI]!;
    for (let k = 0; k < count; k++) {
      const a = addr64(cpu, lo, hi, 4 * k);
      out[k] = read64(cpu, seg, a, st[EA_HI]!, 4);
      if (st[STOP] === STOP_FAULT) return false;
    }
    return true;
  }
  const off = ea(cpu, i);
  for (let k = 0; k < count; k++) {
    out[k] = readMem32(cpu, seg, (off + 4 * k) | 0);
    if (st[STOP] === STOP_FAULT) return false;
  }
  return true;
}

/** Write `count` words from `words` to slot `i`'s memory operand. False after a fault. */
export function writeMemOperand(cpu: X86Cpu, i: number, words: Int32Array, count: number): boolean {
  const st = cpu.st;
  const seg = cpu.dc.seg[i]!;
  if ((fetchMode(cpu) & 4) !== 0) {
    const lo = ea64(cpu, i);
    const hi = st[EA_HI]!;
    for (let k = 0; k < count; k++) {
      const a = addr64(cpu, lo, hi, 4 * k);
      write64(cpu, seg, a, st[EA_HI]!, 4, words[k]!);
      if (st[STOP] === STOP_FAULT) return false;
    }
    return true;
  }
  const off = ea(cpu, i);
  for (let k = 0; k < count; k++) {
    writeMem32(cpu, seg, (off + 4 * k) | 0, words[k]!);
    if (st[STOP] === STOP_FAULT) return false;
  }
  return true;
}
