/**
 * System instructions of protected mode (Bochs protect_ctrl.cc, crregs.cc): LGDT/LIDT/
 * SGDT/SIDT, LLDT/SLDT, LTR/STR, LMSW/SMSW, CLTS, ARPL, LAR/LSL/VERR/VERW, and MOV to and
 * from CR0/CR2/CR3/CR4 and DR0–DR7 (SDM Vol. 2 for each; Vol. 3 §2.5, §17.2).
 *
 * Order of checks, per SDM Vol. 3 §26.1.1: #UD and privilege faults first, then the
 * virtualization hook, then operand reads and the remaining #GP checks.
 */
import {
  ea,
  linRead8,
  linWrite8,
  probeWrite,
  readMem16,
  readMem32,
  recomputeSegment,
  rmwRead16,
  rmwWrite16,
  writeMem16,
  writeMem32,
} from "../access.js";
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
  SYS_CALL_GATE16,
  SYS_CALL_GATE32,
  SYS_LDT,
  SYS_TASK_GATE,
  SYS_TSS16_AVAIL,
  SYS_TSS16_BUSY,
  SYS_TSS32_AVAIL,
  SYS_TSS32_BUSY,
} from "../descriptor.js";
import { raiseFault } from "../exception.js";
import type { HandlerSpec } from "../handlers.js";
import { EV_CR_ACCESS, EV_DESC_TABLE, EV_DR_ACCESS } from "../hooks.js";
import { F_A32, F_MEM } from "../instr.js";
import { setArithFlags } from "../lazy_flags.js";
import {
  EFER_LMA,
  EFER_LME,
  flushAll,
  flushNonGlobal,
  loadPdptes,
  PAGING_PAE,
  pagingMode,
  setCpl,
} from "../paging.js";
import {
  AR_L,
  CR0_CD,
  CR0_ET,
  CR0_NW,
  CR0_PE,
  CR0_PG,
  CR0_TS,
  CR0_WP,
  CR4_DE,
  CR4_FSGSBASE,
  CR4_MCE,
  CR4_OSFXSR,
  CR4_OSXMMEXCPT,
  CR4_OSXSAVE,
  CR4_PAE,
  CR4_PCE,
  CR4_PCIDE,
  CR4_PGE,
  CR4_PSE,
  CR4_PVI,
  CR4_SMAP,
  CR4_SMEP,
  CR4_SMXE,
  CR4_TSD,
  CR4_UMIP,
  CR4_VME,
  CR4_VMXE,
  CS,
  DB_VECTOR,
  FLAG_ZF,
  GP_VECTOR,
  LDTR,
  NP_VECTOR,
  SEG_COUNT,
  TR,
  UD_VECTOR,
} from "../regs.js";
import {
  CPL,
  CR0,
  CR2,
  CR3,
  CR4,
  DR_BASE,
  EFER,
  GDTR_BASE,
  GDTR_LIMIT,
  IDTR_BASE,
  IDTR_LIMIT,
  STOP,
  STOP_NEXT,
} from "../state.js";
import { faulted } from "./common.js";
import { intercepted } from "./proc_ctrl.js";
import { realOrV86 } from "./segment_ctrl.js";

/** CR0 bits that exist (SDM Vol. 3 §2.5); writes to the others are ignored. */
const CR0_WRITABLE = 0xe005_003f | 0;
/**
 * CR4 bits this processor implements: VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR
 * OSXMMEXCPT UMIP VMXE SMXE FSGSBASE OSXSAVE SMEP SMAP. PCIDE needs long mode (#GP);
 * setting any other bit is #GP(0).
 */
const CR4_VALID =
  CR4_VME |
  CR4_PVI |
  CR4_TSD |
  CR4_DE |
  CR4_PSE |
  CR4_PAE |
  CR4_MCE |
  CR4_PGE |
  CR4_PCE |
  CR4_OSFXSR |
  CR4_OSXMMEXCPT |
  CR4_UMIP |
  CR4_VMXE |
  CR4_SMXE |
  CR4_FSGSBASE |
  CR4_OSXSAVE |
  CR4_SMEP |
  CR4_SMAP;

/** Desc-table hook codes (hooks.ts EV_DESC_TABLE). */
export const DT_SGDT = 0;
export const DT_SIDT = 1;
export const DT_LGDT = 2;
export const DT_LIDT = 3;
export const DT_SLDT = 4;
export const DT_STR = 5;
export const DT_LLDT = 6;
export const DT_LTR = 7;

export function descTableExit(cpu: X86Cpu, which: number): boolean {
  cpu.exitInfo[1] = which;
  return intercepted(cpu, EV_DESC_TABLE);
}

/** SGDT/SIDT/SLDT/SMSW/STR at CPL > 0 with CR4.UMIP: #GP(0). */
export function umipFault(cpu: X86Cpu): boolean {
  if ((cpu.st[CR4]! & CR4_UMIP) !== 0 && cpu.st[CPL]! > 0) {
    raiseFault(cpu, GP_VECTOR, 0);
    return true;
  }
  return false;
}

/**
 * Write CR0 with the checks of MOV CR0 (SDM Vol. 2 MOV CR; Vol. 3 §2.5): PG without PE
 * and NW without CD are #GP(0); undefined bits are ignored, ET reads 1. A PE change
 * recomputes the segment checks and makes CPL 0 (the CS cache still holds a real-mode
 * or ring-0 descriptor until the far jump that follows). Returns false after a fault.
 */
export function writeCr0(cpu: X86Cpu, value: number): boolean {
  const st = cpu.st;
  const v = (value & CR0_WRITABLE) | CR0_ET;
  if ((v & CR0_PG) !== 0 && (v & CR0_PE) === 0) {
    raiseFault(cpu, GP_VECTOR, 0);
    return false;
  }
  if ((v & CR0_NW) !== 0 && (v & CR0_CD) === 0) {
    raiseFault(cpu, GP_VECTOR, 0);
    return false;
  }
  const old = st[CR0]!;
  const efer = st[EFER]!;
  if ((old & CR0_PG) === 0 && (v & CR0_PG) !== 0 && (efer & EFER_LME) !== 0) {
    // Activating IA-32e mode (SDM Vol. 3 §9.8.5): needs CR4.PAE, and CS.L clear.
    if ((st[CR4]! & CR4_PAE) === 0 || (cpu.segAr[CS]! & AR_L) !== 0) {
      raiseFault(cpu, GP_VECTOR, 0);
      return false;
    }
    st[EFER] = efer | EFER_LMA;
  } else if ((old & CR0_PG) !== 0 && (v & CR0_PG) === 0 && (efer & EFER_LMA) !== 0) {
    // Leaving it: only from compatibility mode.
    if ((cpu.segAr[CS]! & AR_L) !== 0) {
      raiseFault(cpu, GP_VECTOR, 0);
      return false;
    }
    st[EFER] = efer & ~EFER_LMA;
  }
  st[CR0] = v;
  // Turning PAE paging on loads the PDPTEs; a reserved bit in one is #GP(0).
  if ((old & CR0_PG) === 0 && (v & CR0_PG) !== 0 && pagingMode(cpu) === PAGING_PAE) {
    if (!loadPdptes(cpu)) {
      st[CR0] = old;
      return false;
    }
  }
  if (((old ^ v) & CR0_PE) !== 0) {
    for (let s = 0; s < SEG_COUNT; s++) recomputeSegment(cpu, s);
    setCpl(cpu, 0);
  }
  if (((old ^ v) & (CR0_PG | CR0_WP | CR0_PE)) !== 0) flushAll(cpu);
  st[STOP] = STOP_NEXT;
  return true;
}

/**
 * Write CR3 (SDM Vol. 3 §4.10.4.1): under PAE paging the four PDPTEs are loaded (a
 * reserved bit in one is #GP(0) and CR3 keeps its value); the TLB drops every entry but
 * global ones.
 */
export function writeCr3(cpu: X86Cpu, value: number): boolean {
  const st = cpu.st;
  const old = st[CR3]!;
  st[CR3] = value;
  if (pagingMode(cpu) === PAGING_PAE && !loadPdptes(cpu)) {
    st[CR3] = old;
    return false;
  }
  flushNonGlobal(cpu);
  st[STOP] = STOP_NEXT;
  return true;
}

/**
 * Write CR4 with its reserved-bit check. Changing PGE, PAE, PSE, SMEP, SMAP or PCIDE
 * flushes the TLB; turning PAE paging's mode bits over reloads the PDPTEs.
 */
export function writeCr4(cpu: X86Cpu, value: number): boolean {
  const st = cpu.st;
  if ((value & ~CR4_VALID) !== 0) {
    raiseFault(cpu, GP_VECTOR, 0);
    return false;
  }
  const old = st[CR4]!;
  // Clearing PAE in long mode is #GP(0) (SDM MOV CR).
  if ((st[EFER]! & EFER_LMA) !== 0 && (value & CR4_PAE) === 0) {
    raiseFault(cpu, GP_VECTOR, 0);
    return false;
  }
  st[CR4] = value;
  const changed = old ^ value;
  if ((changed & (CR4_PAE | CR4_PSE | CR4_SMEP)) !== 0 && pagingMode(cpu) === PAGING_PAE) {
    if (!loadPdptes(cpu)) {
      st[CR4] = old;
      return false;
    }
  }
  if ((changed & (CR4_PGE | CR4_PAE | CR4_PSE | CR4_SMEP | CR4_SMAP | CR4_PCIDE)) !== 0) {
    flushAll(cpu);
  }
  st[STOP] = STOP_NEXT;
  return true;
}

/** A control register's current value, for MOV from CRn (n = 0, 2, 3, 4). */
function readCr(cpu: X86Cpu, n: number): number {
  const st = cpu.st;
  return n === 0 ? st[CR0]! : n === 2 ? st[CR2]! : n === 3 ? st[CR3]! : st[CR4]!;
}

/** CR1, CR5–CR7 and CR8 (64-bit only) do not exist here: #UD. */
function badCr(n: number): boolean {
  return n === 1 || n > 4;
}

/** Where DRn lives, or -1 for #UD (DR4/DR5 with CR4.DE). */
function drSlot(cpu: X86Cpu, n: number): number {
  if (n === 4 || n === 5) return (cpu.st[CR4]! & CR4_DE) !== 0 ? -1 : DR_BASE + n + 2;
  return DR_BASE + n;
}

/** DR7.GD: any MOV DR raises #DB with DR6.BD (SDM Vol. 3 §17.2.4). */
export function generalDetect(cpu: X86Cpu): boolean {
  const st = cpu.st;
  if ((st[DR_BASE + 7]! & 0x2000) === 0) return false;
  st[DR_BASE + 6] = st[DR_BASE + 6]! | 0x2000;
  raiseFault(cpu, DB_VECTOR, -1);
  return true;
}

/** Is the descriptor DESC holds visible to LAR/LSL/VERR/VERW at this CPL and `rpl`? */
function visible(cpu: X86Cpu, rpl: number): boolean {
  const hi = DESC[1]!;
  if ((descType(hi) & 0x1c) === 0x1c) return true; // conforming code
  const dpl = descDpl(hi);
  return dpl >= cpu.st[CPL]! && dpl >= rpl;
}

/** Fetch the descriptor for LAR/LSL/VERx: false for a null or out-of-table selector. */
function queryDescriptor(cpu: X86Cpu, sel: number): boolean {
  if ((sel & 0xfffc) === 0) return false;
  return fetchDescriptor(cpu, sel);
}

function setZF(cpu: X86Cpu, ok: boolean): void {
  setArithFlags(cpu.st, FLAG_ZF, ok ? FLAG_ZF : 0);
}

/** The Ew selector operand of group 6 and LAR/LSL; check faulted() after. */
function selectorOperand(cpu: X86Cpu, i: number): number {
  const dc = cpu.dc;
  if (dc.flags[i]! & F_MEM) return readMem16(cpu, dc.seg[i]!, ea(cpu, i));
  return cpu.r16[dc.rm[i]! << 1]!;
}

/** The 6-byte pseudo-descriptor of LGDT/LIDT: [0] limit, [1] base. */
const PSEUDO = new Int32Array(2);

function readPseudoDescriptor(cpu: X86Cpu, i: number, o32: boolean): boolean {
  const s = cpu.dc.seg[i]!;
  const a = ea(cpu, i);
  const limit = readMem16(cpu, s, a);
  if (faulted(cpu)) return false;
  const base = readMem32(cpu, s, cpu.dc.flags[i]! & F_A32 ? (a + 2) | 0 : (a + 2) & 0xffff);
  if (faulted(cpu)) return false;
  PSEUDO[0] = limit;
  PSEUDO[1] = o32 ? base : base & 0x00ff_ffff;
  return true;
}

function writePseudoDescriptor(cpu: X86Cpu, i: number, limit: number, base: number): void {
  const s = cpu.dc.seg[i]!;
  const a = ea(cpu, i);
  if (!probeWrite(cpu, s, a, 6)) return;
  writeMem16(cpu, s, a, limit);
  if (faulted(cpu)) return;
  // The full 32-bit base is stored with either operand size (SDM Vol. 2 SGDT).
  writeMem32(cpu, s, cpu.dc.flags[i]! & F_A32 ? (a + 2) | 0 : (a + 2) & 0xffff, base);
}

function lgdt(o32: boolean, idt: boolean) {
  return (cpu: X86Cpu, i: number) => {
    if (cpu.st[CPL] !== 0) return raiseFault(cpu, GP_VECTOR, 0);
    if (descTableExit(cpu, idt ? DT_LIDT : DT_LGDT)) return;
    if (!readPseudoDescriptor(cpu, i, o32)) return;
    cpu.st[idt ? IDTR_LIMIT : GDTR_LIMIT] = PSEUDO[0]!;
    cpu.st[idt ? IDTR_BASE : GDTR_BASE] = PSEUDO[1]!;
  };
}

const sgdt = (idt: boolean) => (cpu: X86Cpu, i: number) => {
  if (umipFault(cpu)) return;
  if (descTableExit(cpu, idt ? DT_SIDT : DT_SGDT)) return;
  const st = cpu.st;
  writePseudoDescriptor(
    cpu,
    i,
    st[idt ? IDTR_LIMIT : GDTR_LIMIT]!,
    st[idt ? IDTR_BASE : GDTR_BASE]!,
  );
};

/** SLDT/STR/SMSW: a 16-bit store to memory, zero-extended into a 32-bit register. */
function storeSelector(cpu: X86Cpu, i: number, value: number, o32: boolean): void {
  const dc = cpu.dc;
  if (dc.flags[i]! & F_MEM) writeMem16(cpu, dc.seg[i]!, ea(cpu, i), value);
  else if (o32) cpu.regs[dc.rm[i]!] = value;
  else cpu.r16[dc.rm[i]! << 1] = value;
}

function sldtStr(which: number, seg: number, o32: boolean) {
  return (cpu: X86Cpu, i: number) => {
    if (realOrV86(cpu)) return raiseFault(cpu, UD_VECTOR, -1);
    if (umipFault(cpu)) return;
    if (descTableExit(cpu, which)) return;
    storeSelector(cpu, i, cpu.segSel[seg]!, o32);
  };
}

/** LLDT (SDM Vol. 2 LLDT): a null selector leaves LDTR unusable. */
const lldt = (cpu: X86Cpu, i: number) => {
  if (realOrV86(cpu)) return raiseFault(cpu, UD_VECTOR, -1);
  if (cpu.st[CPL] !== 0) return raiseFault(cpu, GP_VECTOR, 0);
  if (descTableExit(cpu, DT_LLDT)) return;
  const sel = selectorOperand(cpu, i);
  if (faulted(cpu)) return;
  const err = sel & 0xfffc;
  if (err === 0) {
    loadNullSegment(cpu, LDTR, sel);
    return;
  }
  if (sel & 4) return raiseFault(cpu, GP_VECTOR, err);
  if (!fetchDescriptor(cpu, sel)) {
    if (!faulted(cpu)) raiseFault(cpu, GP_VECTOR, err);
    return;
  }
  const hi = DESC[1]!;
  if (descType(hi) !== SYS_LDT) return raiseFault(cpu, GP_VECTOR, err);
  if (!descPresent(hi)) return raiseFault(cpu, NP_VECTOR, err);
  loadSegmentCache(cpu, LDTR, sel, DESC[0]!, hi);
};

/** LTR (SDM Vol. 2 LTR): an available TSS in the GDT, then marked busy there. */
const ltr = (cpu: X86Cpu, i: number) => {
  if (realOrV86(cpu)) return raiseFault(cpu, UD_VECTOR, -1);
  if (cpu.st[CPL] !== 0) return raiseFault(cpu, GP_VECTOR, 0);
  if (descTableExit(cpu, DT_LTR)) return;
  const sel = selectorOperand(cpu, i);
  if (faulted(cpu)) return;
  const err = sel & 0xfffc;
  if (err === 0) return raiseFault(cpu, GP_VECTOR, 0);
  if (sel & 4) return raiseFault(cpu, GP_VECTOR, err);
  if (!fetchDescriptor(cpu, sel)) {
    if (!faulted(cpu)) raiseFault(cpu, GP_VECTOR, err);
    return;
  }
  const hi = DESC[1]!;
  const type = descType(hi);
  if (type !== SYS_TSS16_AVAIL && type !== SYS_TSS32_AVAIL) return raiseFault(cpu, GP_VECTOR, err);
  if (!descPresent(hi)) return raiseFault(cpu, NP_VECTOR, err);
  const at = (DESC[2]! + 5) | 0;
  linWrite8(cpu, at, linRead8(cpu, at) | 2);
  if (faulted(cpu)) return;
  loadSegmentCache(cpu, TR, sel, DESC[0]!, hi | 0x200);
};

/** VERR / VERW: ZF = 1 when the segment is readable / writable from here. */
function verx(write: boolean) {
  return (cpu: X86Cpu, i: number) => {
    if (realOrV86(cpu)) return raiseFault(cpu, UD_VECTOR, -1);
    const sel = selectorOperand(cpu, i);
    if (faulted(cpu)) return;
    let ok = queryDescriptor(cpu, sel);
    if (faulted(cpu)) return;
    if (ok) {
      const type = descType(DESC[1]!);
      if ((type & 0x10) === 0) ok = false;
      else if (write) ok = (type & 0x0a) === 0x02 && visible(cpu, sel & 3);
      else ok = (type & 0x0a) !== 0x08 && visible(cpu, sel & 3);
    }
    setZF(cpu, ok);
  };
}

/** System types LAR reports (SDM Vol. 2 LAR, Table 3-52): TSS, LDT, call and task gates. */
function larType(type: number): boolean {
  return (
    type >= 0x10 ||
    type === SYS_TSS16_AVAIL ||
    type === SYS_LDT ||
    type === SYS_TSS16_BUSY ||
    type === SYS_CALL_GATE16 ||
    type === SYS_TASK_GATE ||
    type === SYS_TSS32_AVAIL ||
    type === SYS_TSS32_BUSY ||
    type === SYS_CALL_GATE32
  );
}

/** System types LSL reports: TSS and LDT (they have limits; gates do not). */
function lslType(type: number): boolean {
  return (
    type >= 0x10 ||
    type === SYS_TSS16_AVAIL ||
    type === SYS_LDT ||
    type === SYS_TSS16_BUSY ||
    type === SYS_TSS32_AVAIL ||
    type === SYS_TSS32_BUSY
  );
}

function larLsl(lsl: boolean, o32: boolean) {
  return (cpu: X86Cpu, i: number) => {
    if (realOrV86(cpu)) return raiseFault(cpu, UD_VECTOR, -1);
    const sel = selectorOperand(cpu, i);
    if (faulted(cpu)) return;
    let ok = queryDescriptor(cpu, sel);
    if (faulted(cpu)) return;
    const lo = DESC[0]!;
    const hi = DESC[1]!;
    if (ok) {
      const type = descType(hi);
      ok = (lsl ? lslType(type) : larType(type)) && visible(cpu, sel & 3);
    }
    setZF(cpu, ok);
    if (!ok) return;
    const r = cpu.dc.reg[i]!;
    const v = lsl ? descLimit(lo, hi) : hi & (o32 ? 0x00ff_ff00 : 0xff00);
    if (o32) cpu.regs[r] = v;
    else cpu.r16[r << 1] = v;
  };
}

/** ARPL: raise the destination selector's RPL to the source's (SDM Vol. 2 ARPL). */
const arpl = {
  reg: (cpu: X86Cpu, i: number) => {
    if (realOrV86(cpu)) return raiseFault(cpu, UD_VECTOR, -1);
    const d = cpu.dc.rm[i]! << 1;
    const dst = cpu.r16[d]!;
    const src = cpu.r16[cpu.dc.reg[i]! << 1]!;
    if ((dst & 3) < (src & 3)) {
      cpu.r16[d] = (dst & ~3) | (src & 3);
      setZF(cpu, true);
    } else setZF(cpu, false);
  },
  mem: (cpu: X86Cpu, i: number) => {
    if (realOrV86(cpu)) return raiseFault(cpu, UD_VECTOR, -1);
    const dst = rmwRead16(cpu, cpu.dc.seg[i]!, ea(cpu, i));
    if (faulted(cpu)) return;
    const src = cpu.r16[cpu.dc.reg[i]! << 1]!;
    if ((dst & 3) < (src & 3)) {
      rmwWrite16(cpu, (dst & ~3) | (src & 3));
      setZF(cpu, true);
    } else setZF(cpu, false);
  },
};

function smsw(o32: boolean) {
  return (cpu: X86Cpu, i: number) => {
    if (umipFault(cpu)) return;
    // A 32-bit register gets all of CR0 (SDM Vol. 2 SMSW: high bits as CR0 on P6+).
    const v = cpu.st[CR0]!;
    storeSelector(cpu, i, o32 && (cpu.dc.flags[i]! & F_MEM) === 0 ? v : v & 0xffff, o32);
  };
}

/** LMSW: CR0 bits 0–3; PE can be set but not cleared (SDM Vol. 2 LMSW). */
const lmsw = (cpu: X86Cpu, i: number) => {
  if (cpu.st[CPL] !== 0) return raiseFault(cpu, GP_VECTOR, 0);
  const v = selectorOperand(cpu, i);
  if (faulted(cpu)) return;
  const x = cpu.exitInfo;
  x[1] = 0;
  x[2] = 3;
  x[3] = cpu.dc.flags[i]! & F_MEM ? -1 : cpu.dc.rm[i]!;
  x[4] = v;
  if (intercepted(cpu, EV_CR_ACCESS)) return;
  // The hook may have changed the source (VMX: bits the guest/host mask owns).
  const src = x[4]!;
  const old = cpu.st[CR0]!;
  writeCr0(cpu, (old & ~0xe) | (src & 0xf) | (old & CR0_PE));
};

const clts = (cpu: X86Cpu) => {
  if (cpu.st[CPL] !== 0) return raiseFault(cpu, GP_VECTOR, 0);
  const x = cpu.exitInfo;
  x[1] = 0;
  x[2] = 2;
  x[3] = -1;
  x[4] = cpu.st[CR0]! & ~CR0_TS;
  if (intercepted(cpu, EV_CR_ACCESS)) return;
  // x[4]: CR0 after CLTS, unless the hook kept TS (VMX: TS owned by the host, shadow 0).
  cpu.st[CR0] = x[4]!;
};

/** MOV r32, CRn. The ModRM mod field is ignored: always a register (SDM Vol. 2 MOV CR). */
const movRdCd = (cpu: X86Cpu, i: number) => {
  const n = cpu.dc.reg[i]!;
  if (badCr(n)) return raiseFault(cpu, UD_VECTOR, -1);
  if (cpu.st[CPL] !== 0) return raiseFault(cpu, GP_VECTOR, 0);
  const gpr = cpu.dc.rm[i]!;
  const x = cpu.exitInfo;
  x[1] = n;
  x[2] = 1;
  x[3] = gpr;
  x[4] = readCr(cpu, n);
  if (intercepted(cpu, EV_CR_ACCESS)) return;
  // The value read, as the hook may have changed it (VMX: CR0/CR4 read shadows).
  cpu.regs[gpr] = x[4]!;
};

/** MOV CRn, r32 with the reserved-bit and combination checks of SDM Vol. 2 MOV CR. */
const movCdRd = (cpu: X86Cpu, i: number) => {
  const n = cpu.dc.reg[i]!;
  if (badCr(n)) return raiseFault(cpu, UD_VECTOR, -1);
  if (cpu.st[CPL] !== 0) return raiseFault(cpu, GP_VECTOR, 0);
  const gpr = cpu.dc.rm[i]!;
  const v = cpu.regs[gpr]!;
  const x = cpu.exitInfo;
  x[1] = n;
  x[2] = 0;
  x[3] = gpr;
  x[4] = v;
  if (intercepted(cpu, EV_CR_ACCESS)) return;
  const st = cpu.st;
  switch (n) {
    case 0:
      // The value written, as the hook may have changed it (VMX: host-owned bits kept).
      writeCr0(cpu, x[4]!);
      return;
    case 2:
      st[CR2] = v;
      return;
    case 3:
      writeCr3(cpu, v);
      return;
    default:
      writeCr4(cpu, x[4]!);
  }
};

/** MOV r32, DRn. */
const movRdDd = (cpu: X86Cpu, i: number) => {
  const n = cpu.dc.reg[i]!;
  const slot = drSlot(cpu, n);
  if (slot < 0) return raiseFault(cpu, UD_VECTOR, -1);
  if (cpu.st[CPL] !== 0) return raiseFault(cpu, GP_VECTOR, 0);
  if (generalDetect(cpu)) return;
  const gpr = cpu.dc.rm[i]!;
  const x = cpu.exitInfo;
  x[1] = n;
  x[2] = 1;
  x[3] = gpr;
  if (intercepted(cpu, EV_DR_ACCESS)) return;
  cpu.regs[gpr] = cpu.st[slot]!;
};

/** MOV DRn, r32: DR6 and DR7 keep their fixed bits (SDM Vol. 3 §17.2.3–17.2.4). */
const movDdRd = (cpu: X86Cpu, i: number) => {
  const n = cpu.dc.reg[i]!;
  const slot = drSlot(cpu, n);
  if (slot < 0) return raiseFault(cpu, UD_VECTOR, -1);
  if (cpu.st[CPL] !== 0) return raiseFault(cpu, GP_VECTOR, 0);
  if (generalDetect(cpu)) return;
  const gpr = cpu.dc.rm[i]!;
  const x = cpu.exitInfo;
  x[1] = n;
  x[2] = 0;
  x[3] = gpr;
  if (intercepted(cpu, EV_DR_ACCESS)) return;
  const v = cpu.regs[gpr]!;
  if (slot === DR_BASE + 6) cpu.st[slot] = (v & 0x0000_e00f) | (0xffff_0ff0 | 0);
  else if (slot === DR_BASE + 7) cpu.st[slot] = (v & (0xffff_2bff | 0)) | 0x400;
  else cpu.st[slot] = v;
  cpu.st[STOP] = STOP_NEXT;
};

export const PROTECT_CTRL: Readonly<Record<string, HandlerSpec>> = {
  sgdt_Ms: sgdt(false),
  sidt_Ms: sgdt(true),
  lgdt_Ms: { o16: lgdt(false, false), o32: lgdt(true, false) },
  lidt_Ms: { o16: lgdt(false, true), o32: lgdt(true, true) },
  sldt_Ew: { o16: sldtStr(DT_SLDT, LDTR, false), o32: sldtStr(DT_SLDT, LDTR, true) },
  str_Ew: { o16: sldtStr(DT_STR, TR, false), o32: sldtStr(DT_STR, TR, true) },
  lldt_Ew: lldt,
  ltr_Ew: ltr,
  verr_Ew: verx(false),
  verw_Ew: verx(true),
  lar_Gv_Ew: { o16: larLsl(false, false), o32: larLsl(false, true) },
  lsl_Gv_Ew: { o16: larLsl(true, false), o32: larLsl(true, true) },
  arpl_Ew_Gw: arpl,
  smsw_Ew: { o16: smsw(false), o32: smsw(true) },
  lmsw_Ew: lmsw,
  clts,
  mov_Rd_Cd: movRdCd,
  mov_Cd_Rd: movCdRd,
  mov_Rd_Dd: movRdDd,
  mov_Dd_Rd: movDdRd,
};
