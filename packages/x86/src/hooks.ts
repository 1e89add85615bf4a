/**
 * The virtualization seam (../../design.md, "Virtualization hooks"). At each sensitive
 * event the interpreter asks the installed extension — VMX answers from the VMCS
 * controls, SVM from the VMCB intercepts — whether the event causes an exit. The CPU
 * knows neither; with no extension installed it behaves as bare metal.
 *
 * The details of the event are written into `cpu.exitInfo` before the call (no
 * allocation); the extension reads them and records its own exit state.
 */
import type { X86Cpu } from "./cpu.js";

/** The extension let the event happen as on bare metal. */
export const HOOK_PASS = 0;
/** The extension claimed the event: the CPU stops before the instruction retires. */
export const HOOK_EXIT = 1;
/** The extension performed the instruction itself (e.g. VMREAD in root mode): it retires. */
export const HOOK_DONE = 2;
export type HookResult = typeof HOOK_PASS | typeof HOOK_EXIT | typeof HOOK_DONE;

/** Event kinds, with the `exitInfo` words each carries after the kind (index 0). */
export const EV_IO = 1; // [1] port, [2] size, [3] 1 = IN, [4] 1 = string, [5] 1 = REP, [6] value (OUT)
export const EV_HLT = 2;
export const EV_CPUID = 3; // [1] leaf (EAX), [2] subleaf (ECX)
/**
 * RDMSR [1] msr (ECX); WRMSR [1] msr, [2] low, [3] high. A hook may answer HOOK_DONE after
 * performing the access itself (an MSR the extension implements, e.g. SVM's VM_CR, or
 * injecting the #GP it raises); for RDMSR it has then set EDX:EAX.
 */
export const EV_RDMSR = 4;
export const EV_WRMSR = 5;
/**
 * [1] cr, [2] 0 = mov to, 1 = mov from, 2 = clts, 3 = lmsw, [3] gpr (-1 = memory/none),
 * [4] the value: written (mov to), read (mov from; CR0/CR4), CR0 after CLTS, or LMSW's
 * source. A hook that passes may change [4] — the instruction then uses that value, as
 * VMX's guest/host masks and read shadows require.
 */
export const EV_CR_ACCESS = 6;
export const EV_DR_ACCESS = 7; // [1] dr, [2] 0 = mov to, 1 = mov from, [3] gpr
export const EV_INVLPG = 8; // [1] linear address, [2] its high half (64-bit mode)
export const EV_DESC_TABLE = 9; // [1] 0 SGDT 1 SIDT 2 LGDT 3 LIDT 4 SLDT 5 STR 6 LLDT 7 LTR
export const EV_RDTSC = 10;
export const EV_RDTSCP = 11;
/**
 * [1] vector, [2] error code (-1 none), [3] 1 = software (INT n, INT3, INTO), 2 =
 * privileged software (INT1); for #PF [4]/[5] the linear address (low, high) — CR2 is
 * written only when the fault is delivered, not when the hook claims it.
 */
export const EV_EXCEPTION = 12;
export const EV_EXT_INTR = 13; // [1] vector
export const EV_NMI = 14;
export const EV_INTR_WINDOW = 15;
export const EV_NMI_WINDOW = 16;
export const EV_TRIPLE_FAULT = 17;
export const EV_VMCALL = 18; // VMCALL (0F 01 C1) or VMMCALL (0F 01 D9): [1] 0 = VMCALL, 1 = VMMCALL
export const EV_VMX_INSN = 19; // [1] opcode id (see VMX_INSN_*), [2] slot of the decoded instruction
export const EV_SVM_INSN = 20; // [1] opcode id (see SVM_INSN_*), [2] slot
/**
 * [1] physical address, [2] size, [3] 0 = read, 1 = write, 2 = instruction fetch (asked
 * while decoding, so possibly for an instruction that does not run: only an exit that
 * run() reports counts), [4] value (written; or supplied by a hook answering HOOK_DONE).
 */
export const EV_MMIO = 21;
export const EV_INVD = 22; // [1] 0 = INVD, 1 = WBINVD
export const EV_RDPMC = 23;
export const EV_XSETBV = 24;
export const EV_MONITOR_MWAIT = 25; // [1] 0 = MONITOR, 1 = MWAIT
export const EV_PAUSE = 26;
export const EV_TASK_SWITCH = 27; // [1] new TSS selector, [2] source (0 CALL 1 IRET 2 JMP 3 gate)
export const EV_RSM = 28;

/** The pseudo-vector a fetch that a hook claimed carries through the decoder. */
export const FETCH_HOOK_EXIT = 256;

export const VMX_INSN_VMCLEAR = 0;
export const VMX_INSN_VMLAUNCH = 1;
export const VMX_INSN_VMPTRLD = 2;
export const VMX_INSN_VMPTRST = 3;
export const VMX_INSN_VMREAD = 4;
export const VMX_INSN_VMRESUME = 5;
export const VMX_INSN_VMWRITE = 6;
export const VMX_INSN_VMXOFF = 7;
export const VMX_INSN_VMXON = 8;
export const VMX_INSN_INVEPT = 9;
export const VMX_INSN_INVVPID = 10;

export const SVM_INSN_VMRUN = 0;
export const SVM_INSN_VMLOAD = 1;
export const SVM_INSN_VMSAVE = 2;
export const SVM_INSN_STGI = 3;
export const SVM_INSN_CLGI = 4;
export const SVM_INSN_SKINIT = 5;
export const SVM_INSN_INVLPGA = 6;

/** A virtualization extension (VMX non-root operation, SVM guest mode). */
export interface X86Hooks {
  /** Decide event `kind` (details in `cpu.exitInfo`). */
  onEvent(cpu: X86Cpu, kind: number): HookResult;
}
