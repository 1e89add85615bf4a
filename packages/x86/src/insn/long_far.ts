/**
 * IRET in IA-32e mode (SDM Vol. 2 IRET, "IA-32e-MODE" operation): the frame of 64-bit
 * event delivery — RIP, CS, RFLAGS, RSP, SS, always all five, 8 bytes each for IRETQ (4
 * for IRETD, 2 with 66) — back to the same or an outer privilege level, into 64-bit or
 * compatibility mode. NT set is #GP(0): there are no task returns in IA-32e mode.
 */
import { recomputeSegment } from "../access.js";
import { addr64, canonical, read64, readQ } from "../access64.js";
import type { X86Cpu } from "../cpu.js";
import {
  DESC,
  descDpl,
  descPresent,
  descType,
  fetchDescriptor,
  loadNullSegment,
  loadSegmentCache,
} from "../descriptor.js";
import { raiseFault } from "../exception.js";
import type { HandlerSpec } from "../handlers.js";
import { F_O32, F_O64 } from "../instr.js";
import { getFlags, setFlags } from "../lazy_flags.js";
import { setCpl } from "../paging.js";
import {
  AR_TYPE_EC,
  CS,
  DS,
  ES,
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
  NP_VECTOR,
  SS,
  SS_VECTOR,
} from "../regs.js";
import { CPL, EA_HI, EIP, NMI_BLOCKED, RIP_HI, STOP, STOP_FAULT, VAL_HI } from "../state.js";
import { jumped } from "./common.js";

/** Flags IRET always restores. */
const BASE =
  FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_TF | FLAG_DF | FLAG_OF | FLAG_NT;

const FRAME = new Int32Array(10);

function faulted(cpu: X86Cpu): boolean {
  return cpu.st[STOP] === STOP_FAULT;
}

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

export const LONG_FAR: Readonly<Record<string, HandlerSpec>> = {
  iret: iretLong,
};
