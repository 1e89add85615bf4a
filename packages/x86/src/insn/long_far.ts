/**
 * System and far-transfer instructions of 64-bit mode (SDM Vol. 2 per instruction; Vol. 3
 * §5.8.8, §6.14, §7.7):
 * - IRETQ: the frame of 64-bit event delivery — RIP, CS, RFLAGS, RSP, SS, always all five,
 *   8 bytes each (4 for IRETD, 2 with 66) — back to the same or an outer privilege level,
 *   into 64-bit or compatibility mode. NT set is #GP(0): no task returns in IA-32e mode.
 * - MOV to/from CR0, CR2, CR3, CR4, CR8 (the TPR) and DR0–DR7 with 64-bit registers;
 *   setting a reserved bit in 63:32 is #GP(0).
 * - LGDT/LIDT/SGDT/SIDT with the 10-byte pseudo-descriptor (limit, 8-byte base);
 *   LLDT/LTR with 16-byte system descriptors; SLDT/STR/SMSW/LMSW/CLTS; INVLPG; SWAPGS.
 * - SYSCALL/SYSRET (flat CS/SS caches from IA32_STAR, no descriptor table read).
 * - Far JMP/CALL/RET to 64-bit or compatibility-mode code segments by selector, and
 *   JMP/CALL through 16-byte 64-bit call gates (CALL to an inner ring switches to RSPn
 *   with a null SS). Task gates and TSSs are #GP(selector): IA-32e mode has no task
 *   switches.
 *
 * Deviations: DR0–DR3 keep bits 31:0 of a breakpoint address (the state has no high
 * halves for them); CR3 keeps bits 31:0 (the physical address space here is 32-bit), and
 * bits above MAXPHYADDR are #GP(0); descriptor tables are read through bits 31:0 of
 * their base (descriptor.ts).
 */
import { linRead8, linRead32, linWrite8, recomputeSegment } from "../access.js";
import { addr64, canonical, ea64, linear64, read64, readQ, write64, writeQ } from "../access64.js";
import type { X86Cpu } from "../cpu.js";
import {
  DESC,
  descDpl,
  descLimit,
  descPresent,
  descType,
  fetchDescriptor,
  loadNullSegment,
  loadSegmentCache,
  SYS_LDT,
  SYS_TSS32_AVAIL,
} from "../descriptor.js";
import { raiseFault } from "../exception.js";
import type { HandlerSpec } from "../handlers.js";
import { EV_CR_ACCESS, EV_DR_ACCESS, EV_INVLPG } from "../hooks.js";
import { F_MEM, F_O32, F_O64 } from "../instr.js";
import { getFlags, setFlags } from "../lazy_flags.js";
import { ACC_WRITE, dataAcc, invalidatePage, setCpl, translateLinear } from "../paging.js";
import {
  AR_DB,
  AR_DPL_SHIFT,
  AR_G,
  AR_L,
  AR_P,
  AR_S,
  AR_TYPE_ACCESSED,
  AR_TYPE_CODE,
  AR_TYPE_EC,
  AR_TYPE_RW,
  CR0_PE,
  CR0_TS,
  CR4_DE,
  CS,
  DS,
  ECX,
  EFER_SCE,
  ES,
  ESP,
  FLAG_AC,
  FLAG_AF,
  FLAG_CF,
  FLAG_DF,
  FLAG_ID,
  FLAG_IF,
  FLAG_IOPL,
  FLAG_NT,
  FLAG_OF,
  FLAG_PF,
  FLAG_RF,
  FLAG_SF,
  FLAG_TF,
  FLAG_VIF,
  FLAG_VIP,
  FLAG_ZF,
  FS,
  GP_VECTOR,
  GS,
  LDTR,
  NP_VECTOR,
  SS,
  SS_VECTOR,
  TR,
  TS_VECTOR,
  UD_VECTOR,
} from "../regs.js";
import {
  CPL,
  CR0,
  CR2,
  CR2_HI,
  CR3,
  CR4,
  CR8,
  DR_BASE,
  EA_HI,
  EFER,
  EIP,
  GDTR_BASE,
  GDTR_BASE_HI,
  GDTR_LIMIT,
  IDTR_BASE,
  IDTR_BASE_HI,
  IDTR_LIMIT,
  MSR_CSTAR,
  MSR_FMASK,
  MSR_KERNEL_GS_BASE,
  MSR_LSTAR,
  MSR_STAR,
  NMI_BLOCKED,
  PENDING,
  RIP_HI,
  STOP,
  STOP_FAULT,
  STOP_NEXT,
  VAL_HI,
} from "../state.js";
import { jumped } from "./common.js";
import { nextRip, opSize, readE, setReg, writeE } from "./long.js";
import {
  intercepted,
  MSR_IA32_CSTAR,
  MSR_IA32_FMASK,
  MSR_IA32_KERNEL_GS_BASE,
  MSR_IA32_LSTAR,
  MSR_IA32_STAR,
} from "./proc_ctrl.js";
import {
  DT_LGDT,
  DT_LIDT,
  DT_LLDT,
  DT_LTR,
  DT_SGDT,
  DT_SIDT,
  DT_SLDT,
  DT_STR,
  descTableExit,
  generalDetect,
  umipFault,
  writeCr0,
  writeCr3,
  writeCr4,
} from "./protect_ctrl.js";

/** Flags IRET always restores. */
const BASE =
  FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_TF | FLAG_DF | FLAG_OF | FLAG_NT;

const FRAME = new Int32Array(10);

function iretLong(cpu: X86Cpu, i: number) {
  const st = cpu.st;
  const f = cpu.dc.flags[i]!;
  const size = (f & F_O64) !== 0 ? 8 : (f & F_O32) !== 0 ? 4 : 2;
  const old = getFlags(st);
  if ((old & FLAG_NT) !== 0) return raiseFault(cpu, GP_VECTOR, 0);
  // Read RIP, CS, RFLAGS, RSP, SS from the stack (nothing changes until all are read).
  const sp = cpu.regs[4]!;
  const spHi = cpu.regsHi[4]!;
  for (let k = 0; k < 5; k++) {
    const at = addr64(cpu, sp, spHi, k * size);
    const atHi = st[EA_HI]!;
    if (size === 8) {
      FRAME[k * 2] = readQ(cpu, SS, at, atHi);
      FRAME[k * 2 + 1] = st[VAL_HI]!;
    } else {
      const v = read64(cpu, SS, at, atHi, size);
      FRAME[k * 2] = size === 4 ? v : v & 0xffff;
      FRAME[k * 2 + 1] = 0;
    }
    if (faulted(cpu)) return;
  }
  const ripLo = FRAME[0]!;
  const ripHi = FRAME[1]!;
  const csSel = FRAME[2]! & 0xffff;
  const popped = FRAME[4]!;
  const rspLo = FRAME[6]!;
  const rspHi = FRAME[7]!;
  const ssSel = FRAME[8]! & 0xffff;
  const cpl = st[CPL]!;
  const rpl = csSel & 3;
  const err = csSel & 0xfffc;
  if (err === 0) return raiseFault(cpu, GP_VECTOR, 0);
  if (rpl < cpl) return raiseFault(cpu, GP_VECTOR, err);
  if (!fetchDescriptor(cpu, csSel)) {
    if (!faulted(cpu)) raiseFault(cpu, GP_VECTOR, err);
    return;
  }
  const clo = DESC[0]!;
  const chi = DESC[1]!;
  const ctype = descType(chi);
  const cdpl = descDpl(chi);
  if ((ctype & 0x18) !== 0x18) return raiseFault(cpu, GP_VECTOR, err);
  if ((ctype & AR_TYPE_EC) !== 0 ? cdpl > rpl : cdpl !== rpl)
    return raiseFault(cpu, GP_VECTOR, err);
  if (!descPresent(chi)) return raiseFault(cpu, NP_VECTOR, err);
  const long = (chi & (1 << 21)) !== 0;
  if (long && !canonical(ripHi)) return raiseFault(cpu, GP_VECTOR, 0);
  // SS: a null selector is allowed when returning to 64-bit code below ring 3.
  let ssNull = (ssSel & 0xfffc) === 0;
  if (ssNull) {
    if (!long || rpl === 3) return raiseFault(cpu, GP_VECTOR, 0);
  } else {
    if ((ssSel & 3) !== rpl) return raiseFault(cpu, GP_VECTOR, ssSel & 0xfffc);
    if (!fetchDescriptor(cpu, ssSel)) {
      if (!faulted(cpu)) raiseFault(cpu, GP_VECTOR, ssSel & 0xfffc);
      return;
    }
    const shi = DESC[1]!;
    if ((descType(shi) & 0x1a) !== 0x12 || descDpl(shi) !== rpl) {
      return raiseFault(cpu, GP_VECTOR, ssSel & 0xfffc);
    }
    if (!descPresent(shi)) return raiseFault(cpu, SS_VECTOR, ssSel & 0xfffc);
    ssNull = false;
  }
  const slo = DESC[0]!;
  const shi = DESC[1]!;
  // RFLAGS: IF only when CPL ≤ IOPL; IOPL, VIF, VIP only at CPL 0.
  let mask = BASE | FLAG_RF | FLAG_AC | FLAG_ID;
  if (size === 2) mask &= 0xffff;
  if (cpl <= (old & FLAG_IOPL) >> 12) mask |= FLAG_IF;
  if (cpl === 0) mask |= FLAG_IOPL | (size === 2 ? 0 : FLAG_VIF | FLAG_VIP);
  // Commit.
  loadSegmentCache(cpu, CS, csSel, clo, chi);
  setCpl(cpu, rpl);
  if (ssNull) {
    loadNullSegment(cpu, SS, ssSel);
    cpu.segAr[SS] = cpu.segAr[SS]! | (rpl << 5);
  } else {
    loadSegmentCache(cpu, SS, ssSel, slo, shi);
  }
  recomputeSegment(cpu, SS);
  recomputeSegment(cpu, CS);
  setFlags(st, (old & ~mask) | (popped & mask));
  st[EIP] = ripLo;
  if (long) st[RIP_HI] = ripHi;
  if (size === 8) {
    cpu.regs[4] = rspLo;
    cpu.regsHi[4] = rspHi;
  } else {
    cpu.regs[4] = size === 4 ? rspLo : rspLo & 0xffff;
    cpu.regsHi[4] = 0;
  }
  if (rpl > cpl) {
    // Data segments the outer level may not use become null (SDM IRET, RETURN-TO-OUTER).
    for (const s of [ES, DS, FS, GS]) {
      const ar = cpu.segAr[s]!;
      const dataOrNonConforming = (ar & 0x18) !== 0x18 || (ar & AR_TYPE_EC) === 0;
      if (dataOrNonConforming && ((ar >> 5) & 3) < rpl && (cpu.segSel[s]! & 0xfffc) !== 0) {
        loadNullSegment(cpu, s, 0);
        recomputeSegment(cpu, s);
      }
    }
  }
  st[NMI_BLOCKED] = 0;
  jumped(cpu);
}

// Shared ---------------------------------------------------------------------------------

/** Recompute every segment register's checks, CS first (its L bit decides the others). */
function recomputeAll(cpu: X86Cpu): void {
  recomputeSegment(cpu, CS);
  for (let s = 0; s < 8; s++) if (s !== CS) recomputeSegment(cpu, s);
}

function needCpl0(cpu: X86Cpu): boolean {
  if (cpu.st[CPL] === 0) return true;
  raiseFault(cpu, GP_VECTOR, 0);
  return false;
}

const TWO32 = 4294967296;
const R11 = 11;

/** An MSR kept in cpu.msrs: the low half returned, the high half in MSR_HI[0]. */
const MSR_HI = new Int32Array(1);
/** The state slot of an MSR SYSCALL/SYSRET/SWAPGS use (state.ts MSR_*). */
function msrSlot(n: number): number {
  return n === MSR_IA32_STAR
    ? MSR_STAR
    : n === MSR_IA32_LSTAR
      ? MSR_LSTAR
      : n === MSR_IA32_CSTAR
        ? MSR_CSTAR
        : n === MSR_IA32_FMASK
          ? MSR_FMASK
          : MSR_KERNEL_GS_BASE;
}
function msr64(cpu: X86Cpu, n: number): number {
  const slot = msrSlot(n);
  MSR_HI[0] = cpu.st[slot + 1]!;
  return cpu.st[slot]!;
}
function setMsr64(cpu: X86Cpu, n: number, lo: number, hi: number): void {
  const slot = msrSlot(n);
  cpu.st[slot] = lo;
  cpu.st[slot + 1] = hi;
}

// MOV CR, MOV DR ---------------------------------------------------------------------------

/** MOV r64, CRn (n = 0, 2, 3, 4, 8; others #UD). The ModRM mod field is ignored. */
const movRdCd = (cpu: X86Cpu, i: number) => {
  const n = cpu.dc.reg[i]!;
  if (n !== 0 && n !== 2 && n !== 3 && n !== 4 && n !== 8) return raiseFault(cpu, UD_VECTOR, -1);
  if (!needCpl0(cpu)) return;
  const gpr = cpu.dc.rm[i]!;
  const x = cpu.exitInfo;
  x[1] = n;
  x[2] = 1;
  x[3] = gpr;
  x[4] = n === 0 ? cpu.st[CR0]! : n === 4 ? cpu.st[CR4]! : 0;
  if (intercepted(cpu, EV_CR_ACCESS)) return;
  const st = cpu.st;
  switch (n) {
    case 0:
      // CR0 and CR4 as the hook may have changed them (VMX read shadows).
      setReg(cpu, gpr, 64, x[4]!, 0);
      return;
    case 2:
      setReg(cpu, gpr, 64, st[CR2]!, st[CR2_HI]!);
      return;
    case 3:
      setReg(cpu, gpr, 64, st[CR3]!, 0);
      return;
    case 4:
      setReg(cpu, gpr, 64, x[4]!, 0);
      return;
    default:
      setReg(cpu, gpr, 64, st[CR8]! & 0xf, 0);
  }
};

/** Physical-address bits of CR3's high half this processor has (MAXPHYADDR 36). */
const CR3_HI_VALID = 0xf;

/** MOV CRn, r64: bits 63:32 of CR0/CR4, 63:4 of CR8 and CR3 above MAXPHYADDR are #GP(0). */
const movCdRd = (cpu: X86Cpu, i: number) => {
  const n = cpu.dc.reg[i]!;
  if (n !== 0 && n !== 2 && n !== 3 && n !== 4 && n !== 8) return raiseFault(cpu, UD_VECTOR, -1);
  if (!needCpl0(cpu)) return;
  const gpr = cpu.dc.rm[i]!;
  const v = cpu.regs[gpr]!;
  const vh = cpu.regsHi[gpr]!;
  const x = cpu.exitInfo;
  x[1] = n;
  x[2] = 0;
  x[3] = gpr;
  x[4] = v;
  if (intercepted(cpu, EV_CR_ACCESS)) return;
  const st = cpu.st;
  switch (n) {
    case 0:
      if (vh !== 0) return raiseFault(cpu, GP_VECTOR, 0);
      // The value as the hook may have changed it (VMX: host-owned bits kept).
      writeCr0(cpu, x[4]!);
      return;
    case 2:
      st[CR2] = v;
      st[CR2_HI] = vh;
      return;
    case 3:
      if ((vh & ~CR3_HI_VALID) !== 0) return raiseFault(cpu, GP_VECTOR, 0);
      writeCr3(cpu, v);
      return;
    case 4:
      if (vh !== 0) return raiseFault(cpu, GP_VECTOR, 0);
      writeCr4(cpu, x[4]!);
      return;
    default:
      if (vh !== 0 || (v & ~0xf) !== 0) return raiseFault(cpu, GP_VECTOR, 0);
      st[CR8] = v;
      // A lower task priority may unmask a pending interrupt.
      st[PENDING] = 1;
      st[STOP] = STOP_NEXT;
  }
};

/** Where DRn lives, or -1 for #UD (DR8–DR15; DR4/DR5 with CR4.DE). */
function drSlot(cpu: X86Cpu, n: number): number {
  if (n > 7) return -1;
  if (n === 4 || n === 5) return (cpu.st[CR4]! & CR4_DE) !== 0 ? -1 : DR_BASE + n + 2;
  return DR_BASE + n;
}

const movRdDd = (cpu: X86Cpu, i: number) => {
  const n = cpu.dc.reg[i]!;
  const slot = drSlot(cpu, n);
  if (slot < 0) return raiseFault(cpu, UD_VECTOR, -1);
  if (!needCpl0(cpu)) return;
  if (generalDetect(cpu)) return;
  const gpr = cpu.dc.rm[i]!;
  const x = cpu.exitInfo;
  x[1] = n;
  x[2] = 1;
  x[3] = gpr;
  if (intercepted(cpu, EV_DR_ACCESS)) return;
  setReg(cpu, gpr, 64, cpu.st[slot]!, 0);
};

/** MOV DRn, r64: DR6/DR7 bits 63:32 are #GP(0); their fixed bits as in 32-bit code. */
const movDdRd = (cpu: X86Cpu, i: number) => {
  const n = cpu.dc.reg[i]!;
  const slot = drSlot(cpu, n);
  if (slot < 0) return raiseFault(cpu, UD_VECTOR, -1);
  if (!needCpl0(cpu)) return;
  if (generalDetect(cpu)) return;
  const gpr = cpu.dc.rm[i]!;
  const v = cpu.regs[gpr]!;
  const vh = cpu.regsHi[gpr]!;
  if (slot >= DR_BASE + 6 && vh !== 0) return raiseFault(cpu, GP_VECTOR, 0);
  const x = cpu.exitInfo;
  x[1] = n;
  x[2] = 0;
  x[3] = gpr;
  if (intercepted(cpu, EV_DR_ACCESS)) return;
  const st = cpu.st;
  if (slot === DR_BASE + 6) st[slot] = (v & 0x0000_e00f) | (0xffff_0ff0 | 0);
  else if (slot === DR_BASE + 7) st[slot] = (v & (0xffff_2bff | 0)) | 0x400;
  else st[slot] = v;
  st[STOP] = STOP_NEXT;
};

/** SMSW: CR0 zero-extended into a register at the operand size; 16 bits to memory. */
function smsw(isMem: boolean) {
  return (cpu: X86Cpu, i: number) => {
    if (umipFault(cpu)) return;
    const v = cpu.st[CR0]!;
    if (isMem) writeE(cpu, i, 16, true, v & 0xffff, 0);
    else {
      const size = opSize(cpu, i);
      setReg(cpu, cpu.dc.rm[i]!, size, size === 16 ? v & 0xffff : v, 0);
    }
  };
}

/** LMSW Ew: CR0 bits 3:0; PE can be set but not cleared. */
function lmsw(isMem: boolean) {
  return (cpu: X86Cpu, i: number) => {
    if (!needCpl0(cpu)) return;
    const v = readE(cpu, i, 16, isMem);
    if (cpu.st[STOP] === STOP_FAULT) return;
    const x = cpu.exitInfo;
    x[1] = 0;
    x[2] = 3;
    x[3] = isMem ? -1 : cpu.dc.rm[i]!;
    x[4] = v;
    if (intercepted(cpu, EV_CR_ACCESS)) return;
    const src = x[4]!;
    const old = cpu.st[CR0]!;
    writeCr0(cpu, (old & ~0xe) | (src & 0xf) | (old & CR0_PE));
  };
}

const clts = (cpu: X86Cpu) => {
  if (!needCpl0(cpu)) return;
  const x = cpu.exitInfo;
  x[1] = 0;
  x[2] = 2;
  x[3] = -1;
  x[4] = cpu.st[CR0]! & ~CR0_TS;
  if (intercepted(cpu, EV_CR_ACCESS)) return;
  cpu.st[CR0] = x[4]!;
};

// Descriptor tables ------------------------------------------------------------------------

/**
 * LGDT/LIDT m16&64: the limit, then an 8-byte base (the operand size is ignored); a
 * non-canonical base is #GP(0) (SDM Vol. 2 LGDT/LIDT, 64-bit mode exceptions).
 */
function lgdt(idt: boolean) {
  return (cpu: X86Cpu, i: number) => {
    if (!needCpl0(cpu)) return;
    if (descTableExit(cpu, idt ? DT_LIDT : DT_LGDT)) return;
    const st = cpu.st;
    const lo = ea64(cpu, i);
    const hi = st[EA_HI]!;
    const seg = cpu.dc.seg[i]!;
    const limit = read64(cpu, seg, lo, hi, 2);
    if (faulted(cpu)) return;
    const at = addr64(cpu, lo, hi, 2);
    const base = readQ(cpu, seg, at, st[EA_HI]!);
    if (faulted(cpu)) return;
    if (!canonical(st[VAL_HI]!)) return raiseFault(cpu, GP_VECTOR, 0);
    st[idt ? IDTR_LIMIT : GDTR_LIMIT] = limit;
    st[idt ? IDTR_BASE : GDTR_BASE] = base;
    st[idt ? IDTR_BASE_HI : GDTR_BASE_HI] = st[VAL_HI]!;
  };
}

/** Fault unless `size` bytes at seg:hi:lo may be written (page by page). */
function probeWrite64(cpu: X86Cpu, seg: number, lo: number, hi: number, size: number): boolean {
  const st = cpu.st;
  const lin = linear64(cpu, seg, lo, hi);
  if (faulted(cpu)) return false;
  const linHi = st[EA_HI]!;
  translateLinear(cpu, lin, dataAcc(cpu, ACC_WRITE), linHi);
  if (faulted(cpu)) return false;
  if ((lin & 0xfff) + size > 0x1000) {
    const last = addr64(cpu, lin, linHi, size - 1);
    translateLinear(cpu, last, dataAcc(cpu, ACC_WRITE), st[EA_HI]!);
    if (faulted(cpu)) return false;
  }
  return true;
}

/** SGDT/SIDT m16&64: 10 bytes, checked before any is written. */
function sgdt(idt: boolean) {
  return (cpu: X86Cpu, i: number) => {
    if (umipFault(cpu)) return;
    if (descTableExit(cpu, idt ? DT_SIDT : DT_SGDT)) return;
    const st = cpu.st;
    const lo = ea64(cpu, i);
    const hi = st[EA_HI]!;
    const seg = cpu.dc.seg[i]!;
    if (!probeWrite64(cpu, seg, lo, hi, 10)) return;
    write64(cpu, seg, lo, hi, 2, st[idt ? IDTR_LIMIT : GDTR_LIMIT]!);
    if (faulted(cpu)) return;
    const at = addr64(cpu, lo, hi, 2);
    writeQ(
      cpu,
      seg,
      at,
      st[EA_HI]!,
      st[idt ? IDTR_BASE : GDTR_BASE]!,
      st[idt ? IDTR_BASE_HI : GDTR_BASE_HI]!,
    );
  };
}

/** SLDT/STR: a 16-bit store to memory, zero-extended into a 32/64-bit register. */
function sldtStr(which: number, seg: number, isMem: boolean) {
  return (cpu: X86Cpu, i: number) => {
    if (umipFault(cpu)) return;
    if (descTableExit(cpu, which)) return;
    const v = cpu.segSel[seg]! & 0xffff;
    if (isMem) writeE(cpu, i, 16, true, v, 0);
    else setReg(cpu, cpu.dc.rm[i]!, opSize(cpu, i), v, 0);
  };
}

/** The upper 8 bytes of the 16-byte system descriptor last fetched: [0] base 63:32, [1]. */
const UPPER = new Int32Array(2);

/**
 * Fetch the 16-byte system descriptor `sel` names in the GDT into DESC and UPPER; raises
 * #GP(selector) when it is beyond the limit and returns false (also after a #PF).
 */
function fetchSystem16(cpu: X86Cpu, sel: number): boolean {
  const err = sel & 0xfffc;
  if ((sel & 0xfff8) + 15 > cpu.st[GDTR_LIMIT]! >>> 0 || !fetchDescriptor(cpu, sel)) {
    if (!faulted(cpu)) raiseFault(cpu, GP_VECTOR, err);
    return false;
  }
  const at = DESC[2]!;
  UPPER[0] = linRead32(cpu, (at + 8) | 0);
  UPPER[1] = linRead32(cpu, (at + 12) | 0);
  return !faulted(cpu);
}

/** The selector operand (Ew) of LLDT/LTR. */
function selectorOperand(cpu: X86Cpu, i: number): number {
  return readE(cpu, i, 16, (cpu.dc.flags[i]! & F_MEM) !== 0);
}

/**
 * The checks LLDT and LTR share on a fetched 16-byte descriptor: type `want`, the upper
 * type field 0, a canonical base; present (#NP). False after the fault.
 */
function checkSystem16(cpu: X86Cpu, sel: number, want: number): boolean {
  const err = sel & 0xfffc;
  const hi = DESC[1]!;
  const baseHi = UPPER[0]!;
  if (descType(hi) !== want || (UPPER[1]! & 0x1f00) !== 0 || !canonical(baseHi)) {
    raiseFault(cpu, GP_VECTOR, err);
    return false;
  }
  if (!descPresent(hi)) {
    raiseFault(cpu, NP_VECTOR, err);
    return false;
  }
  return true;
}

/** LLDT Ew: an LDT descriptor (16 bytes) from the GDT; null leaves LDTR unusable. */
const lldt = (cpu: X86Cpu, i: number) => {
  if (!needCpl0(cpu)) return;
  if (descTableExit(cpu, DT_LLDT)) return;
  const sel = selectorOperand(cpu, i);
  if (faulted(cpu)) return;
  const err = sel & 0xfffc;
  if (err === 0) {
    loadNullSegment(cpu, LDTR, sel);
    recomputeSegment(cpu, LDTR);
    return;
  }
  if ((sel & 4) !== 0) return raiseFault(cpu, GP_VECTOR, err);
  if (!fetchSystem16(cpu, sel) || !checkSystem16(cpu, sel, SYS_LDT)) return;
  loadSegmentCache(cpu, LDTR, sel, DESC[0]!, DESC[1]!);
  cpu.segBaseHi[LDTR] = UPPER[0]!;
  recomputeSegment(cpu, LDTR);
};

/** LTR Ew: an available 64-bit TSS (16 bytes) from the GDT, marked busy there. */
const ltr = (cpu: X86Cpu, i: number) => {
  if (!needCpl0(cpu)) return;
  if (descTableExit(cpu, DT_LTR)) return;
  const sel = selectorOperand(cpu, i);
  if (faulted(cpu)) return;
  const err = sel & 0xfffc;
  if (err === 0) return raiseFault(cpu, GP_VECTOR, 0);
  if ((sel & 4) !== 0) return raiseFault(cpu, GP_VECTOR, err);
  if (!fetchSystem16(cpu, sel) || !checkSystem16(cpu, sel, SYS_TSS32_AVAIL)) return;
  const at = (DESC[2]! + 5) | 0;
  linWrite8(cpu, at, linRead8(cpu, at) | 2);
  if (faulted(cpu)) return;
  loadSegmentCache(cpu, TR, sel, DESC[0]!, DESC[1]! | 0x200);
  cpu.segBaseHi[TR] = UPPER[0]!;
  recomputeSegment(cpu, TR);
};

/** INVLPG m: the linear address (FS/GS base added); a non-canonical one is a no-op. */
const invlpg = (cpu: X86Cpu, i: number) => {
  if (!needCpl0(cpu)) return;
  const st = cpu.st;
  let lo = ea64(cpu, i);
  let hi = st[EA_HI]!;
  const seg = cpu.dc.seg[i]!;
  if (seg === FS || seg === GS) {
    const s = (lo >>> 0) + (cpu.segBase[seg]! >>> 0);
    hi = (hi + cpu.segBaseHi[seg]! + (s >= TWO32 ? 1 : 0)) | 0;
    lo = s | 0;
  }
  cpu.exitInfo[1] = lo;
  cpu.exitInfo[2] = hi;
  if (intercepted(cpu, EV_INVLPG)) return;
  if (canonical(hi)) invalidatePage(cpu, lo);
  // Blocks found through the old translation may be running: finish this one.
  st[STOP] = STOP_NEXT;
};

/** SWAPGS (0F 01 F8): exchange the GS base with IA32_KERNEL_GS_BASE; CPL 0. */
const swapgs = (cpu: X86Cpu) => {
  if (!needCpl0(cpu)) return;
  const lo = msr64(cpu, MSR_IA32_KERNEL_GS_BASE);
  const hi = MSR_HI[0]!;
  setMsr64(cpu, MSR_IA32_KERNEL_GS_BASE, cpu.segBase[GS]!, cpu.segBaseHi[GS]!);
  cpu.segBase[GS] = lo;
  cpu.segBaseHi[GS] = hi;
};

// SYSCALL / SYSRET -------------------------------------------------------------------------

/** Execute/read accessed code, S, P, G; DPL 0. L (64-bit) or D (compatibility) added. */
const AR_FLAT_CODE = AR_TYPE_CODE | AR_TYPE_RW | AR_TYPE_ACCESSED | AR_S | AR_P | AR_G;
/** Read/write accessed data, S, P, B, G; DPL 0. */
const AR_FLAT_STACK = AR_TYPE_RW | AR_TYPE_ACCESSED | AR_S | AR_P | AR_DB | AR_G;
const DPL3 = 3 << AR_DPL_SHIFT;

function loadFlat(cpu: X86Cpu, seg: number, selector: number, ar: number): void {
  cpu.segSel[seg] = selector;
  cpu.segBase[seg] = 0;
  cpu.segBaseHi[seg] = 0;
  cpu.segLimit[seg] = 0xffff_ffff | 0;
  cpu.segAr[seg] = ar;
}

/** RFLAGS bits SYSRET restores from R11 (SDM: R11 AND 3C7FD7H, then bit 1 set). */
const SYSRET_FLAGS = 0x3c_7fd7;

/**
 * SYSCALL (SDM Vol. 2): RCX = next RIP, R11 = RFLAGS, RFLAGS &= ~IA32_FMASK (and RF),
 * CS = STAR[47:32] & FFFCh (flat 64-bit ring-0 code), SS = that + 8, CPL 0, RIP = LSTAR.
 * #UD unless EFER.SCE (this handler runs only in 64-bit mode).
 */
const syscall = (cpu: X86Cpu, i: number) => {
  const st = cpu.st;
  if ((st[EFER]! & EFER_SCE) === 0) return raiseFault(cpu, UD_VECTOR, -1);
  const ret = nextRip(cpu, i);
  const retHi = st[EA_HI]!;
  const flags = getFlags(st);
  const lstar = msr64(cpu, MSR_IA32_LSTAR);
  const lstarHi = MSR_HI[0]!;
  const fmask = msr64(cpu, MSR_IA32_FMASK);
  msr64(cpu, MSR_IA32_STAR);
  const cs = MSR_HI[0]! & 0xffff;
  setReg(cpu, ECX, 64, ret, retHi);
  setReg(cpu, R11, 64, flags, 0);
  setFlags(st, flags & ~fmask & ~FLAG_RF);
  loadFlat(cpu, CS, cs & 0xfffc, AR_FLAT_CODE | AR_L);
  loadFlat(cpu, SS, (cs + 8) & 0xffff, AR_FLAT_STACK);
  setCpl(cpu, 0);
  recomputeAll(cpu);
  st[EIP] = lstar;
  st[RIP_HI] = lstarHi;
  st[PENDING] = 1;
  jumped(cpu);
};

/**
 * SYSRET (SDM Vol. 2): CPL 0 only; to 64-bit code at RCX (REX.W; #GP(0) when RCX is not
 * canonical, checked in ring 0 as Intel does) with CS = STAR[63:48] + 16, or to
 * compatibility mode at ECX with CS = STAR[63:48]; SS = STAR[63:48] + 8; both RPL 3;
 * RFLAGS from R11; CPL 3.
 */
const sysret = (cpu: X86Cpu, i: number) => {
  const st = cpu.st;
  if ((st[EFER]! & EFER_SCE) === 0) return raiseFault(cpu, UD_VECTOR, -1);
  if (!needCpl0(cpu)) return;
  const to64 = (cpu.dc.flags[i]! & F_O64) !== 0;
  const ripLo = cpu.regs[ECX]!;
  const ripHi = to64 ? cpu.regsHi[ECX]! : 0;
  if (to64 && !canonical(ripHi)) return raiseFault(cpu, GP_VECTOR, 0);
  msr64(cpu, MSR_IA32_STAR);
  const base = MSR_HI[0]! >>> 16;
  setFlags(st, (cpu.regs[R11]! & SYSRET_FLAGS) | 2);
  if (to64) loadFlat(cpu, CS, ((base + 16) & 0xffff) | 3, AR_FLAT_CODE | AR_L | DPL3);
  else loadFlat(cpu, CS, base | 3, AR_FLAT_CODE | AR_DB | DPL3);
  loadFlat(cpu, SS, ((base + 8) & 0xffff) | 3, AR_FLAT_STACK | DPL3);
  setCpl(cpu, 3);
  recomputeAll(cpu);
  st[EIP] = ripLo;
  st[RIP_HI] = ripHi;
  st[PENDING] = 1;
  jumped(cpu);
};

// Far JMP, CALL, RET -------------------------------------------------------------------------

/** The code descriptor of a far transfer, saved: [0] low, [1] high, [2] linear address. */
const CODE = new Int32Array(3);

/** The far pointer's offset size in bytes: 8 (REX.W), 4, or 2 (66). */
function farSize(cpu: X86Cpu, i: number): number {
  const f = cpu.dc.flags[i]!;
  return (f & F_O64) !== 0 ? 8 : (f & F_O32) !== 0 ? 4 : 2;
}

/** Read `size` (2, 4, 8) bytes at seg:hi:lo into lo (returned) and st[VAL_HI]. */
function readSized(cpu: X86Cpu, seg: number, lo: number, hi: number, size: number): number {
  if (size === 8) return readQ(cpu, seg, lo, hi);
  cpu.st[VAL_HI] = 0;
  return read64(cpu, seg, lo, hi, size);
}

/**
 * Fetch and check a code segment for a far transfer into CODE: a code segment (a system
 * descriptor: #GP(selector) — no call gates here), not L with D, the privilege rule of
 * `ret` (RETF: conforming DPL ≤ RPL, else DPL = RPL) or of JMP/CALL (conforming DPL ≤
 * CPL, else RPL ≤ CPL and DPL = CPL), present (#NP). False after the fault.
 */
function checkCode(cpu: X86Cpu, sel: number, ret: boolean): boolean {
  const err = sel & 0xfffc;
  if (err === 0) {
    raiseFault(cpu, GP_VECTOR, 0);
    return false;
  }
  if (!fetchDescriptor(cpu, sel)) {
    if (!faulted(cpu)) raiseFault(cpu, GP_VECTOR, err);
    return false;
  }
  const hi = DESC[1]!;
  const type = descType(hi);
  const dpl = descDpl(hi);
  const cpl = cpu.st[CPL]!;
  const rpl = sel & 3;
  const conforming = (type & AR_TYPE_EC) !== 0;
  let bad = (type & 0x18) !== 0x18 || ((hi & (1 << 21)) !== 0 && (hi & (1 << 22)) !== 0);
  if (ret) bad ||= conforming ? dpl > rpl : dpl !== rpl;
  else bad ||= conforming ? dpl > cpl : rpl > cpl || dpl !== cpl;
  if (bad) {
    raiseFault(cpu, GP_VECTOR, err);
    return false;
  }
  if (!descPresent(hi)) {
    raiseFault(cpu, NP_VECTOR, err);
    return false;
  }
  CODE[0] = DESC[0]!;
  CODE[1] = hi;
  CODE[2] = DESC[2]!;
  return true;
}

/** The target RIP must be canonical (64-bit code) or within the limit (compatibility). */
function checkTarget(cpu: X86Cpu, lo: number, hi: number): boolean {
  const long = (CODE[1]! & (1 << 21)) !== 0;
  const ok = long ? canonical(hi) : hi === 0 && lo >>> 0 <= descLimit(CODE[0]!, CODE[1]!) >>> 0;
  if (!ok) raiseFault(cpu, GP_VECTOR, 0);
  return ok;
}

/** Set the accessed bit of the descriptor in CODE (in memory); false after a #PF. */
function touchCode(cpu: X86Cpu): boolean {
  if ((CODE[1]! & 0x100) !== 0) return true;
  const at = (CODE[2]! + 5) | 0;
  linWrite8(cpu, at, linRead8(cpu, at) | 1);
  CODE[1] = CODE[1]! | 0x100;
  return !faulted(cpu);
}

/** Commit CS from CODE with RPL = `cpl` (the new CPL) and RIP; nothing here faults. */
function enterCode(cpu: X86Cpu, sel: number, cpl: number, lo: number, hi: number): void {
  loadSegmentCache(cpu, CS, (sel & 0xfffc) | cpl, CODE[0]!, CODE[1]! | 0x100);
  setCpl(cpu, cpl);
  recomputeAll(cpu);
  cpu.st[EIP] = lo;
  cpu.st[RIP_HI] = (CODE[1]! & (1 << 21)) !== 0 ? hi : 0;
  jumped(cpu);
}

/** JMP FAR m16:16/32/64 and CALL FAR (pushes CS, then RIP, at the operand size). */
function farJmpCall(call: boolean) {
  return (cpu: X86Cpu, i: number) => {
    const st = cpu.st;
    const size = farSize(cpu, i);
    const lo = ea64(cpu, i);
    const hi = st[EA_HI]!;
    const seg = cpu.dc.seg[i]!;
    const off = readSized(cpu, seg, lo, hi, size);
    if (faulted(cpu)) return;
    const offHi = st[VAL_HI]!;
    const selAt = addr64(cpu, lo, hi, size);
    const sel = read64(cpu, seg, selAt, st[EA_HI]!, 2);
    if (faulted(cpu)) return;
    if (isCallGate(cpu, sel)) {
      callGate64(cpu, i, call, sel);
      return;
    }
    if (faulted(cpu)) return;
    if (!checkCode(cpu, sel, false) || !checkTarget(cpu, off, offHi)) return;
    if (!touchCode(cpu)) return;
    if (call) {
      const ret = nextRip(cpu, i);
      const retHi = st[EA_HI]!;
      const sp = cpu.regs[ESP]!;
      const spHi = cpu.regsHi[ESP]!;
      const csAt = addr64(cpu, sp, spHi, -size);
      const csAtHi = st[EA_HI]!;
      const ripAt = addr64(cpu, sp, spHi, -2 * size);
      const ripAtHi = st[EA_HI]!;
      if (!probeWrite64(cpu, SS, ripAt, ripAtHi, 2 * size)) return;
      writeSized(cpu, csAt, csAtHi, size, cpu.segSel[CS]! & 0xffff, 0);
      writeSized(cpu, ripAt, ripAtHi, size, ret, retHi);
      if (faulted(cpu)) return;
      cpu.regs[ESP] = ripAt;
      cpu.regsHi[ESP] = ripAtHi;
    }
    enterCode(cpu, sel, st[CPL]!, off, offHi);
  };
}

/** The quadwords a call through a gate pushes (lo, hi pairs), reused. */
const GATE_FRAME = new Int32Array(8);

/** True when `sel` names a (64-bit) call gate: a system descriptor of type 0Ch. */
function isCallGate(cpu: X86Cpu, sel: number): boolean {
  if ((sel & 0xfffc) === 0 || !fetchDescriptor(cpu, sel)) return false;
  const hi = DESC[1]!;
  return (hi & (1 << 12)) === 0 && descType(hi) === 0xc;
}

/**
 * JMP/CALL FAR through a 64-bit call gate (SDM Vol. 2 CALL, "IA-32e mode"; Vol. 3
 * §5.8.6): a 16-byte gate whose upper type field is 0, DPL ≥ CPL and ≥ RPL; a 64-bit
 * target code segment (L = 1, D = 0) at a canonical offset; CALL to a more privileged
 * non-conforming segment takes RSP from the TSS (RSPn), SS becomes null with RPL = the new
 * CPL, and the old SS, RSP, CS, RIP are pushed as quadwords (no parameters are copied);
 * JMP may not change privilege.
 */
function callGate64(cpu: X86Cpu, i: number, call: boolean, sel: number) {
  const st = cpu.st;
  const gateErr = sel & 0xfffc;
  const gLo = DESC[0]!;
  const gHi = DESC[1]!;
  const at = DESC[2]!;
  const tableLimit = (sel & 4) !== 0 ? cpu.segLimit[LDTR]! : st[GDTR_LIMIT]!;
  if ((sel & 0xfff8) + 15 > tableLimit >>> 0) return raiseFault(cpu, GP_VECTOR, gateErr);
  const offHi = linRead32(cpu, (at + 8) | 0);
  const upper = linRead32(cpu, (at + 12) | 0);
  if (faulted(cpu)) return;
  const cpl = st[CPL]!;
  const gdpl = descDpl(gHi);
  if ((upper & 0x1f00) !== 0 || gdpl < cpl || gdpl < (sel & 3)) {
    return raiseFault(cpu, GP_VECTOR, gateErr);
  }
  if (!descPresent(gHi)) return raiseFault(cpu, NP_VECTOR, gateErr);
  const csSel = gLo >>> 16;
  const offLo = (gHi & 0xffff_0000) | (gLo & 0xffff);
  const csErr = csSel & 0xfffc;
  if (csErr === 0) return raiseFault(cpu, GP_VECTOR, 0);
  if (!fetchDescriptor(cpu, csSel)) {
    if (!faulted(cpu)) raiseFault(cpu, GP_VECTOR, csErr);
    return;
  }
  const clo = DESC[0]!;
  const chi = DESC[1]!;
  const ctype = descType(chi);
  const dpl = descDpl(chi);
  const conforming = (ctype & AR_TYPE_EC) !== 0;
  const longCode = (chi & (1 << 21)) !== 0 && (chi & (1 << 22)) === 0;
  const privOk = call ? dpl <= cpl : conforming ? dpl <= cpl : dpl === cpl;
  if ((ctype & 0x18) !== 0x18 || !longCode || !privOk) return raiseFault(cpu, GP_VECTOR, csErr);
  if (!descPresent(chi)) return raiseFault(cpu, NP_VECTOR, csErr);
  if (!canonical(offHi)) return raiseFault(cpu, GP_VECTOR, 0);
  CODE[0] = clo;
  CODE[1] = chi;
  CODE[2] = DESC[2]!;
  if (!touchCode(cpu)) return;
  const newCpl = conforming ? cpl : dpl;
  if (!call) {
    enterCode(cpu, csSel, newCpl, offLo, offHi);
    return;
  }
  const ret = nextRip(cpu, i);
  const retHi = st[EA_HI]!;
  const oldSs = cpu.segSel[SS]! & 0xffff;
  const oldSp = cpu.regs[ESP]!;
  const oldSpHi = cpu.regsHi[ESP]!;
  let sp = oldSp;
  let spHi = oldSpHi;
  const inner = newCpl < cpl;
  if (inner) {
    // RSPn of the 64-bit TSS.
    const off = 4 + 8 * newCpl;
    if (off + 7 > cpu.segLimit[TR]! >>> 0)
      return raiseFault(cpu, TS_VECTOR, cpu.segSel[TR]! & 0xfffc);
    const tssAt = addr64(cpu, cpu.segBase[TR]!, cpu.segBaseHi[TR]!, off);
    const tssAtHi = st[EA_HI]!;
    sp = linRead32(cpu, tssAt);
    spHi = linRead32(cpu, (tssAt + 4) | 0);
    if (faulted(cpu)) return;
    if (tssAtHi !== 0 || !canonical(spHi)) return raiseFault(cpu, SS_VECTOR, 0);
  }
  const count = inner ? 4 : 2;
  // The pushes are accesses at the new privilege; every slot is checked first.
  setCpl(cpu, newCpl);
  const bottom = addr64(cpu, sp, spHi, -8 * count);
  const bottomHi = st[EA_HI]!;
  if (!probeWrite64(cpu, SS, bottom, bottomHi, 8 * count)) {
    setCpl(cpu, cpl);
    return;
  }
  // From the top: [SS, RSP,] CS, RIP.
  let n = 0;
  if (inner) {
    GATE_FRAME[n++] = oldSs;
    GATE_FRAME[n++] = 0;
    GATE_FRAME[n++] = oldSp;
    GATE_FRAME[n++] = oldSpHi;
  }
  GATE_FRAME[n++] = cpu.segSel[CS]! & 0xffff;
  GATE_FRAME[n++] = 0;
  GATE_FRAME[n++] = ret;
  GATE_FRAME[n++] = retHi;
  for (let k = 0; k < count; k++) {
    const slot = addr64(cpu, bottom, bottomHi, 8 * (count - 1 - k));
    writeQ(cpu, SS, slot, st[EA_HI]!, GATE_FRAME[2 * k]!, GATE_FRAME[2 * k + 1]!);
  }
  if (inner) {
    loadNullSegment(cpu, SS, newCpl);
    cpu.segAr[SS] = cpu.segAr[SS]! | (newCpl << 5);
    recomputeSegment(cpu, SS);
  }
  cpu.regs[ESP] = bottom;
  cpu.regsHi[ESP] = bottomHi;
  enterCode(cpu, csSel, newCpl, offLo, offHi);
}

function writeSized(cpu: X86Cpu, lo: number, hi: number, size: number, v: number, vh: number) {
  if (size === 8) writeQ(cpu, SS, lo, hi, v, vh);
  else write64(cpu, SS, lo, hi, size, v);
}

/** RETF pops: [0..1] RIP, [2] CS, [4..5] RSP, [6] SS. */
const POPPED = new Int32Array(8);

/**
 * RETF / RETF Iw in 64-bit mode (SDM Vol. 2 RET, IA-32e mode): RIP and CS (at the operand
 * size), to the same privilege, or to an outer one popping RSP and SS too (a null SS is
 * allowed returning to 64-bit code below ring 3); data segments the outer level may not
 * use become null.
 */
function retf(withImm: boolean) {
  return (cpu: X86Cpu, i: number) => {
    const st = cpu.st;
    const size = farSize(cpu, i);
    const imm = withImm ? cpu.dc.imm[i]! & 0xffff : 0;
    const sp = cpu.regs[ESP]!;
    const spHi = cpu.regsHi[ESP]!;
    POPPED[0] = readSized(cpu, SS, sp, spHi, size);
    if (faulted(cpu)) return;
    POPPED[1] = st[VAL_HI]!;
    let at = addr64(cpu, sp, spHi, size);
    POPPED[2] = read64(cpu, SS, at, st[EA_HI]!, 2);
    if (faulted(cpu)) return;
    const sel = POPPED[2]! & 0xffff;
    const cpl = st[CPL]!;
    const rpl = sel & 3;
    if ((sel & 0xfffc) !== 0 && rpl < cpl) return raiseFault(cpu, GP_VECTOR, sel & 0xfffc);
    if (!checkCode(cpu, sel, true)) return;
    const long = (CODE[1]! & (1 << 21)) !== 0;
    if (!checkTarget(cpu, POPPED[0]!, POPPED[1]!)) return;
    if (rpl === cpl) {
      if (!touchCode(cpu)) return;
      const newSp = addr64(cpu, sp, spHi, 2 * size + imm);
      const newSpHi = st[EA_HI]!;
      enterCode(cpu, sel, cpl, POPPED[0]!, POPPED[1]!);
      cpu.regs[ESP] = newSp;
      cpu.regsHi[ESP] = newSpHi;
      return;
    }
    // To an outer level: RSP and SS follow the parameters.
    at = addr64(cpu, sp, spHi, 2 * size + imm);
    const atHi = st[EA_HI]!;
    POPPED[4] = readSized(cpu, SS, at, atHi, size);
    if (faulted(cpu)) return;
    POPPED[5] = st[VAL_HI]!;
    const ssAt = addr64(cpu, at, atHi, size);
    const ssSel = read64(cpu, SS, ssAt, st[EA_HI]!, 2) & 0xffff;
    if (faulted(cpu)) return;
    const ssErr = ssSel & 0xfffc;
    const ssNull = ssErr === 0;
    if (ssNull) {
      if (!long || rpl === 3) return raiseFault(cpu, GP_VECTOR, 0);
    } else {
      if ((ssSel & 3) !== rpl) return raiseFault(cpu, GP_VECTOR, ssErr);
      if (!fetchDescriptor(cpu, ssSel)) {
        if (!faulted(cpu)) raiseFault(cpu, GP_VECTOR, ssErr);
        return;
      }
      const shi = DESC[1]!;
      if ((descType(shi) & 0x1a) !== 0x12 || descDpl(shi) !== rpl) {
        return raiseFault(cpu, GP_VECTOR, ssErr);
      }
      if (!descPresent(shi)) return raiseFault(cpu, SS_VECTOR, ssErr);
    }
    const slo = DESC[0]!;
    const shi = DESC[1]!;
    if (!touchCode(cpu)) return;
    enterCode(cpu, sel, rpl, POPPED[0]!, POPPED[1]!);
    if (ssNull) {
      loadNullSegment(cpu, SS, ssSel);
      cpu.segAr[SS] = cpu.segAr[SS]! | (rpl << 5);
    } else {
      loadSegmentCache(cpu, SS, ssSel, slo, shi);
    }
    recomputeSegment(cpu, SS);
    let rsp = POPPED[4]!;
    let rspHi = size === 8 ? POPPED[5]! : 0;
    if (!long) rspHi = 0;
    rsp = addr64(cpu, rsp, rspHi, imm);
    rspHi = long ? st[EA_HI]! : 0;
    cpu.regs[ESP] = rsp;
    cpu.regsHi[ESP] = rspHi;
    nullOuterSegments(cpu, rpl);
  };
}

/** Data (and non-conforming code) segments more privileged than `cpl` become null. */
function nullOuterSegments(cpu: X86Cpu, cpl: number): void {
  for (let s = 0; s < 6; s++) {
    if (s === CS || s === SS) continue;
    const ar = cpu.segAr[s]!;
    const dataOrNonConforming = (ar & 0x18) !== 0x18 || (ar & AR_TYPE_EC) === 0;
    if (dataOrNonConforming && ((ar >> 5) & 3) < cpl && (cpu.segSel[s]! & 0xfffc) !== 0) {
      loadNullSegment(cpu, s, 0);
      recomputeSegment(cpu, s);
    }
  }
}

function faulted(cpu: X86Cpu): boolean {
  return cpu.st[STOP] === STOP_FAULT;
}

function forms(make: (isMem: boolean) => (cpu: X86Cpu, i: number) => void) {
  return { reg: make(false), mem: make(true) };
}

export const LONG_FAR: Readonly<Record<string, HandlerSpec>> = {
  iret: iretLong,
  mov_Rd_Cd: movRdCd,
  mov_Cd_Rd: movCdRd,
  mov_Rd_Dd: movRdDd,
  mov_Dd_Rd: movDdRd,
  smsw_Ew: forms(smsw),
  lmsw_Ew: forms(lmsw),
  clts,
  lgdt_Ms: lgdt(false),
  lidt_Ms: lgdt(true),
  sgdt_Ms: sgdt(false),
  sidt_Ms: sgdt(true),
  sldt_Ew: forms((m) => sldtStr(DT_SLDT, LDTR, m)),
  str_Ew: forms((m) => sldtStr(DT_STR, TR, m)),
  lldt_Ew: lldt,
  ltr_Ew: ltr,
  invlpg_Mb: invlpg,
  swapgs,
  syscall,
  sysret,
  jmpf_Mp: farJmpCall(false),
  callf_Mp: farJmpCall(true),
  retf: retf(false),
  retf_Iw: retf(true),
};
