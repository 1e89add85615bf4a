/**
 * The VMX and SVM instructions (SDM Vol. 3 Ch. 31, APM Vol. 2 §15): decoded here, executed
 * by the installed virtualization extension through the hook (hooks.ts EV_VMX_INSN,
 * EV_SVM_INSN, EV_VMCALL). With no extension the CPU has neither VMX nor SVM (CPUID says
 * so) and they raise #UD. An extension that performs the instruction returns HOOK_DONE;
 * if it moved the CPU elsewhere (VM entry, #VMEXIT) it also sets st[STOP] = STOP_JUMP.
 */
import type { X86Cpu } from "../cpu.js";
import { raiseFault } from "../exception.js";
import type { Handler, HandlerSpec } from "../handlers.js";
import {
  EV_SVM_INSN,
  EV_VMCALL,
  EV_VMX_INSN,
  HOOK_DONE,
  HOOK_EXIT,
  SVM_INSN_CLGI,
  SVM_INSN_INVLPGA,
  SVM_INSN_SKINIT,
  SVM_INSN_STGI,
  SVM_INSN_VMLOAD,
  SVM_INSN_VMRUN,
  SVM_INSN_VMSAVE,
  VMX_INSN_INVEPT,
  VMX_INSN_INVVPID,
  VMX_INSN_VMCLEAR,
  VMX_INSN_VMLAUNCH,
  VMX_INSN_VMPTRLD,
  VMX_INSN_VMPTRST,
  VMX_INSN_VMREAD,
  VMX_INSN_VMRESUME,
  VMX_INSN_VMWRITE,
  VMX_INSN_VMXOFF,
  VMX_INSN_VMXON,
} from "../hooks.js";
import { UD_VECTOR } from "../regs.js";
import { EXIT_REASON, STOP, STOP_FAULT } from "../state.js";

/** Hand instruction `id` of family `kind` to the extension; #UD when there is none. */
function delegate(cpu: X86Cpu, i: number, kind: number, id: number): void {
  const hooks = cpu.hooks;
  if (hooks === null) {
    raiseFault(cpu, UD_VECTOR, -1);
    return;
  }
  const x = cpu.exitInfo;
  x[0] = kind;
  x[1] = id;
  x[2] = i;
  const r = hooks.onEvent(cpu, kind);
  if (r === HOOK_EXIT) {
    cpu.st[STOP] = STOP_FAULT;
    cpu.st[EXIT_REASON] = 3;
  } else if (r !== HOOK_DONE) {
    raiseFault(cpu, UD_VECTOR, -1);
  }
}

const vmx =
  (id: number): Handler =>
  (cpu, i) =>
    delegate(cpu, i, EV_VMX_INSN, id);
const svm =
  (id: number): Handler =>
  (cpu, i) =>
    delegate(cpu, i, EV_SVM_INSN, id);

export const VIRT: Readonly<Record<string, HandlerSpec>> = {
  vmcall: (cpu, i) => delegate(cpu, i, EV_VMCALL, 0),
  vmmcall: (cpu, i) => delegate(cpu, i, EV_VMCALL, 1),
  vmclear_Mq: vmx(VMX_INSN_VMCLEAR),
  vmlaunch: vmx(VMX_INSN_VMLAUNCH),
  vmptrld_Mq: vmx(VMX_INSN_VMPTRLD),
  vmptrst_Mq: vmx(VMX_INSN_VMPTRST),
  vmread_Ed_Gd: vmx(VMX_INSN_VMREAD),
  vmresume: vmx(VMX_INSN_VMRESUME),
  vmwrite_Gd_Ed: vmx(VMX_INSN_VMWRITE),
  vmxoff: vmx(VMX_INSN_VMXOFF),
  vmxon_Mq: vmx(VMX_INSN_VMXON),
  invept_Gd_Mdq: vmx(VMX_INSN_INVEPT),
  invvpid_Gd_Mdq: vmx(VMX_INSN_INVVPID),
  vmrun: svm(SVM_INSN_VMRUN),
  vmload: svm(SVM_INSN_VMLOAD),
  vmsave: svm(SVM_INSN_VMSAVE),
  stgi: svm(SVM_INSN_STGI),
  clgi: svm(SVM_INSN_CLGI),
  skinit: svm(SVM_INSN_SKINIT),
  invlpga: svm(SVM_INSN_INVLPGA),
};
