import { describe, expect, it } from "vitest";
import * as reasons from "./vmx-exit-reasons.js";

const consts = reasons as unknown as Readonly<Record<string, unknown>>;
const { VMX_EXIT_REASON_NAMES, vmxExitReasonName } = reasons;

/** The reference's Linux-named basic exit reasons (vmx.md §1.1). */
const LINUX_REASONS: ReadonlyArray<readonly [number, string]> = [
  [0, "EXIT_REASON_EXCEPTION_NMI"],
  [1, "EXIT_REASON_EXTERNAL_INTERRUPT"],
  [2, "EXIT_REASON_TRIPLE_FAULT"],
  [3, "EXIT_REASON_INIT_SIGNAL"],
  [4, "EXIT_REASON_SIPI_SIGNAL"],
  [7, "EXIT_REASON_INTERRUPT_WINDOW"],
  [8, "EXIT_REASON_NMI_WINDOW"],
  [9, "EXIT_REASON_TASK_SWITCH"],
  [10, "EXIT_REASON_CPUID"],
  [12, "EXIT_REASON_HLT"],
  [13, "EXIT_REASON_INVD"],
  [14, "EXIT_REASON_INVLPG"],
  [15, "EXIT_REASON_RDPMC"],
  [16, "EXIT_REASON_RDTSC"],
  [18, "EXIT_REASON_VMCALL"],
  [19, "EXIT_REASON_VMCLEAR"],
  [20, "EXIT_REASON_VMLAUNCH"],
  [21, "EXIT_REASON_VMPTRLD"],
  [22, "EXIT_REASON_VMPTRST"],
  [23, "EXIT_REASON_VMREAD"],
  [24, "EXIT_REASON_VMRESUME"],
  [25, "EXIT_REASON_VMWRITE"],
  [26, "EXIT_REASON_VMOFF"],
  [27, "EXIT_REASON_VMON"],
  [28, "EXIT_REASON_CR_ACCESS"],
  [29, "EXIT_REASON_DR_ACCESS"],
  [30, "EXIT_REASON_IO_INSTRUCTION"],
  [31, "EXIT_REASON_MSR_READ"],
  [32, "EXIT_REASON_MSR_WRITE"],
  [33, "EXIT_REASON_INVALID_STATE"],
  [34, "EXIT_REASON_MSR_LOAD_FAIL"],
  [36, "EXIT_REASON_MWAIT_INSTRUCTION"],
  [37, "EXIT_REASON_MONITOR_TRAP_FLAG"],
  [39, "EXIT_REASON_MONITOR_INSTRUCTION"],
  [40, "EXIT_REASON_PAUSE_INSTRUCTION"],
  [41, "EXIT_REASON_MCE_DURING_VMENTRY"],
  [43, "EXIT_REASON_TPR_BELOW_THRESHOLD"],
  [44, "EXIT_REASON_APIC_ACCESS"],
  [45, "EXIT_REASON_EOI_INDUCED"],
  [46, "EXIT_REASON_GDTR_IDTR"],
  [47, "EXIT_REASON_LDTR_TR"],
  [48, "EXIT_REASON_EPT_VIOLATION"],
  [49, "EXIT_REASON_EPT_MISCONFIG"],
  [50, "EXIT_REASON_INVEPT"],
  [51, "EXIT_REASON_RDTSCP"],
  [52, "EXIT_REASON_PREEMPTION_TIMER"],
  [53, "EXIT_REASON_INVVPID"],
  [54, "EXIT_REASON_WBINVD"],
  [55, "EXIT_REASON_XSETBV"],
  [56, "EXIT_REASON_APIC_WRITE"],
  [57, "EXIT_REASON_RDRAND"],
  [58, "EXIT_REASON_INVPCID"],
  [59, "EXIT_REASON_VMFUNC"],
  [60, "EXIT_REASON_ENCLS"],
  [61, "EXIT_REASON_RDSEED"],
  [62, "EXIT_REASON_PML_FULL"],
  [63, "EXIT_REASON_XSAVES"],
  [64, "EXIT_REASON_XRSTORS"],
  [67, "EXIT_REASON_UMWAIT"],
  [68, "EXIT_REASON_TPAUSE"],
  [74, "EXIT_REASON_BUS_LOCK"],
  [75, "EXIT_REASON_NOTIFY"],
];

/** Reasons the reference leaves unnamed by Linux, with the names given here. */
const OTHER_REASONS: ReadonlyArray<readonly [number, string]> = [
  [5, "EXIT_REASON_IO_SMI"],
  [6, "EXIT_REASON_OTHER_SMI"],
  [11, "EXIT_REASON_GETSEC"],
  [17, "EXIT_REASON_RSM"],
  [65, "EXIT_REASON_PCONFIG"],
  [66, "EXIT_REASON_SPP"],
  [69, "EXIT_REASON_LOADIWKEY"],
  [70, "EXIT_REASON_ENCLV"],
  [72, "EXIT_REASON_ENQCMD_PASID_FAIL"],
  [73, "EXIT_REASON_ENQCMDS_PASID_FAIL"],
  [76, "EXIT_REASON_SEAMCALL"],
  [77, "EXIT_REASON_TDCALL"],
  [78, "EXIT_REASON_RDMSRLIST"],
  [79, "EXIT_REASON_WRMSRLIST"],
  [80, "EXIT_REASON_URDMSR"],
  [81, "EXIT_REASON_UWRMSR"],
  [84, "EXIT_REASON_MSR_READ_IMM"],
  [85, "EXIT_REASON_WRMSRNS"],
];

const RESERVED = [35, 38, 42, 71, 82, 83];

describe("VMX exit reasons", () => {
  it("flag bits", () => {
    expect(reasons.VMX_EXIT_REASONS_FAILED_VMENTRY).toBe(0x80000000);
    expect(reasons.VMX_EXIT_REASONS_SGX_ENCLAVE_MODE).toBe(0x08000000);
  });

  it.each(LINUX_REASONS)("%i is %s", (value, name) => {
    expect(consts[name]).toBe(value);
    expect(VMX_EXIT_REASON_NAMES.get(value)).toBe(name.slice("EXIT_REASON_".length));
  });

  it.each(OTHER_REASONS)("%i is %s (not a Linux name)", (value, name) => {
    expect(consts[name]).toBe(value);
    expect(VMX_EXIT_REASON_NAMES.get(value)).toBe(name.slice("EXIT_REASON_".length));
  });

  it("every basic reason 0..85 has a constant except the reserved ones, and nothing more", () => {
    const exported = Object.entries(consts).filter(([k]) => k.startsWith("EXIT_REASON_"));
    expect(exported).toHaveLength(LINUX_REASONS.length + OTHER_REASONS.length);
    expect(exported).toHaveLength(86 - RESERVED.length);
    const values = new Set(exported.map(([, v]) => v));
    expect(values.size).toBe(exported.length);
    for (const r of RESERVED) expect(values.has(r)).toBe(false);
    expect(VMX_EXIT_REASON_NAMES.size).toBe(exported.length);
    for (const [name, value] of exported) {
      expect(VMX_EXIT_REASON_NAMES.get(value as number)).toBe(name.slice(12));
    }
  });

  it("tracepoint names", () => {
    expect(vmxExitReasonName(reasons.EXIT_REASON_EXCEPTION_NMI)).toBe("EXCEPTION_NMI");
    expect(vmxExitReasonName(1)).toBe("EXTERNAL_INTERRUPT");
    expect(vmxExitReasonName(12)).toBe("HLT");
    expect(vmxExitReasonName(30)).toBe("IO_INSTRUCTION");
    expect(vmxExitReasonName(48)).toBe("EPT_VIOLATION");
    expect(vmxExitReasonName(49)).toBe("EPT_MISCONFIG");
    expect(vmxExitReasonName(26)).toBe("VMOFF");
    expect(vmxExitReasonName(27)).toBe("VMON");
  });

  it("vmxExitReasonName masks to the basic reason and marks failed entries", () => {
    expect(vmxExitReasonName(0x80000021)).toBe("INVALID_STATE (VM-entry failure)");
    expect(vmxExitReasonName(0x80000022)).toBe("MSR_LOAD_FAIL (VM-entry failure)");
    expect(vmxExitReasonName(0x80000029)).toBe("MCE_DURING_VMENTRY (VM-entry failure)");
    expect(vmxExitReasonName(0x80000021 | 0)).toBe("INVALID_STATE (VM-entry failure)");
    expect(vmxExitReasonName(reasons.VMX_EXIT_REASONS_SGX_ENCLAVE_MODE | 48)).toBe("EPT_VIOLATION");
    expect(vmxExitReasonName(0x10000 | 12)).toBe("HLT");
  });

  it("unknown reasons print in hex", () => {
    expect(vmxExitReasonName(35)).toBe("0x23");
    expect(vmxExitReasonName(0xffff)).toBe("0xffff");
    expect(vmxExitReasonName(0x80000063)).toBe("0x63 (VM-entry failure)");
  });
});
