/**
 * Architectural numbering (Intel SDM Vol. 2, §2.1.5 and Vol. 3 §2–3): register numbers
 * as ModRM encodes them, segment registers as the `Sreg` field and the VMCS encode them,
 * EFLAGS and control-register bits.
 */

// General registers, ModRM.reg / ModRM.rm numbering.
export const EAX = 0;
export const ECX = 1;
export const EDX = 2;
export const EBX = 3;
export const ESP = 4;
export const EBP = 5;
export const ESI = 6;
export const EDI = 7;
/** An always-zero register slot: a missing base or index in an effective address reads it. */
export const REG_ZERO = 16;
/** Slots in the register file: 16 GPRs (R8–R15 for long mode) and the zero slot. */
export const REG_COUNT = 17;

// Segment registers, in Sreg / VMCS order, then LDTR and TR (same cache shape).
export const ES = 0;
export const CS = 1;
export const SS = 2;
export const DS = 3;
export const FS = 4;
export const GS = 5;
export const LDTR = 6;
export const TR = 7;
export const SEG_COUNT = 8;
export const SEG_NAMES = ["es", "cs", "ss", "ds", "fs", "gs", "ldtr", "tr"] as const;

// EFLAGS (SDM Vol. 1 §3.4.3).
export const FLAG_CF = 1 << 0;
export const FLAG_FIXED1 = 1 << 1;
export const FLAG_PF = 1 << 2;
export const FLAG_AF = 1 << 4;
export const FLAG_ZF = 1 << 6;
export const FLAG_SF = 1 << 7;
export const FLAG_TF = 1 << 8;
export const FLAG_IF = 1 << 9;
export const FLAG_DF = 1 << 10;
export const FLAG_OF = 1 << 11;
export const FLAG_IOPL = 3 << 12;
export const FLAG_NT = 1 << 14;
export const FLAG_RF = 1 << 16;
export const FLAG_VM = 1 << 17;
export const FLAG_AC = 1 << 18;
export const FLAG_VIF = 1 << 19;
export const FLAG_VIP = 1 << 20;
export const FLAG_ID = 1 << 21;
/** The six arithmetic flags, kept lazily. */
export const FLAGS_ARITH = FLAG_CF | FLAG_PF | FLAG_AF | FLAG_ZF | FLAG_SF | FLAG_OF;

// CR0 (SDM Vol. 3 §2.5).
export const CR0_PE = 1 << 0;
export const CR0_MP = 1 << 1;
export const CR0_EM = 1 << 2;
export const CR0_TS = 1 << 3;
export const CR0_ET = 1 << 4;
export const CR0_NE = 1 << 5;
export const CR0_WP = 1 << 16;
export const CR0_AM = 1 << 18;
export const CR0_NW = 1 << 29;
export const CR0_CD = 1 << 30;
export const CR0_PG = 1 << 31;

// CR4.
export const CR4_VME = 1 << 0;
export const CR4_PVI = 1 << 1;
export const CR4_TSD = 1 << 2;
export const CR4_DE = 1 << 3;
export const CR4_PSE = 1 << 4;
export const CR4_PAE = 1 << 5;
export const CR4_MCE = 1 << 6;
export const CR4_PGE = 1 << 7;
export const CR4_PCE = 1 << 8;
export const CR4_OSFXSR = 1 << 9;
export const CR4_OSXMMEXCPT = 1 << 10;
export const CR4_UMIP = 1 << 11;
export const CR4_VMXE = 1 << 13;
export const CR4_SMXE = 1 << 14;
export const CR4_FSGSBASE = 1 << 16;
export const CR4_PCIDE = 1 << 17;
export const CR4_OSXSAVE = 1 << 18;
export const CR4_SMEP = 1 << 20;
export const CR4_SMAP = 1 << 21;

// Segment access rights in the VMCS / kvm_segment layout (SDM Vol. 3 §24.4.1).
export const AR_TYPE_MASK = 0xf;
export const AR_TYPE_ACCESSED = 1 << 0;
/** Data: writable. Code: readable. */
export const AR_TYPE_RW = 1 << 1;
/** Data: expand-down. Code: conforming. */
export const AR_TYPE_EC = 1 << 2;
export const AR_TYPE_CODE = 1 << 3;
export const AR_S = 1 << 4;
export const AR_DPL_SHIFT = 5;
export const AR_P = 1 << 7;
export const AR_AVL = 1 << 12;
export const AR_L = 1 << 13;
export const AR_DB = 1 << 14;
export const AR_G = 1 << 15;
export const AR_UNUSABLE = 1 << 16;

// Exception vectors (SDM Vol. 3 §6.3.1).
export const DE_VECTOR = 0;
export const DB_VECTOR = 1;
export const NMI_VECTOR = 2;
export const BP_VECTOR = 3;
export const OF_VECTOR = 4;
export const BR_VECTOR = 5;
export const UD_VECTOR = 6;
export const NM_VECTOR = 7;
export const DF_VECTOR = 8;
export const TS_VECTOR = 10;
export const NP_VECTOR = 11;
export const SS_VECTOR = 12;
export const GP_VECTOR = 13;
export const PF_VECTOR = 14;
export const MF_VECTOR = 16;
export const AC_VECTOR = 17;
export const MC_VECTOR = 18;
export const XM_VECTOR = 19;

/** The 4 KiB page. */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

// EFER (MSR C000_0080h; SDM Vol. 3 §2.2.1).
export const EFER_SCE = 1 << 0;
export const EFER_LME = 1 << 8;
export const EFER_LMA = 1 << 10;
export const EFER_NXE = 1 << 11;
