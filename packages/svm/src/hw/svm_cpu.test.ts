/**
 * The SVM instructions of one processor: enabling (EFER.SVME, VM_CR, VM_HSAVE_PA), CPUID,
 * the faults, GIF, and each VMRUN consistency check failing alone with VMEXIT_INVALID.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { type SvmHost, svmHost } from "../../test/setup.js";
import {
  EFER_LME,
  EFER_SVME,
  INTERCEPT_HLT,
  INTERCEPT_VMRUN,
  MSR_EFER,
  MSR_VM_CR,
  MSR_VM_HSAVE_PA,
  SVM_CPUID_FUNC,
  SVM_EVTINJ_VALID,
  SVM_EXIT_ERR,
  SVM_EXIT_HLT,
  SVM_FEATURE_NPT,
  SVM_FEATURE_NRIP,
  SVM_NESTED_CTL_NP_ENABLE,
  SVM_VM_CR_SVM_DIS_MASK,
  SVM_VM_CR_SVM_LOCK_MASK,
} from "../asm/svm.js";
import { HostCpu } from "./host_cpu.js";
import { SVM_FAULT_GP, SVM_FAULT_UD, SVM_SUCCEED, SVM_VMEXIT } from "./svm_cpu.js";
import {
  VMCB_ASID,
  VMCB_CR0,
  VMCB_CR3,
  VMCB_CR4,
  VMCB_CS,
  VMCB_DR6,
  VMCB_DR7,
  VMCB_EFER,
  VMCB_EVENT_INJ,
  VMCB_EXIT_INFO_1,
  VMCB_G_PAT,
  VMCB_IOPM_BASE_PA,
  VMCB_MISC_CTL,
  VMCB_MSRPM_BASE_PA,
  VMCB_NESTED_CR3,
  VMCB_RAX,
  VMCB_RIP,
  VMCB_SEG_ATTRIB,
  type Vmcb,
} from "./vmcb.js";
import { VMRUN_RULES } from "./vmrun_checks.js";

describe("SVM instructions on the host CPU", () => {
  let h: SvmHost;

  beforeEach(() => {
    h = svmHost();
  });

  it("reports SVM in CPUID 8000_0001h.ECX[2] and 8000_000Ah (revision, ASIDs, NP, NRIPS)", () => {
    const out = new Int32Array(4);
    h.cpu.cpuid(0x8000_0001, 0, out);
    expect((out[2]! >>> 2) & 1).toBe(1);
    h.cpu.cpuid(SVM_CPUID_FUNC, 0, out);
    expect(out[0]).toBe(1);
    expect(out[1]).toBe(16);
    expect(out[3]! & (SVM_FEATURE_NPT | SVM_FEATURE_NRIP)).toBe(SVM_FEATURE_NPT | SVM_FEATURE_NRIP);
    h.cpu.cpuid(0, 0, out);
    expect(
      String.fromCharCode(...new Uint8Array(Int32Array.of(out[1]!, out[3]!, out[2]!).buffer)),
    ).toBe("AuthenticAMD");
  });

  it("VM_CR.SVMDIS makes EFER.SVME unsettable; LOCK freezes SVMDIS; bad VM_CR/HSAVE values #GP", () => {
    const cpu = new HostCpu(h.kernel);
    expect(cpu.wrmsr(MSR_VM_CR, BigInt(SVM_VM_CR_SVM_DIS_MASK | SVM_VM_CR_SVM_LOCK_MASK))).toBe(
      true,
    );
    expect(cpu.wrmsr(MSR_EFER, BigInt(cpu.efer() | EFER_SVME))).toBe(false);
    expect(cpu.wrmsr(MSR_VM_CR, BigInt(SVM_VM_CR_SVM_LOCK_MASK))).toBe(false);
    expect(cpu.rdmsr(MSR_VM_CR)).toBe(0x18n);
    expect(cpu.wrmsr(MSR_VM_CR, 1n << 5n)).toBe(false);
    expect(cpu.wrmsr(MSR_VM_HSAVE_PA, 0x1234n)).toBe(false);
    expect(cpu.wrmsr(MSR_VM_HSAVE_PA, 1n << 48n)).toBe(false);
    expect(cpu.wrmsr(MSR_VM_HSAVE_PA, 0x2000n)).toBe(true);
    expect(cpu.rdmsr(MSR_VM_HSAVE_PA)).toBe(0x2000n);
  });

  it("every SVM instruction is #UD with EFER.SVME clear; VMMCALL outside a guest is #UD", () => {
    const cpu = new HostCpu(h.kernel);
    const svm = cpu.svm;
    expect(svm.vmrun(cpu, h.vmcb.pa)).toBe(SVM_FAULT_UD);
    expect(svm.vmload(cpu, h.vmcb.pa)).toBe(SVM_FAULT_UD);
    expect(svm.vmsave(cpu, h.vmcb.pa)).toBe(SVM_FAULT_UD);
    expect(svm.stgi(cpu)).toBe(SVM_FAULT_UD);
    expect(svm.clgi(cpu)).toBe(SVM_FAULT_UD);
    expect(svm.invlpga(cpu, 0n, 1)).toBe(SVM_FAULT_UD);
    expect(h.cpu.svm.vmmcall(h.cpu)).toBe(SVM_FAULT_UD);
  });

  it("#GP(0) at CPL > 0 and for an unaligned or unbacked VMCB address", () => {
    const svm = h.cpu.svm;
    expect(svm.vmrun(h.cpu, h.vmcb.pa + 8)).toBe(SVM_FAULT_GP);
    expect(svm.vmload(h.cpu, 0x1000)).toBe(SVM_FAULT_GP);
    expect(svm.vmsave(h.cpu, 2 ** 48)).toBe(SVM_FAULT_GP);
    const user = Object.assign(Object.create(h.cpu) as HostCpu, { cpl: () => 3 });
    expect(svm.vmrun(user, h.vmcb.pa)).toBe(SVM_FAULT_GP);
    expect(svm.clgi(user)).toBe(SVM_FAULT_GP);
  });

  it("CLGI/STGI clear and set GIF; VMRUN runs with GIF = 1 and #VMEXIT leaves it 0", () => {
    const svm = h.cpu.svm;
    expect(svm.clgi(h.cpu)).toBe(SVM_SUCCEED);
    expect(svm.gif).toBe(false);
    expect(svm.stgi(h.cpu)).toBe(SVM_SUCCEED);
    expect(svm.gif).toBe(true);
    h.vmcb.setIntercept(INTERCEPT_HLT);
    h.ram[0x1000] = 0xf4;
    let gifInGuest = false;
    const engine = svm.guest!;
    svm.guest = {
      enter(s, v) {
        gifInGuest = s.gif && s.guestMode;
        return engine.enter(s, v);
      },
    };
    expect(svm.vmrun(h.cpu, h.vmcb.pa)).toBe(SVM_VMEXIT);
    expect(h.vmcb.exitCode()).toBe(SVM_EXIT_HLT);
    expect(gifInGuest).toBe(true);
    expect(svm.gif).toBe(false);
    expect(svm.guestMode).toBe(false);
  });

  it("a valid VMCB passes every check", () => {
    h.vmcb.setIntercept(INTERCEPT_HLT);
    h.ram[0x1000] = 0xf4;
    expect(h.cpu.svm.vmrun(h.cpu, h.vmcb.pa)).toBe(SVM_VMEXIT);
    expect(h.cpu.svm.lastVmrunFailure).toBeNull();
  });

  /** One mutation per rule, breaking it and nothing else. */
  const breakers: Record<string, (v: Vmcb) => void> = {
    "VMRUN intercept": (v) => v.setIntercept(INTERCEPT_VMRUN, false),
    "ASID nonzero": (v) => v.write32(VMCB_ASID, 0),
    "nCR3 reserved bits": (v) => v.write64(VMCB_NESTED_CR3, 1n << 50n),
    "gPAT valid": (v) => v.write64(VMCB_G_PAT, 0x0007_0406_0007_0402n),
    "IOPM within MAXPHYADDR": (v) => v.write64(VMCB_IOPM_BASE_PA, (1n << 48n) - 0x1000n),
    "MSRPM within MAXPHYADDR": (v) => v.write64(VMCB_MSRPM_BASE_PA, (1n << 48n) - 0x1000n),
    "EFER.SVME set": (v) => v.write64(VMCB_EFER, 0n),
    "EFER reserved bits": (v) => v.write64(VMCB_EFER, BigInt(EFER_SVME) | (1n << 9n)),
    "CR0.CD = 0 with CR0.NW = 1": (v) => v.write64(VMCB_CR0, 0x2000_0010n),
    "CR0[63:32] zero": (v) => v.write64(VMCB_CR0, 0x1_0000_0010n),
    "CR3 must-be-zero bits": (v) => v.write64(VMCB_CR3, 1n << 40n),
    "CR4 reserved bits": (v) => v.write64(VMCB_CR4, 1n << 12n),
    "DR6[63:32] zero": (v) => v.write64(VMCB_DR6, 0x1_ffff_0ff0n),
    "DR7[63:32] zero": (v) => v.write64(VMCB_DR7, 0x1_0000_0400n),
    "long mode needs CR4.PAE": (v) => {
      v.write64(VMCB_EFER, BigInt(EFER_SVME | EFER_LME));
      v.write64(VMCB_CR0, 0x8000_0011n);
    },
    "long mode needs CR0.PE": (v) => {
      v.write64(VMCB_EFER, BigInt(EFER_SVME | EFER_LME));
      v.write64(VMCB_CR0, 0x8000_0010n);
      v.write64(VMCB_CR4, 0x20n);
    },
    "CS.L and CS.D not both set in long mode": (v) => {
      v.write64(VMCB_EFER, BigInt(EFER_SVME | EFER_LME));
      v.write64(VMCB_CR0, 0x8000_0011n);
      v.write64(VMCB_CR4, 0x20n);
      v.write16(VMCB_CS + VMCB_SEG_ATTRIB, 0x69b);
    },
    "EVENTINJ reserved bits": (v) =>
      v.write32(VMCB_EVENT_INJ, (SVM_EVTINJ_VALID | (1 << 12) | 0x20) >>> 0),
    "EVENTINJ type": (v) => v.write32(VMCB_EVENT_INJ, (SVM_EVTINJ_VALID | 0x520) >>> 0),
    "EVENTINJ exception vector": (v) => v.write32(VMCB_EVENT_INJ, (SVM_EVTINJ_VALID | 0x302) >>> 0),
  };

  it("has a breaking test for every rule but NP_ENABLE (this part has nested paging)", () => {
    const untested = VMRUN_RULES.map((r) => r.name).filter((n) => !(n in breakers));
    expect(untested).toEqual(["NP_ENABLE supported"]);
  });

  for (const [rule, breakIt] of Object.entries(breakers)) {
    it(`fails alone with VMEXIT_INVALID: ${rule}`, () => {
      const v = h.vmcb;
      v.write64(VMCB_RAX, 0x77n);
      breakIt(v);
      h.cpu.regs[0] = 0x1234;
      expect(h.cpu.svm.vmrun(h.cpu, v.pa)).toBe(SVM_VMEXIT);
      expect(v.exitCode()).toBe(SVM_EXIT_ERR);
      expect(v.read64(VMCB_EXIT_INFO_1)).toBe(0n);
      const f = h.cpu.svm.lastVmrunFailure!;
      expect(f.rule).toBe(rule);
      expect(f.message).toContain(f.field);
      // Guest state was not loaded or stored; host state is back.
      expect(v.read64(VMCB_RIP)).toBe(0x1000n);
      expect(v.read64(VMCB_RAX)).toBe(0x77n);
      expect(h.cpu.regs[0]).toBe(0x1234);
      expect(v.read32(VMCB_EVENT_INJ) & SVM_EVTINJ_VALID).toBe(0);
    });
  }

  it("NP_ENABLE on a part without nested paging is VMEXIT_INVALID", () => {
    const caps = { ...h.cpu.svm.caps, features: h.cpu.svm.caps.features & ~SVM_FEATURE_NPT };
    Object.assign(h.cpu.svm, { caps });
    expect(h.vmcb.read32(VMCB_MISC_CTL) & SVM_NESTED_CTL_NP_ENABLE).toBe(1);
    expect(h.cpu.svm.vmrun(h.cpu, h.vmcb.pa)).toBe(SVM_VMEXIT);
    expect(h.cpu.svm.lastVmrunFailure?.rule).toBe("NP_ENABLE supported");
  });
});
