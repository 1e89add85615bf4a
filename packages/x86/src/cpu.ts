/**
 * The CPU (Bochs cpu.cc / cpu.h): architectural state in typed arrays, the decoded-block
 * cache, and the run loop. Real and protected mode, 16- and 32-bit code.
 *
 *   const mem = new PhysMemory(devices); mem.addRam(0, new Uint8Array(1 << 20));
 *   const cpu = new X86Cpu(mem); cpu.reset();
 *   const why = cpu.run(1_000_000);   // EXIT_BUDGET, EXIT_HLT, EXIT_SHUTDOWN, EXIT_HOOK
 */
import { fetchMode, mmioHook, recomputeSegment } from "./access.js";
import { chainBudget, chainRunner, noteRetired, slotRunner } from "./dispatch.js";
import { serviceEvents } from "./exception.js";
import { decodeInsn, type FetchSource, opcodeDesc } from "./fetchdecode.js";
import { FpuState } from "./fpu.js";
import { FETCH_HOOK_EXIT, HOOK_DONE, HOOK_EXIT, type X86Hooks } from "./hooks.js";
import { BLOCK_MAX, DecodeCache, FRONT_MASK } from "./icache.js";
import { F_END } from "./instr.js";
import { getFlags, setFlags } from "./lazy_flags.js";
import { PhysMemory } from "./memory.js";
import { dropWritesTo, flushAll, selectTlb, TlbState, translateFetchPaged } from "./paging.js";
import {
  AR_P,
  AR_S,
  AR_TYPE_ACCESSED,
  AR_TYPE_CODE,
  AR_TYPE_RW,
  CR0_ET,
  CR0_PE,
  CR0_PG,
  CS,
  FLAG_FIXED1,
  FLAG_TF,
  PAGE_SHIFT,
  REG_COUNT,
  SEG_COUNT,
} from "./regs.js";
import {
  A20_MASK,
  CPL,
  CR0,
  DR_BASE,
  EIP,
  EXIT_REASON,
  FETCH_HI,
  FETCH_MODE,
  FLAGS,
  GDTR_LIMIT,
  HALTED,
  IDTR_LIMIT,
  INHIBIT,
  INTR_LINE,
  INTR_VECTOR,
  NMI_PENDING,
  PENDING,
  RIP_HI,
  ST_COUNT,
  STOP,
  STOP_FAULT,
  STOP_NEXT,
} from "./state.js";

/** run() used up its instruction budget. */
export const EXIT_BUDGET = 0;
/** The CPU is halted (HLT) and no event woke it. */
export const EXIT_HLT = 1;
/** Triple fault: the processor shut down (KVM_EXIT_SHUTDOWN). */
export const EXIT_SHUTDOWN = 2;
/** An installed extension claimed an event; details in `exitInfo`. */
export const EXIT_HOOK = 3;
/** The embedder asked run() to return (`requestExit`). */
export const EXIT_REQUEST = 4;
export type ExitReason = 0 | 1 | 2 | 3 | 4;

/** Answers CPUID: write EAX, EBX, ECX, EDX for (leaf, subleaf) into `out`. */
export type CpuidSource = (leaf: number, subleaf: number, out: Int32Array) => void;

/** A plain 486-class answer until the embedder supplies a table (KVM_SET_CPUID2). */
const DEFAULT_CPUID: CpuidSource = (leaf, _sub, out) => {
  out.fill(0);
  if (leaf === 0) {
    out[0] = 1;
    // "GenuineIntel"
    out[1] = 0x756e_6547;
    out[3] = 0x4965_6e69;
    out[2] = 0x6c65_746e;
  } else if (leaf === 1) {
    out[0] = 0x0000_0633; // family 6 model 3 stepping 3
    out[3] = 0x0000_8111; // FPU, TSC, CMPXCHG8B, CMOV
  }
};

/**
 * Reads one instruction's bytes for the decoder, through CS: the limit check, the A20
 * gate, RAM or the device callback. One instance per CPU, reused.
 */
class CodeFetcher implements FetchSource {
  start = 0;
  /** 64-bit mode: the high half of the start address (RIP), and no CS checks. */
  startHi = 0;
  long = false;
  /** Set when a byte came from outside RAM: the block must not be cached. */
  uncached = false;
  /** Physical page of the last byte fetched. */
  lastPage = 0;
  constructor(private readonly cpu: X86Cpu) {}
  fetch(offset: number): number {
    const cpu = this.cpu;
    let phys: number;
    if (this.long) {
      const at = (this.start >>> 0) + offset;
      const hi = at > 0xffff_ffff ? (this.startHi + 1) | 0 : this.startHi;
      // A non-canonical RIP is #GP(0).
      if ((hi << 16) >> 16 !== hi) return -13;
      phys = cpu.translateFetch(at | 0, hi);
    } else {
      const off = (this.start + offset) >>> 0;
      const seg = cpu.segHi[CS]!;
      if (off > seg || off < cpu.segLo[CS]!) return -13;
      phys = cpu.translateFetch(cpu.segBase[CS]! + off);
    }
    if (phys < 0) return phys;
    const mem = cpu.mem;
    const page = phys >>> PAGE_SHIFT;
    this.lastPage = page;
    const e = mem.pageMap[page]!;
    if (e < 0) {
      this.uncached = true;
      if (cpu.hooks !== null) {
        // A fetch from outside RAM is offered to the extension (EPT: a violation).
        const r = mmioHook(cpu, cpu.hooks, phys, 1, 2, 0);
        if (r === HOOK_EXIT) return -FETCH_HOOK_EXIT;
        if (r === HOOK_DONE) return cpu.exitInfo[4]! & 0xff;
      }
      return mem.devices.mmioRead(phys >>> 0, 1) & 0xff;
    }
    return mem.mem8[e >>> 20]![((e & 0xfffff) << PAGE_SHIFT) | (phys & 0xfff)]!;
  }
}

export class X86Cpu {
  /** General registers (low 32 bits), plus the zero slot REG_ZERO. */
  readonly regs = new Int32Array(REG_COUNT);
  /** High halves of the 64-bit registers (RAX..R15; the zero slot stays 0). */
  readonly regsHi = new Int32Array(REG_COUNT);
  /** 16-bit view: register n is r16[n * 2]. */
  readonly r16 = new Uint16Array(this.regs.buffer);
  /** 8-bit view: AL..BL are r8[n * 4], AH..BH are r8[(n - 4) * 4 + 1]. */
  readonly r8 = new Uint8Array(this.regs.buffer);
  /** Scalar state; indices in state.ts. */
  readonly st = new Int32Array(ST_COUNT);
  // Segment registers with their hidden descriptor caches (kvm_segment / VMCS shape).
  readonly segSel = new Uint16Array(SEG_COUNT);
  readonly segBase = new Int32Array(SEG_COUNT);
  /** High halves of the bases (FS, GS, LDTR and TR in long mode). */
  readonly segBaseHi = new Int32Array(SEG_COUNT);
  /** Byte-granular limit (already scaled by G), as a uint32 in an int32. */
  readonly segLimit = new Int32Array(SEG_COUNT);
  /** Access rights in the VMCS layout (regs.ts AR_*). */
  readonly segAr = new Int32Array(SEG_COUNT);
  /** Derived from the caches for fast checks: lowest and highest valid offset. */
  readonly segLo = new Float64Array(SEG_COUNT);
  readonly segHi = new Float64Array(SEG_COUNT);
  /** Derived: SEG_OK_* bits (readable, writable, usable). */
  readonly segOk = new Uint8Array(SEG_COUNT);
  /** [0] instructions retired, [1] TSC offset (added to the count). */
  readonly counters = new Float64Array(2);
  /** Model-specific registers that hold plain values (not hot). */
  readonly msrs = new Map<number, bigint>();
  /** Details of the last hook event (hooks.ts). */
  readonly exitInfo = new Int32Array(16);
  /** CPUID results scratch: EAX, EBX, ECX, EDX. */
  readonly cpuidOut = new Int32Array(4);
  readonly dc = new DecodeCache();
  /** x87 and SSE state (fpu.ts). */
  readonly fpu = new FpuState();
  readonly mem: PhysMemory;
  hooks: X86Hooks | null = null;
  cpuid: CpuidSource = DEFAULT_CPUID;
  /** Error code of a fetch page fault (paging, part 2). */
  fetchErrorCode = 0;
  private windows = 0;

  /**
   * Windows a hook wants reported (bit 0: interrupts can be taken, bit 1: NMIs can be
   * taken), checked at instruction boundaries like VMX's window-exiting controls.
   */
  get wantWindow(): number {
    return this.windows;
  }
  set wantWindow(bits: number) {
    this.windows = bits;
    this.st[PENDING] = 1;
  }
  private readonly fetcher = new CodeFetcher(this);

  /**
   * Data TLB (paging.ts): linear page → byte offset of that page in RAM range 0
   * (`ram8`/`ram32`), or -1, for supervisor (s) and CPL 3 (u) accesses. tlbW holds only
   * pages that may be written without a fault or side effect (not read-only, no decoded
   * code, dirty already). Filled by the slow path of access.ts; emptied by MOV CR3,
   * INVLPG, paging-mode changes, RAM remapping and A20 changes.
   */
  readonly tlbRs = new Int32Array(1 << 20).fill(-1);
  readonly tlbWs = new Int32Array(1 << 20).fill(-1);
  readonly tlbRu = new Int32Array(1 << 20).fill(-1);
  readonly tlbWu = new Int32Array(1 << 20).fill(-1);
  /** The pair for the current CPL (paging.ts selectTlb). */
  tlbR: Int32Array = this.tlbRs;
  tlbW: Int32Array = this.tlbWs;
  readonly tlb = new TlbState();
  /** PAE paging's four PDPTE registers, low and high halves (loaded from CR3). */
  readonly pdpte = new Int32Array(8);
  /** Views of RAM range 0 (the range the TLB caches). */
  ram8: Uint8Array = new Uint8Array(0);
  ram32: Int32Array = new Int32Array(0);

  constructor(mem: PhysMemory = new PhysMemory()) {
    this.mem = mem;
    mem.onCodeWrite = (page) => this.invalidateCodePage(page);
    this.dc.atomicRmw = mem.shared;
    mem.onMapChange = () => {
      // Decoded blocks are keyed by physical address: other memory there, other code.
      // Shared RAM (or no longer) decodes locked instructions differently.
      this.dc.atomicRmw = mem.shared;
      this.dc.flush();
      this.flushTlb();
    };
    this.reset();
  }

  /** Drop every cached translation (RAM remapped, A20 changed). */
  flushTlb(): void {
    // Blocks found by EIP were found through the old translation (flushAll bumps).
    flushAll(this);
    this.ram8 = this.mem.mem8[0] ?? new Uint8Array(0);
    this.ram32 = this.mem.mem32[0] ?? new Int32Array(0);
  }

  /** Physical page `page` now holds decoded code: writes to it must take the slow path. */
  private protectCodePage(page: number): void {
    if (this.mem.codePage[page] !== 0) return;
    this.mem.codePage[page] = 1;
    dropWritesTo(this, page);
  }

  /** Power-on / RESET state (SDM Vol. 3 §9.1.1, Table 9-1). */
  reset(): void {
    this.regs.fill(0);
    this.regsHi.fill(0);
    this.segBaseHi.fill(0);
    this.st.fill(0);
    this.regs[2] = 0x0000_0633; // EDX: family/model/stepping
    setFlags(this.st, FLAG_FIXED1);
    this.st[EIP] = 0xfff0;
    this.st[CR0] = 0x6000_0010 | CR0_ET;
    this.st[A20_MASK] = -1;
    this.st[GDTR_LIMIT] = 0xffff;
    this.st[IDTR_LIMIT] = 0xffff;
    this.st[DR_BASE + 6] = 0xffff_0ff0 | 0;
    this.st[DR_BASE + 7] = 0x400;
    for (let s = 0; s < SEG_COUNT; s++) {
      this.segSel[s] = 0;
      this.segBase[s] = 0;
      this.segLimit[s] = 0xffff;
      this.segAr[s] = AR_P | AR_S | AR_TYPE_RW | AR_TYPE_ACCESSED;
    }
    this.segAr[6] = AR_P | 2; // LDTR: LDT
    this.segAr[7] = AR_P | 3; // TR: busy 16-bit TSS
    this.segSel[CS] = 0xf000;
    this.segBase[CS] = 0xffff_0000 | 0;
    this.segAr[CS] = AR_P | AR_S | AR_TYPE_CODE | AR_TYPE_RW | AR_TYPE_ACCESSED;
    for (let s = 0; s < SEG_COUNT; s++) recomputeSegment(this, s);
    this.counters.fill(0);
    this.msrs.clear();
    this.pdpte.fill(0);
    this.fpu.reset();
    this.dc.flush();
    this.flushTlb();
    selectTlb(this);
  }

  /** Real mode (CR0.PE = 0). */
  get realMode(): boolean {
    return (this.st[CR0]! & CR0_PE) === 0;
  }

  /** EFLAGS with the lazy arithmetic flags folded in. */
  getEflags(): number {
    return getFlags(this.st);
  }

  /** Set EFLAGS directly (state load, not an instruction: no privilege filtering). */
  setEflags(value: number): void {
    setFlags(this.st, (value & 0x003f_7fd5) | FLAG_FIXED1);
    this.st[PENDING] = 1;
  }

  /** Linear → physical (unsigned) for an instruction fetch; <0 is a negated fault vector. */
  translateFetch(linear: number, hi = 0): number {
    if ((this.st[CR0]! & CR0_PG) === 0) return (linear & this.st[A20_MASK]!) >>> 0;
    return translateFetchPaged(this, linear, hi);
  }

  /** Drop decoded code of physical page `page` (a write reached it). */
  invalidateCodePage(page: number): void {
    this.dc.bumpEpoch();
    this.dc.pageGen[page]!++;
    this.mem.codePage[page] = 0;
    // The running block may hold instructions from that page: finish this one, then stop.
    if (this.st[STOP] === 0) this.st[STOP] = STOP_NEXT;
  }

  /** Forget every decoded instruction (after memory was changed behind the CPU's back). */
  flushDecodeCache(): void {
    this.dc.flush();
  }

  /** Ask a running run() to return EXIT_REQUEST at the next block boundary. */
  requestExit(): void {
    this.st[EXIT_REASON] = 4;
    this.st[PENDING] = 1;
  }

  /**
   * The A20 gate (port 92h / the keyboard controller): when off, physical address bit 20
   * is forced to 0 and addresses wrap at 1 MiB as on an 8086.
   */
  setA20(enabled: boolean): void {
    this.st[A20_MASK] = enabled ? -1 : ~(1 << 20);
    this.flushTlb();
  }

  /** Raise the INTR line with `vector` (an interrupt controller's INTA answer). */
  raiseIrq(vector: number): void {
    this.st[INTR_LINE] = 1;
    this.st[INTR_VECTOR] = vector & 0xff;
    this.st[PENDING] = 1;
  }

  /** Lower the INTR line. */
  lowerIrq(): void {
    this.st[INTR_LINE] = 0;
  }

  /** Latch an NMI. */
  raiseNmi(): void {
    this.st[NMI_PENDING] = 1;
    this.st[PENDING] = 1;
  }

  /** Instructions retired since reset. */
  get instructionCount(): number {
    return this.counters[0]!;
  }

  /**
   * Run until an exit or until `budget` instructions have retired. Returns why it
   * stopped. Faults of the guest are delivered to the guest, never thrown.
   */
  run(budget: number): ExitReason {
    const st = this.st;
    const len = this.dc.len;
    // Decode tables first, so the dispatchers are generated over every handler.
    opcodeDesc(1, 0);
    const runSlots = slotRunner();
    let runChain = chainRunner();
    this.syncFetchState();
    st[EXIT_REASON] = 0;
    let left = budget;
    while (left > 0) {
      // Anything unusual — an event to deliver, HLT, an interrupt shadow, single-step —
      // is handled here; the common case runs chained blocks in runChain.
      if ((st[PENDING]! | st[HALTED]! | st[INHIBIT]!) !== 0 || (st[FLAGS]! & FLAG_TF) !== 0) {
        if (st[PENDING] !== 0) {
          serviceEvents(this);
          if (st[EXIT_REASON] !== 0) break;
        }
        if (st[HALTED] !== 0) {
          st[EXIT_REASON] = st[HALTED] === 2 ? EXIT_SHUTDOWN : EXIT_HLT;
          break;
        }
        if (st[INHIBIT] !== 0 || (st[FLAGS]! & FLAG_TF) !== 0) {
          // Exactly one instruction: the shadowed one, or one single-step.
          const tf = st[FLAGS]! & FLAG_TF;
          let i = this.lookupBlock();
          const first = i;
          st[STOP] = 0;
          i = runSlots(this, i, i + 1);
          let done = i - first;
          const stop = st[STOP]!;
          if (stop !== 0 && stop !== STOP_FAULT) {
            if (stop === STOP_NEXT) st[EIP] = st[EIP]! + len[i]!;
            done++;
          }
          // A faulting instruction retires nothing, but its delivery still uses budget, so
          // a guest stuck re-faulting cannot keep run() from returning.
          left -= done === 0 ? 1 : done;
          this.counters[0] = this.counters[0]! + done;
          if (done > 0 && stop !== STOP_FAULT) {
            if (st[INHIBIT] !== 0) {
              // 2 = this instruction set a new shadow; 1 = it was the shadowed one.
              st[INHIBIT] = st[INHIBIT]! > 1 ? 1 : 0;
              st[PENDING] = 1;
            }
            if (tf !== 0) this.singleStepTrap();
          }
          if (st[EXIT_REASON] !== 0) break;
          continue;
        }
      }
      const done = runChain(this, chainBudget(left));
      noteRetired(done);
      runChain = chainRunner();
      left -= done === 0 ? 1 : done;
      if (st[INHIBIT]! > 1) {
        // The last instruction (STI, MOV SS, POP SS) set a shadow over the next one.
        st[INHIBIT] = 1;
        st[PENDING] = 1;
      }
      if (st[EXIT_REASON] !== 0) break;
    }
    return st[EXIT_REASON] as ExitReason;
  }

  /**
   * The embedder may have written CS or CR0 since the last run without
   * recomputeSegment: blocks found by EIP under another CS mode or limit are not valid.
   */
  private syncFetchState(): void {
    const st = this.st;
    // The embedder may also have set CPL directly: the TLBs follow it (as setCpl does).
    if ((st[CPL] === 3) !== (this.tlbR === this.tlbRu)) {
      selectTlb(this);
      if ((st[CR0]! & CR0_PG) !== 0) this.dc.bumpEpoch();
    }
    const mode = fetchMode(this);
    const hi = this.segHi[CS]! | 0;
    if (mode !== st[FETCH_MODE] || hi !== st[FETCH_HI]) {
      st[FETCH_MODE] = mode;
      st[FETCH_HI] = hi;
      this.dc.bumpEpoch();
    }
  }

  /**
   * Decode the instruction at CS:RIP without running or caching it; returns its length in
   * bytes, or 0 when fetching it faults. Its decoded form is left in slot `dc.scratch`
   * (e.g. `dc.opcode[dc.scratch]`). For virtualization extensions between run() calls: a
   * VM exit's instruction length and the form of the exiting instruction, which the hot
   * loop never needs.
   */
  decodeAtRip(): number {
    const st = this.st;
    const mode = fetchMode(this);
    const f = this.fetcher;
    f.long = (mode & 4) !== 0;
    f.startHi = st[RIP_HI]!;
    f.start = st[EIP]!;
    f.uncached = false;
    return Math.max(0, decodeInsn(this.dc, this.dc.scratch, f, f.long ? 64 : (mode & 1) !== 0));
  }

  /** Execute exactly one instruction (or deliver one pending event). */
  step(): ExitReason {
    return this.run(1);
  }

  private singleStepTrap(): void {
    // Debug trap after an instruction that began with TF = 1 (SDM Vol. 3 §17.3.1.4).
    this.st[DR_BASE + 6] = this.st[DR_BASE + 6]! | 0x4000;
    this.st[PENDING] = 1;
    this.pendingDebugTrap = true;
  }

  /** A single-step #DB waiting for the next event check. */
  pendingDebugTrap = false;

  /** Number of instructions in the block lookupBlock() returned. */
  blockCount = 0;

  /** The first slot of the block at CS:EIP, decoding it if it is not cached. */
  lookupBlock(): number {
    const st = this.st;
    const dc = this.dc;
    const eip = st[EIP]!;
    const ripHi = st[RIP_HI]!;
    const base = this.segBase[CS]!;
    // The EIP-keyed front cache: valid while the epoch holds (no code write, flush, TLB
    // flush, or change of CS limit or mode since) and CS has the same base; RIP's high
    // half (0 outside 64-bit mode, where the CS base is ignored) is folded into it.
    const key = base ^ ripHi;
    const k = eip & FRONT_MASK;
    if (dc.fEip[k] === eip && dc.fEpoch[k] === dc.epoch && dc.fBase[k] === key) {
      this.blockCount = dc.fCount[k]!;
      return dc.fSlot[k]!;
    }
    const mode = fetchMode(this);
    const long = (mode & 4) !== 0;
    const lin = long ? eip : (base + eip) | 0;
    const phys = long ? this.translateFetch(lin, ripHi) : this.translateFetch(lin);
    let start: number;
    if (phys >= 0) {
      const h = DecodeCache.hash(phys);
      if (
        dc.bKey[h] === (phys | 0) &&
        dc.bMode[h] === mode &&
        dc.bGen1[h] === dc.pageGen[dc.bPage1[h]!] &&
        dc.bGen2[h] === dc.pageGen[dc.bPage2[h]!] &&
        (eip >>> 0) + dc.bBytes[h]! - 1 <= this.segHi[CS]! &&
        this.secondPageHolds(h, lin, long ? ripHi : 0)
      ) {
        this.blockCount = dc.bCount[h]!;
        start = dc.bStart[h]!;
      } else start = this.decodeBlock(phys, mode);
    } else start = this.decodeBlock(phys, mode);
    // Remember it by EIP, unless it is uncached or the CS fetch state was not recorded
    // by recomputeSegment (then the epoch cannot vouch for it).
    if (start < dc.scratch && st[FETCH_MODE] === mode && st[FETCH_HI] === (this.segHi[CS]! | 0)) {
      dc.fEip[k] = eip;
      dc.fEpoch[k] = dc.epoch;
      dc.fBase[k] = key;
      dc.fSlot[k] = start;
      dc.fCount[k] = this.blockCount;
    }
    return start;
  }

  /**
   * A block that runs into a second page was decoded from the physical page that the
   * linear page after its first one mapped to then; under paging that may have changed.
   */
  private secondPageHolds(h: number, lin: number, hi: number): boolean {
    const dc = this.dc;
    if (dc.bPage2[h] === dc.bPage1[h] || (this.st[CR0]! & CR0_PG) === 0) return true;
    const p = this.translateFetch((lin + dc.bBytes[h]! - 1) | 0, hi);
    return p >= 0 && p >>> PAGE_SHIFT === dc.bPage2[h];
  }

  private decodeBlock(phys: number, mode: number): number {
    const dc = this.dc;
    const st = this.st;
    const f = this.fetcher;
    const decodeMode = (mode & 4) !== 0 ? 64 : (mode & 1) !== 0;
    f.long = (mode & 4) !== 0;
    f.startHi = st[RIP_HI]!;
    let start = dc.alloc(BLOCK_MAX);
    let count = 0;
    let bytes = 0;
    f.uncached = phys < 0;
    const firstPage = phys >>> PAGE_SHIFT;
    let lastPage = firstPage;
    for (;;) {
      f.start = (st[EIP]! + bytes) | 0;
      const slot = start + count;
      const n = decodeInsn(dc, slot, f, decodeMode);
      count++;
      if (n < 0) {
        // A fetch fault depends on CS and paging, not only on the bytes: a block that
        // starts with one is not cached. Later in a block (after a conditional branch)
        // the block ends before it instead; the fault is raised if execution gets there.
        if (count > 1) count--;
        else f.uncached = true;
        break;
      }
      bytes += n;
      lastPage = f.lastPage;
      if (lastPage !== firstPage) break;
      if (count === BLOCK_MAX || (dc.flags[slot]! & F_END) !== 0) break;
      // Stop before the next instruction if it starts in another page.
      if ((phys + bytes) >>> PAGE_SHIFT !== firstPage) break;
    }
    if (f.uncached) {
      // Give the slots back and decode into the scratch area, uncached.
      dc.next = start;
      const scratch = dc.scratch;
      for (let k = 0; k < count; k++) this.copySlot(start + k, scratch + k);
      start = scratch;
    } else {
      dc.next = start + count;
      const h = DecodeCache.hash(phys);
      dc.setBlockKey(h, phys);
      dc.bMode[h] = mode;
      dc.bStart[h] = start;
      dc.bCount[h] = count;
      dc.bBytes[h] = bytes;
      dc.bPage1[h] = firstPage;
      dc.bGen1[h] = dc.pageGen[firstPage]!;
      dc.bPage2[h] = lastPage;
      dc.bGen2[h] = dc.pageGen[lastPage]!;
      this.protectCodePage(firstPage);
      this.protectCodePage(lastPage);
    }
    this.blockCount = count;
    return start;
  }

  private copySlot(from: number, to: number): void {
    for (const a of this.dc.fields) a[to] = a[from]!;
    this.dc.fn[to] = this.dc.fn[from]!;
  }
}
