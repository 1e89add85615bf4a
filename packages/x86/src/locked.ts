/**
 * Locked instructions on shared RAM (SDM Vol. 3 §8.1.2 "Bus Locking"; Vol. 2 LOCK): when
 * a RAM range is a SharedArrayBuffer (PhysMemory.shared), the decoder gives every
 * LOCK-prefixed read-modify-write, and XCHG with a memory operand (locked without the
 * prefix), a locked variant of its handler (`lockedHandlerId`).
 *
 * A locked variant runs the ordinary handler with st[LOCK_MODE] set. In that mode the
 * access layer's read-modify-write keeps the value it read, and its write becomes one
 * compare-and-exchange against it (atomic.ts casRam). If another agent wrote the operand
 * in between, the compare fails, nothing is stored, the registers and flags the attempt
 * changed are put back and the instruction runs again (a lock-free retry loop: some agent
 * always makes progress). The instruction is atomic at the successful exchange, which
 * is also a sequentially consistent JavaScript atomic: a full fence, as on x86.
 *
 * CMPXCHG8B outside 64-bit mode reads its quadword as two dwords, so it has its own
 * variant with one 8-byte exchange; CMPXCHG16B (no 16-byte atomic in JavaScript) runs
 * under the lock word, atomic only against other instructions that take it. Operands
 * outside RAM keep the ordinary path (the MMIO hook or the devices).
 */
import { ea, lockedBytes, physWrite32, rmwRead32, rmwWrite32 } from "./access.js";
import {
  CAS_FAILED,
  CAS_MMIO,
  CAS_NEEDS_LOCK,
  casRam,
  lockWordAcquire,
  lockWordRelease,
} from "./atomic.js";
import type { X86Cpu } from "./cpu.js";
import {
  HANDLER_UD,
  HANDLERS,
  type Handler,
  handlerId,
  resolveHandler,
  resolveHandlerLong,
} from "./handlers.js";
import { FLAG_ZF, setArithFlags } from "./lazy_flags.js";
import { EAX, EBX, ECX, EDX } from "./regs.js";
import {
  FLAGS,
  LF_CARRY,
  LF_DST,
  LF_OP,
  LF_RES,
  LF_SIZE,
  LF_SRC,
  LOCK_FAIL,
  LOCK_MODE,
  RMW_PHYS,
  RMW_SPLIT,
  STOP,
  STOP_FAULT,
} from "./state.js";

/**
 * The locked variant of handler `h` (see the module comment). A retry puts back what an
 * attempt may have changed besides memory: the flags, and the registers a lockable
 * instruction writes — rAX (CMPXCHG), rDX:rAX (CMPXCHG8B), the ModRM.reg register (XADD,
 * XCHG; as a byte register AH..BH it lives in register reg − 4, SPL..DIL (16–19) in
 * reg − 12). Kept in locals: copying the register file costs more than the atomic.
 */
export function lockedVariant(h: Handler): Handler {
  const locked: Handler = (cpu, i) => {
    const st = cpu.st;
    const r = cpu.regs;
    const rh = cpu.regsHi;
    const g = cpu.dc.reg[i]!;
    const c = g < 16 ? g : g - 12;
    const b = g & 3;
    const ax = r[EAX]!;
    const axh = rh[EAX]!;
    const dx = r[EDX]!;
    const dxh = rh[EDX]!;
    const cx = r[c]!;
    const cxh = rh[c]!;
    const bx = r[b]!;
    const bxh = rh[b]!;
    const f0 = st[FLAGS]!;
    const f1 = st[LF_OP]!;
    const f2 = st[LF_SIZE]!;
    const f3 = st[LF_DST]!;
    const f4 = st[LF_SRC]!;
    const f5 = st[LF_RES]!;
    const f6 = st[LF_CARRY]!;
    for (;;) {
      st[LOCK_FAIL] = 0;
      st[LOCK_MODE] = 1;
      try {
        h(cpu, i);
      } finally {
        // Even when a host exception escapes: a later plain write must stay plain.
        st[LOCK_MODE] = 0;
      }
      if (st[LOCK_FAIL] === 0 || st[STOP] === STOP_FAULT) return;
      // Where two of these are one register, they were saved with one value.
      r[EAX] = ax;
      rh[EAX] = axh;
      r[EDX] = dx;
      rh[EDX] = dxh;
      r[c] = cx;
      rh[c] = cxh;
      r[b] = bx;
      rh[b] = bxh;
      st[FLAGS] = f0;
      st[LF_OP] = f1;
      st[LF_SIZE] = f2;
      st[LF_DST] = f3;
      st[LF_SRC] = f4;
      st[LF_RES] = f5;
      st[LF_CARRY] = f6;
    }
  };
  Object.defineProperty(locked, "name", { value: `lock_${h.name || "handler"}` });
  return locked;
}

/**
 * CMPXCHG8B m64 outside 64-bit mode, locked: the quadword is read as two dwords (each
 * probed for writing) and then exchanged with one 8-byte compare-and-exchange; a split
 * or unaligned operand compares and stores under the lock word.
 */
function lock_cmpxchg8b(cpu: X86Cpu, i: number): void {
  const st = cpu.st;
  const r = cpu.regs;
  const seg = cpu.dc.seg[i]!;
  const a = ea(cpu, i);
  for (;;) {
    const lo = rmwRead32(cpu, seg, a);
    if (st[STOP] === STOP_FAULT) return;
    const pLo = st[RMW_PHYS]!;
    const splitLo = st[RMW_SPLIT]!;
    const hi = rmwRead32(cpu, seg, a + 4);
    if (st[STOP] === STOP_FAULT) return;
    const pHi = st[RMW_PHYS]!;
    const eq = lo === r[EAX] && hi === r[EDX];
    const nLo = eq ? r[EBX]! : lo;
    const nHi = eq ? r[ECX]! : hi;
    const together = splitLo === 0 && st[RMW_SPLIT] === 0 && pHi === ((pLo + 4) | 0);
    const c = together ? casRam(cpu, pLo, 8, lo, hi, nLo, nHi) : CAS_NEEDS_LOCK;
    if (c === CAS_FAILED) continue;
    if (c === CAS_MMIO) {
      // Outside RAM: the ordinary handler's stores (the device sees reads, then writes).
      physWrite32(cpu, pLo, nLo);
      rmwWrite32(cpu, nHi);
    } else if (c === CAS_NEEDS_LOCK && together) {
      st[LOCK_FAIL] = 0;
      lockedBytes(cpu, pLo, 8, pLo, 8, lo, hi, nLo, nHi);
      if (st[LOCK_FAIL] !== 0) continue;
    } else if (c === CAS_NEEDS_LOCK) {
      // The halves apart (another page, or a half split): compare again and store as the
      // ordinary handler does, under the lock word.
      const words = cpu.mem.lockWords;
      lockWordAcquire(words);
      const lo2 = rmwRead32(cpu, seg, a);
      const p2 = st[RMW_PHYS]!;
      const hi2 = rmwRead32(cpu, seg, a + 4);
      const same = lo2 === lo && hi2 === hi;
      if (same && eq) {
        physWrite32(cpu, p2, nLo);
        rmwWrite32(cpu, nHi);
      }
      lockWordRelease(words);
      if (!same) continue;
    }
    if (!eq) {
      r[EAX] = lo;
      r[EDX] = hi;
    }
    setArithFlags(st, FLAG_ZF, eq ? FLAG_ZF : 0);
    return;
  }
}

/** CMPXCHG16B m128, locked: the ordinary handler under the lock word. */
function lockWordVariant(h: Handler): Handler {
  const locked: Handler = (cpu, i) => {
    const words = cpu.mem.lockWords;
    lockWordAcquire(words);
    try {
      h(cpu, i);
    } finally {
      lockWordRelease(words);
    }
  };
  Object.defineProperty(locked, "name", { value: "lock_cmpxchg16b" });
  return locked;
}

const variants = new Map<number, number>();

/** The id of the locked variant of handler `id` (built once). */
export function lockedHandlerId(id: number): number {
  if (id === HANDLER_UD) return id;
  let v = variants.get(id);
  if (v !== undefined) return v;
  if (variants.size === 0) {
    // The CMPXCHG8B/16B handlers that need their own variants.
    variants.set(resolveHandler("cmpxchg8b_Mq", 32, false), handlerId(lock_cmpxchg8b));
    const c16 = resolveHandlerLong("cmpxchg8b_Mq", 64, false);
    variants.set(c16, handlerId(lockWordVariant(HANDLERS[c16]!)));
    v = variants.get(id);
    if (v !== undefined) return v;
  }
  v = handlerId(lockedVariant(HANDLERS[id]!));
  variants.set(id, v);
  return v;
}
