/**
 * The opcode maps of the Intel SDM Vol. 2, Appendix A (Tables for the
 * groups), for 16- and 32-bit code, in the manual's own notation: a mnemonic and operand
 * specifiers made of an addressing letter and a size letter (`Eb`, `Gv`, `Iz`, `Jb`, …),
 * or a fixed register (`AL`, `eAX`, `rAX`, `DX`, `CL`, `1`).
 *
 * `fetchdecode.ts` compiles these rows into decode descriptors and handler names.
 * Deviations from the manual, all in how rows are written, none in behaviour:
 * - Jcc/SETcc/CMOVcc rows are written once per opcode as `JO`, `JNO` … with their
 *   condition taken from the opcode's low nibble (the manual lists them the same way).
 * - `NOP` (90) is its own row, not `XCHG eAX,eAX`; PAUSE (F3 90) is chosen by the decoder
 *   before the map, since the manual lists it as a prefixed form of 90.
 * - Rows the manual marks i64 (invalid in 64-bit mode) are written for 16/32-bit code;
 *   64-bit mode replaces them from ONE_BYTE_64 / TWO_BYTE_64 / GROUP7_REG_64, and sizes
 *   rows by D64 / F64 below.
 * - x87 escapes (D8–DF) decode with a ModRM byte and run the `esc` handler (#NM when
 *   CR0.EM or CR0.TS is set; otherwise the x87 unit, which comes later), except the
 *   control instructions listed in `X87` (escape maps, Tables ).
 * - Cells of the 0F map whose instruction a mandatory prefix selects (none, 66, F3, F2:
 *   the SSE rows of Table A-3) are written `#sse` and listed in `SSE_0F`; Grp15 (0F AE)
 *   is one of them, its register forms in `GROUP15_REG`.
 * - Only the legacy-SSE (non-VEX) forms are written: no `H` (VEX.vvvv) operand.
 * - Grp7/Grp9 register forms (VMX/SVM/XSAVE instructions) are listed in `GROUP7_REG`.
 */

/** A row: `"MNEMONIC op1,op2"`, a group reference `"#grp1 Eb,Ib"`, or null (#UD). */
export type OpRow = string | null;

// biome-ignore format: the SDM's opcode map, eight opcodes per row as the manual lays it out
export const ONE_BYTE_MAP: readonly OpRow[] = [
  /* 00 */ "ADD Eb,Gb", "ADD Ev,Gv", "ADD Gb,Eb", "ADD Gv,Ev", "ADD AL,Ib", "ADD rAX,Iz", "PUSH ES", "POP ES",
  /* 08 */ "OR Eb,Gb", "OR Ev,Gv", "OR Gb,Eb", "OR Gv,Ev", "OR AL,Ib", "OR rAX,Iz", "PUSH CS", null,
  /* 10 */ "ADC Eb,Gb", "ADC Ev,Gv", "ADC Gb,Eb", "ADC Gv,Ev", "ADC AL,Ib", "ADC rAX,Iz", "PUSH SS", "POP SS",
  /* 18 */ "SBB Eb,Gb", "SBB Ev,Gv", "SBB Gb,Eb", "SBB Gv,Ev", "SBB AL,Ib", "SBB rAX,Iz", "PUSH DS", "POP DS",
  /* 20 */ "AND Eb,Gb", "AND Ev,Gv", "AND Gb,Eb", "AND Gv,Ev", "AND AL,Ib", "AND rAX,Iz", null, "DAA",
  /* 28 */ "SUB Eb,Gb", "SUB Ev,Gv", "SUB Gb,Eb", "SUB Gv,Ev", "SUB AL,Ib", "SUB rAX,Iz", null, "DAS",
  /* 30 */ "XOR Eb,Gb", "XOR Ev,Gv", "XOR Gb,Eb", "XOR Gv,Ev", "XOR AL,Ib", "XOR rAX,Iz", null, "AAA",
  /* 38 */ "CMP Eb,Gb", "CMP Ev,Gv", "CMP Gb,Eb", "CMP Gv,Ev", "CMP AL,Ib", "CMP rAX,Iz", null, "AAS",
  /* 40 */ "INC eAX", "INC eCX", "INC eDX", "INC eBX", "INC eSP", "INC eBP", "INC eSI", "INC eDI",
  /* 48 */ "DEC eAX", "DEC eCX", "DEC eDX", "DEC eBX", "DEC eSP", "DEC eBP", "DEC eSI", "DEC eDI",
  /* 50 */ "PUSH rAX", "PUSH rCX", "PUSH rDX", "PUSH rBX", "PUSH rSP", "PUSH rBP", "PUSH rSI", "PUSH rDI",
  /* 58 */ "POP rAX", "POP rCX", "POP rDX", "POP rBX", "POP rSP", "POP rBP", "POP rSI", "POP rDI",
  /* 60 */ "PUSHA", "POPA", "BOUND Gv,Ma", "ARPL Ew,Gw", null, null, null, null,
  /* 68 */ "PUSH Iz", "IMUL Gv,Ev,Iz", "PUSH Ib", "IMUL Gv,Ev,Ib", "INS Yb,DX", "INS Yz,DX", "OUTS DX,Xb", "OUTS DX,Xz",
  /* 70 */ "JO Jb", "JNO Jb", "JB Jb", "JNB Jb", "JZ Jb", "JNZ Jb", "JBE Jb", "JNBE Jb",
  /* 78 */ "JS Jb", "JNS Jb", "JP Jb", "JNP Jb", "JL Jb", "JNL Jb", "JLE Jb", "JNLE Jb",
  /* 80 */ "#grp1 Eb,Ib", "#grp1 Ev,Iz", "#grp1 Eb,Ib", "#grp1 Ev,Ib", "TEST Eb,Gb", "TEST Ev,Gv", "XCHG Eb,Gb", "XCHG Ev,Gv",
  /* 88 */ "MOV Eb,Gb", "MOV Ev,Gv", "MOV Gb,Eb", "MOV Gv,Ev", "MOV Ev,Sw", "LEA Gv,M", "MOV Sw,Ew", "#grp1a Ev",
  /* 90 */ "NOP", "XCHG rCX,rAX", "XCHG rDX,rAX", "XCHG rBX,rAX", "XCHG rSP,rAX", "XCHG rBP,rAX", "XCHG rSI,rAX", "XCHG rDI,rAX",
  /* 98 */ "CBW", "CWD", "CALLF Ap", "FWAIT", "PUSHF Fv", "POPF Fv", "SAHF", "LAHF",
  /* A0 */ "MOV AL,Ob", "MOV rAX,Ov", "MOV Ob,AL", "MOV Ov,rAX", "MOVS Yb,Xb", "MOVS Yv,Xv", "CMPS Xb,Yb", "CMPS Xv,Yv",
  /* A8 */ "TEST AL,Ib", "TEST rAX,Iz", "STOS Yb,AL", "STOS Yv,rAX", "LODS AL,Xb", "LODS rAX,Xv", "SCAS AL,Yb", "SCAS rAX,Yv",
  /* B0 */ "MOV AL,Ib", "MOV CL,Ib", "MOV DL,Ib", "MOV BL,Ib", "MOV AH,Ib", "MOV CH,Ib", "MOV DH,Ib", "MOV BH,Ib",
  /* B8 */ "MOV rAX,Iv", "MOV rCX,Iv", "MOV rDX,Iv", "MOV rBX,Iv", "MOV rSP,Iv", "MOV rBP,Iv", "MOV rSI,Iv", "MOV rDI,Iv",
  /* C0 */ "#grp2 Eb,Ib", "#grp2 Ev,Ib", "RET Iw", "RET", "LES Gz,Mp", "LDS Gz,Mp", "#grp11 Eb,Ib", "#grp11 Ev,Iz",
  /* C8 */ "ENTER Iw,Ib", "LEAVE", "RETF Iw", "RETF", "INT3", "INT Ib", "INTO", "IRET",
  /* D0 */ "#grp2 Eb,1", "#grp2 Ev,1", "#grp2 Eb,CL", "#grp2 Ev,CL", "AAM Ib", "AAD Ib", "SALC", "XLAT",
  /* D8 */ "ESC Ev", "ESC Ev", "ESC Ev", "ESC Ev", "ESC Ev", "ESC Ev", "ESC Ev", "ESC Ev",
  /* E0 */ "LOOPNE Jb", "LOOPE Jb", "LOOP Jb", "JCXZ Jb", "IN AL,Ib", "IN eAX,Ib", "OUT Ib,AL", "OUT Ib,eAX",
  /* E8 */ "CALL Jz", "JMP Jz", "JMPF Ap", "JMP Jb", "IN AL,DX", "IN eAX,DX", "OUT DX,AL", "OUT DX,eAX",
  /* F0 */ null, "INT1", null, null, "HLT", "CMC", "#grp3 Eb", "#grp3 Ev",
  /* F8 */ "CLC", "STC", "CLI", "STI", "CLD", "STD", "#grp4", "#grp5",
];

// biome-ignore format: the SDM's opcode map, eight opcodes per row as the manual lays it out
export const TWO_BYTE_MAP: readonly OpRow[] = [
  /* 0F00 */ "#grp6", "#grp7", "LAR Gv,Ew", "LSL Gv,Ew", null, null, "CLTS", null,
  /* 0F08 */ "INVD", "WBINVD", null, "UD2", null, "NOP Ev", null, null,
  /* 0F10 */ "#sse", "#sse", null, null, null, null, null, null,
  /* 0F18 */ "NOP Ev", "NOP Ev", "NOP Ev", "NOP Ev", "NOP Ev", "NOP Ev", "NOP Ev", "NOP Ev",
  /* 0F20 */ "MOV Rd,Cd", "MOV Rd,Dd", "MOV Cd,Rd", "MOV Dd,Rd", null, null, null, null,
  /* 0F28 */ "#sse", "#sse", null, null, null, null, null, null,
  /* 0F30 */ "WRMSR", "RDTSC", "RDMSR", "RDPMC", "SYSENTER", "SYSEXIT", null, null,
  /* 0F38 */ "#0f38", null, null, null, null, null, null, null,
  /* 0F40 */ "CMOVO Gv,Ev", "CMOVNO Gv,Ev", "CMOVB Gv,Ev", "CMOVNB Gv,Ev", "CMOVZ Gv,Ev", "CMOVNZ Gv,Ev", "CMOVBE Gv,Ev", "CMOVNBE Gv,Ev",
  /* 0F48 */ "CMOVS Gv,Ev", "CMOVNS Gv,Ev", "CMOVP Gv,Ev", "CMOVNP Gv,Ev", "CMOVL Gv,Ev", "CMOVNL Gv,Ev", "CMOVLE Gv,Ev", "CMOVNLE Gv,Ev",
  /* 0F50 */ null, null, null, null, "#sse", "#sse", "#sse", "#sse",
  /* 0F58 */ null, null, null, null, null, null, null, null,
  /* 0F60 */ "#sse", "#sse", "#sse", null, null, null, null, null,
  /* 0F68 */ "#sse", "#sse", "#sse", null, "#sse", "#sse", "#sse", "#sse",
  /* 0F70 */ "#sse", null, null, null, "#sse", "#sse", "#sse", null,
  /* 0F78 */ "VMREAD Ed,Gd", "VMWRITE Gd,Ed", null, null, null, null, "#sse", "#sse",
  /* 0F80 */ "JO Jz", "JNO Jz", "JB Jz", "JNB Jz", "JZ Jz", "JNZ Jz", "JBE Jz", "JNBE Jz",
  /* 0F88 */ "JS Jz", "JNS Jz", "JP Jz", "JNP Jz", "JL Jz", "JNL Jz", "JLE Jz", "JNLE Jz",
  /* 0F90 */ "SETO Eb", "SETNO Eb", "SETB Eb", "SETNB Eb", "SETZ Eb", "SETNZ Eb", "SETBE Eb", "SETNBE Eb",
  /* 0F98 */ "SETS Eb", "SETNS Eb", "SETP Eb", "SETNP Eb", "SETL Eb", "SETNL Eb", "SETLE Eb", "SETNLE Eb",
  /* 0FA0 */ "PUSH FS", "POP FS", "CPUID", "BT Ev,Gv", "SHLD Ev,Gv,Ib", "SHLD Ev,Gv,CL", null, null,
  /* 0FA8 */ "PUSH GS", "POP GS", "RSM", "BTS Ev,Gv", "SHRD Ev,Gv,Ib", "SHRD Ev,Gv,CL", "#sse", "IMUL Gv,Ev",
  /* 0FB0 */ "CMPXCHG Eb,Gb", "CMPXCHG Ev,Gv", "LSS Gv,Mp", "BTR Ev,Gv", "LFS Gv,Mp", "LGS Gv,Mp", "MOVZX Gv,Eb", "MOVZX Gv,Ew",
  /* 0FB8 */ null, "UD1 Gv,Ev", "#grp8 Ev,Ib", "BTC Ev,Gv", "BSF Gv,Ev", "BSR Gv,Ev", "MOVSX Gv,Eb", "MOVSX Gv,Ew",
  /* 0FC0 */ "XADD Eb,Gb", "XADD Ev,Gv", null, null, null, null, null, "#grp9",
  /* 0FC8 */ "BSWAP rAX", "BSWAP rCX", "BSWAP rDX", "BSWAP rBX", "BSWAP rSP", "BSWAP rBP", "BSWAP rSI", "BSWAP rDI",
  /* 0FD0 */ null, null, null, null, "#sse", null, "#sse", "#sse",
  /* 0FD8 */ null, null, null, "#sse", null, null, null, "#sse",
  /* 0FE0 */ null, null, null, null, null, null, null, null,
  /* 0FE8 */ null, null, null, "#sse", null, null, null, "#sse",
  /* 0FF0 */ null, null, null, null, null, null, null, null,
  /* 0FF8 */ "#sse", "#sse", "#sse", "#sse", "#sse", "#sse", "#sse", "UD0 Gv,Ev",
];

/**
 * 64-bit mode's differences from the one-byte map (Table A-2 superscripts i64 and o64):
 * i64 rows are invalid; 63 is MOVSXD. 40–4F are REX prefixes there, never opcodes; C4,
 * C5 and 62 are VEX/EVEX prefixes (AVX, not implemented: #UD).
 */
export const ONE_BYTE_64: Readonly<Record<number, OpRow>> = {
  6: null,
  7: null,
  14: null,
  22: null,
  23: null,
  30: null,
  31: null,
  39: null,
  47: null,
  55: null,
  63: null,
  96: null,
  97: null,
  98: null,
  99: "MOVSXD Gv,Ed",
  130: null,
  154: null,
  196: null,
  197: null,
  206: null,
  212: null,
  213: null,
  214: null,
  234: null,
};

/** 64-bit mode's additions to the 0F map: SYSCALL and SYSRET (o64). */
export const TWO_BYTE_64: Readonly<Record<number, OpRow>> = {
  5: "SYSCALL",
  7: "SYSRET",
};

/** Grp7 register forms that exist only in 64-bit mode: SWAPGS (0F 01 F8). */
export const GROUP7_REG_64: Readonly<Record<number, string>> = {
  248: "SWAPGS",
};

/**
 * Operand size in 64-bit mode (Table A-2 superscripts d64 and f64): d64 rows default to
 * 64 bits (66 makes them 16, REX.W changes nothing), f64 rows are 64 bits whatever the
 * prefixes (near branches, MOV CR/DR). By mnemonic; the two-byte PUSH/POP FS/GS and the
 * Grp5 forms share them.
 */
export const D64 = new Set(["PUSH", "POP", "PUSHF", "POPF", "LEAVE", "ENTER"]);
export const F64 = new Set(["Jcc", "JMP", "CALL", "RET", "LOOP", "LOOPE", "LOOPNE", "JCXZ"]);

/** Groups by ModRM.reg (Table A-6). An entry may carry its own operands. */
// biome-ignore format: one group per line, members in ModRM.reg order
export const GROUPS: Readonly<Record<string, readonly OpRow[]>> = {
  grp1: ["ADD", "OR", "ADC", "SBB", "AND", "SUB", "XOR", "CMP"],
  grp1a: ["POP", null, null, null, null, null, null, null],
  grp2: ["ROL", "ROR", "RCL", "RCR", "SHL", "SHR", "SHL", "SAR"],
  grp3: ["TEST +I", "TEST +I", "NOT", "NEG", "MUL", "IMUL", "DIV", "IDIV"],
  grp4: ["INC Eb", "DEC Eb", null, null, null, null, null, null],
  grp5: ["INC Ev", "DEC Ev", "CALL Ev", "CALLF Mp", "JMP Ev", "JMPF Mp", "PUSH Ev", null],
  grp6: ["SLDT Ew", "STR Ew", "LLDT Ew", "LTR Ew", "VERR Ew", "VERW Ew", null, null],
  grp7: ["SGDT Ms", "SIDT Ms", "LGDT Ms", "LIDT Ms", "SMSW Ew", null, "LMSW Ew", "INVLPG Mb"],
  grp8: [null, null, null, null, "BT", "BTS", "BTR", "BTC"],
  grp9: [null, "CMPXCHG8B Mq", null, null, null, null, "#vmx6", "VMPTRST Mq"],
  grp11: ["MOV", null, null, null, null, null, null, null],
  grp15: ["FXSAVE M", "FXRSTOR M", "LDMXCSR Md", "STMXCSR Md", null, null, null, null],
};

/** Grp15 (0F AE, no prefix) with ModRM.mod = 3, by ModRM.reg (Table A-6, "11B"). */
export const GROUP15_REG: readonly OpRow[] = [
  null,
  null,
  null,
  null,
  null,
  "LFENCE",
  "MFENCE",
  "SFENCE",
];

/**
 * The 0F cells split by mandatory prefix (Table A-3): `[none, 66, F3, F2]`. The prefix that
 * selects is the last F2/F3 if any, else 66; once it has selected the row it is neither an
 * operand-size nor a REP prefix (SDM Vol. 2 §2.1.2). MMX forms (no prefix, `P`/`Q`
 * operands) are not implemented and stay null.
 *
 * Letters beyond the integer maps (Appendix A.2.1/A.2.2): V = XMM register in ModRM.reg,
 * W = XMM register or memory in ModRM.rm, U = XMM register in ModRM.rm (mod = 3 only);
 * sizes ps/pd/ss/sd (packed/scalar single/double), x (128 bits), q, d, and y (d, or q
 * with REX.W in 64-bit mode).
 */
export const SSE_0F: Readonly<Record<number, readonly [OpRow, OpRow, OpRow, OpRow]>> = {
  16: ["MOVUPS Vps,Wps", "MOVUPD Vpd,Wpd", "MOVSS Vss,Wss", "MOVSD Vsd,Wsd"],
  17: ["MOVUPS Wps,Vps", "MOVUPD Wpd,Vpd", "MOVSS Wss,Vss", "MOVSD Wsd,Vsd"],
  40: ["MOVAPS Vps,Wps", "MOVAPD Vpd,Wpd", null, null],
  41: ["MOVAPS Wps,Vps", "MOVAPD Wpd,Vpd", null, null],
  84: ["ANDPS Vps,Wps", "ANDPD Vpd,Wpd", null, null],
  85: ["ANDNPS Vps,Wps", "ANDNPD Vpd,Wpd", null, null],
  86: ["ORPS Vps,Wps", "ORPD Vpd,Wpd", null, null],
  87: ["XORPS Vps,Wps", "XORPD Vpd,Wpd", null, null],
  96: [null, "PUNPCKLBW Vx,Wx", null, null],
  97: [null, "PUNPCKLWD Vx,Wx", null, null],
  98: [null, "PUNPCKLDQ Vx,Wx", null, null],
  104: [null, "PUNPCKHBW Vx,Wx", null, null],
  105: [null, "PUNPCKHWD Vx,Wx", null, null],
  106: [null, "PUNPCKHDQ Vx,Wx", null, null],
  108: [null, "PUNPCKLQDQ Vx,Wx", null, null],
  109: [null, "PUNPCKHQDQ Vx,Wx", null, null],
  110: [null, "MOVD Vy,Ey", null, null],
  111: [null, "MOVDQA Vx,Wx", "MOVDQU Vx,Wx", null],
  112: [null, "PSHUFD Vx,Wx,Ib", null, null],
  116: [null, "PCMPEQB Vx,Wx", null, null],
  117: [null, "PCMPEQW Vx,Wx", null, null],
  118: [null, "PCMPEQD Vx,Wx", null, null],
  126: [null, "MOVD Ey,Vy", "MOVQ Vx,Wq", null],
  127: [null, "MOVDQA Wx,Vx", "MOVDQU Wx,Vx", null],
  174: ["#grp15", null, null, null],
  212: [null, "PADDQ Vx,Wx", null, null],
  214: [null, "MOVQ Wq,Vx", null, null],
  215: [null, "PMOVMSKB Gd,Ux", null, null],
  219: [null, "PAND Vx,Wx", null, null],
  223: [null, "PANDN Vx,Wx", null, null],
  235: [null, "POR Vx,Wx", null, null],
  239: [null, "PXOR Vx,Wx", null, null],
  248: [null, "PSUBB Vx,Wx", null, null],
  249: [null, "PSUBW Vx,Wx", null, null],
  250: [null, "PSUBD Vx,Wx", null, null],
  251: [null, "PSUBQ Vx,Wx", null, null],
  252: [null, "PADDB Vx,Wx", null, null],
  253: [null, "PADDW Vx,Wx", null, null],
  254: [null, "PADDD Vx,Wx", null, null],
};

/**
 * The x87 instructions that are implemented (the escape opcode maps, Tables ):
 * `"D9 /5"` a memory form by opcode and ModRM.reg, `"DB E3"` a register form by opcode and
 * ModRM byte. Every other x87 encoding runs its one-byte row, `ESC Ev`.
 */
export const X87: Readonly<Record<string, string>> = {
  "D9 /5": "FLDCW Mw",
  "D9 /7": "FNSTCW Mw",
  "DB E2": "FNCLEX",
  "DB E3": "FNINIT",
  "DD /7": "FNSTSW Mw",
  "DF E0": "FNSTSW AX",
};

/**
 * Grp7 with ModRM.mod = 3 (Table A-6, "11B" column): the instruction is chosen by
 * ModRM.reg and ModRM.rm together; the key is the ModRM byte.
 */
export const GROUP7_REG: Readonly<Record<number, string>> = {
  193: "VMCALL",
  194: "VMLAUNCH",
  195: "VMRESUME",
  196: "VMXOFF",
  200: "MONITOR",
  201: "MWAIT",
  208: "XGETBV",
  209: "XSETBV",
  216: "VMRUN",
  217: "VMMCALL",
  218: "VMLOAD",
  219: "VMSAVE",
  220: "STGI",
  221: "CLGI",
  222: "SKINIT",
  223: "INVLPGA",
  249: "RDTSCP",
};

/** Grp9 /6 by prefix and ModRM.mod: VMPTRLD, VMCLEAR (66), VMXON (F3), RDRAND (mod 3). */
export const GROUP9_6 = {
  none: "VMPTRLD Mq",
  p66: "VMCLEAR Mq",
  pF3: "VMXON Mq",
  reg: "RDRAND Rv",
} as const;

/** 0F 38 rows reached in 16/32-bit code (with the 66 prefix): INVEPT, INVVPID. */
export const THREE_BYTE_0F38: Readonly<Record<number, string>> = {
  128: "INVEPT Gd,Mdq",
  129: "INVVPID Gd,Mdq",
};

/** Instructions that may take a LOCK prefix (with a memory destination), SDM LOCK. */
export const LOCKABLE = new Set([
  "ADD",
  "ADC",
  "AND",
  "BTC",
  "BTR",
  "BTS",
  "CMPXCHG",
  "CMPXCHG8B",
  "DEC",
  "INC",
  "NEG",
  "NOT",
  "OR",
  "SBB",
  "SUB",
  "XOR",
  "XADD",
  "XCHG",
]);

/**
 * Instructions after which a decoded block ends: they transfer control, may change how
 * the following bytes decode or whether interrupts are recognised, or stop the CPU.
 * Conditional branches (Jcc, LOOPcc, JCXZ) do not: when not taken the block goes on with
 * the next instruction, and when taken the handler ends it (STOP_JUMP).
 */
export const BLOCK_ENDERS = new Set([
  "JMP",
  "JMPF",
  "CALL",
  "CALLF",
  "RET",
  "RETF",
  "INT",
  "INT1",
  "INT3",
  "INTO",
  "IRET",
  "HLT",
  "POPF",
  "STI",
  "MOV_Sw",
  "POP_SS",
  "LMSW",
  "MOV_Cd",
  "CLTS",
  "WRMSR",
  "RSM",
  "SYSENTER",
  "SYSEXIT",
  "INVLPG",
  "LIDT",
  "LGDT",
  "LLDT",
  "LTR",
  "UD2",
  "UD0",
  "UD1",
  "VMCALL",
  "VMLAUNCH",
  "VMRESUME",
  "VMXOFF",
  "VMRUN",
  "VMMCALL",
  "VMLOAD",
  "VMSAVE",
  "STGI",
  "CLGI",
  "SKINIT",
  "INVLPGA",
  "VMPTRLD",
  "VMCLEAR",
  "VMXON",
  "VMPTRST",
  "VMREAD",
  "VMWRITE",
  "INVEPT",
  "INVVPID",
  "XSETBV",
  "MWAIT",
  "BOUND",
  // The TSC advances per block: ending the block keeps two RDTSCs strictly increasing.
  "RDTSC",
  "RDTSCP",
]);
