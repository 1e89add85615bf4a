/**
 * Indices into the CPU's scalar state array `cpu.st` (an Int32Array). Everything the
 * interpreter touches per instruction lives in typed arrays; these names say where.
 */

/** EIP (RIP's low half). */
export const EIP = 0;
/** EFLAGS; the arithmetic bits are valid only while LF_OP is LF_NONE. */
export const FLAGS = 1;
// Lazy flags (lazy_flags.ts).
export const LF_OP = 2;
export const LF_SIZE = 3;
export const LF_DST = 4;
export const LF_SRC = 5;
export const LF_RES = 6;
export const LF_CARRY = 7;
// Control registers (low halves; CR8 is the TPR).
export const CR0 = 8;
export const CR2 = 9;
export const CR3 = 10;
export const CR4 = 11;
export const CR8 = 12;
/** Current privilege level (CS.RPL in protected mode, 0 in real mode, 3 in VM86). */
export const CPL = 13;
export const GDTR_BASE = 14;
export const GDTR_LIMIT = 15;
export const IDTR_BASE = 16;
export const IDTR_LIMIT = 17;
/** DR0–DR3, DR6, DR7 at DR_BASE + n (n = 0..7; 4 and 5 alias 6 and 7). */
export const DR_BASE = 18;
/**
 * Why the current block must stop after this instruction: 0 = go on; STOP_JUMP = the
 * instruction retired and set EIP; STOP_NEXT = it retired, advance EIP past it;
 * STOP_FAULT = it did not retire (an event was delivered or claimed; EIP is set).
 */
export const STOP = 26;
/** Nonzero when an interrupt, NMI or other asynchronous event may be pending. */
export const PENDING = 27;
/** Interrupt shadow after STI / MOV SS / POP SS: 1 for the next instruction. */
export const INHIBIT = 28;
/** Nonzero while halted (HLT), until an interrupt, NMI or reset. */
export const HALTED = 29;
/** A20 gate: the mask physical addresses are ANDed with (~(1 << 20) when A20 is off). */
export const A20_MASK = 30;
/** Nesting while delivering an event (#DF, then triple fault). */
export const EVENT_DEPTH = 31;
/** The external interrupt line: 1 = raised (the embedder supplies the vector). */
export const INTR_LINE = 32;
/** NMI input latched, not yet delivered. */
export const NMI_PENDING = 33;
/** NMIs blocked until the next IRET. */
export const NMI_BLOCKED = 34;
/** Why run() returned (ExitReason). */
export const EXIT_REASON = 35;
/** EFER (low half). */
export const EFER = 36;
/** Physical address of the last read-modify-write operand (-1 = goes through MMIO). */
export const RMW_PHYS = 37;
/** Linear address of that operand (for the MMIO path). */
export const RMW_LIN = 38;
/** Vector and error code of the event being delivered, for double-fault classification. */
export const EVENT_VECTOR = 39;
/** The external interrupt vector the embedder presents with INTR_LINE. */
export const INTR_VECTOR = 40;
/**
 * What decoding depends on in CS besides its base: the highest valid offset and the mode
 * (bit 0 = CS.D, bit 1 = CR0.PE, bit 2 = 64-bit mode: CS.L with EFER.LMA). recomputeSegment(CS) bumps the decode cache's epoch
 * when either changes, so blocks found by EIP alone stay valid while they hold.
 */
export const FETCH_HI = 41;
export const FETCH_MODE = 42;
/** A read-modify-write operand that crosses a page under paging: the second page's
 * physical address, and how many bytes lie in the first page (0: no crossing). */
export const RMW_PHYS2 = 43;
export const RMW_SPLIT = 44;
/** RIP's high half (64-bit mode; 0 elsewhere). */
export const RIP_HI = 45;
/** The high half of the effective address ea64() computed last. */
export const EA_HI = 46;
/** CR2's high half (a #PF on a 64-bit linear address). */
export const CR2_HI = 47;
/** GDTR and IDTR bases' high halves (LGDT/LIDT in 64-bit mode). */
export const GDTR_BASE_HI = 48;
export const IDTR_BASE_HI = 49;
/** The high half of RMW_LIN (64-bit mode). */
export const RMW_LIN_HI = 50;
/** The high half of the last quadword a 64-bit-mode accessor read (access64.ts). */
export const VAL_HI = 51;
/**
 * The MSRs SYSCALL, SYSRET and SWAPGS read, as low/high pairs (slot, slot + 1), so those
 * instructions need no BigInt: IA32_STAR, LSTAR, CSTAR, FMASK, KERNEL_GS_BASE.
 */
export const MSR_STAR = 52;
export const MSR_LSTAR = 54;
export const MSR_CSTAR = 56;
export const MSR_FMASK = 58;
export const MSR_KERNEL_GS_BASE = 60;
/**
 * How the event being delivered came (exception.ts EVENT_FAULT …) and its error code (-1 =
 * none): with EVENT_VECTOR, what a VM exit during delivery reports as IDT-vectoring
 * information.
 */
export const EVENT_KIND = 62;
export const EVENT_ERROR = 63;
/**
 * A locked instruction in progress on shared RAM (locked.ts): LOCK_MODE is nonzero while
 * its handler runs, so the read of a read-modify-write keeps the value it read
 * (LOCK_OLD, LOCK_OLD_HI for a quadword) and the write becomes a compare-and-exchange
 * against it; LOCK_FAIL is set when that compare failed (the instruction is re-run).
 */
export const LOCK_MODE = 64;
export const LOCK_OLD = 65;
export const LOCK_OLD_HI = 66;
export const LOCK_FAIL = 67;
export const ST_COUNT = 68;

export const STOP_JUMP = 1;
export const STOP_NEXT = 2;
export const STOP_FAULT = 3;

/** Values of st[LF_OP]: the operation whose flags are pending (lazy_flags.ts). */
export const LF_NONE = 0;
/** dst + src. */
export const LF_ADD = 1;
/** dst + src + carry-in (LF_CARRY). */
export const LF_ADC = 2;
/** dst - src. */
export const LF_SUB = 3;
/** dst - src - carry-in (LF_CARRY). */
export const LF_SBB = 4;
/** AND/OR/XOR/TEST: CF = OF = AF = 0. */
export const LF_LOGIC = 5;
/** dst + 1; CF kept in LF_CARRY. */
export const LF_INC = 6;
/** dst - 1; CF kept in LF_CARRY. */
export const LF_DEC = 7;
/** ZF/SF/PF from the result; CF, AF, OF given explicitly as flag bits in LF_CARRY. */
export const LF_RESULT = 8;

/** Bits of cpu.segOk (access.ts): the segment may be read / written. */
export const SEG_OK_R = 1;
export const SEG_OK_W = 2;
