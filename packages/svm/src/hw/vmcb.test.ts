/**
 * The VMCB layout against the reference table (svm.md §1, §4: offsets checked there by
 * compiling a replica of Linux's struct vmcb), the attrib conversion, and the permission
 * map bit positions (§3.6).
 */
import { describe, expect, it } from "vitest";
import * as svm from "../asm/svm.js";
import * as vmcb from "./vmcb.js";

/** [our constant, Linux field name, offset from the reference]. */
const LAYOUT: ReadonlyArray<readonly [keyof typeof vmcb, string, number]> = [
  ["VMCB_INTERCEPT_CR", "intercepts[0]", 0x000],
  ["VMCB_INTERCEPT_DR", "intercepts[1]", 0x004],
  ["VMCB_INTERCEPT_EXCEPTIONS", "intercepts[2]", 0x008],
  ["VMCB_INTERCEPT_WORD3", "intercepts[3]", 0x00c],
  ["VMCB_INTERCEPT_WORD4", "intercepts[4]", 0x010],
  ["VMCB_INTERCEPT_WORD5", "intercepts[5]", 0x014],
  ["VMCB_PAUSE_FILTER_THRESH", "pause_filter_thresh", 0x03c],
  ["VMCB_PAUSE_FILTER_COUNT", "pause_filter_count", 0x03e],
  ["VMCB_IOPM_BASE_PA", "iopm_base_pa", 0x040],
  ["VMCB_MSRPM_BASE_PA", "msrpm_base_pa", 0x048],
  ["VMCB_TSC_OFFSET", "tsc_offset", 0x050],
  ["VMCB_ASID", "asid", 0x058],
  ["VMCB_TLB_CTL", "tlb_ctl", 0x05c],
  ["VMCB_INT_CTL", "int_ctl", 0x060],
  ["VMCB_INT_VECTOR", "int_vector", 0x064],
  ["VMCB_INT_STATE", "int_state", 0x068],
  ["VMCB_EXIT_CODE", "exit_code", 0x070],
  ["VMCB_EXIT_INFO_1", "exit_info_1", 0x078],
  ["VMCB_EXIT_INFO_2", "exit_info_2", 0x080],
  ["VMCB_EXIT_INT_INFO", "exit_int_info", 0x088],
  ["VMCB_EXIT_INT_INFO_ERR", "exit_int_info_err", 0x08c],
  ["VMCB_MISC_CTL", "misc_ctl", 0x090],
  ["VMCB_AVIC_VAPIC_BAR", "avic_vapic_bar", 0x098],
  ["VMCB_GHCB_GPA", "ghcb_gpa", 0x0a0],
  ["VMCB_EVENT_INJ", "event_inj", 0x0a8],
  ["VMCB_EVENT_INJ_ERR", "event_inj_err", 0x0ac],
  ["VMCB_NESTED_CR3", "nested_cr3", 0x0b0],
  ["VMCB_MISC_CTL2", "misc_ctl2", 0x0b8],
  ["VMCB_CLEAN", "clean", 0x0c0],
  ["VMCB_NEXT_RIP", "next_rip", 0x0c8],
  ["VMCB_INSN_LEN", "insn_len", 0x0d0],
  ["VMCB_INSN_BYTES", "insn_bytes", 0x0d1],
  ["VMCB_AVIC_BACKING_PAGE", "avic_backing_page", 0x0e0],
  ["VMCB_AVIC_LOGICAL_ID", "avic_logical_id", 0x0f0],
  ["VMCB_AVIC_PHYSICAL_ID", "avic_physical_id", 0x0f8],
  ["VMCB_VMSA_PA", "vmsa_pa", 0x108],
  ["VMCB_RESERVED_SW", "reserved_sw", 0x3e0],
  ["VMCB_ES", "save.es", 0x400],
  ["VMCB_CS", "save.cs", 0x410],
  ["VMCB_SS", "save.ss", 0x420],
  ["VMCB_DS", "save.ds", 0x430],
  ["VMCB_FS", "save.fs", 0x440],
  ["VMCB_GS", "save.gs", 0x450],
  ["VMCB_GDTR", "save.gdtr", 0x460],
  ["VMCB_LDTR", "save.ldtr", 0x470],
  ["VMCB_IDTR", "save.idtr", 0x480],
  ["VMCB_TR", "save.tr", 0x490],
  ["VMCB_VMPL", "save.vmpl", 0x4ca],
  ["VMCB_CPL", "save.cpl", 0x4cb],
  ["VMCB_EFER", "save.efer", 0x4d0],
  ["VMCB_CR4", "save.cr4", 0x548],
  ["VMCB_CR3", "save.cr3", 0x550],
  ["VMCB_CR0", "save.cr0", 0x558],
  ["VMCB_DR7", "save.dr7", 0x560],
  ["VMCB_DR6", "save.dr6", 0x568],
  ["VMCB_RFLAGS", "save.rflags", 0x570],
  ["VMCB_RIP", "save.rip", 0x578],
  ["VMCB_RSP", "save.rsp", 0x5d8],
  ["VMCB_S_CET", "save.s_cet", 0x5e0],
  ["VMCB_SSP", "save.ssp", 0x5e8],
  ["VMCB_ISST_ADDR", "save.isst_addr", 0x5f0],
  ["VMCB_RAX", "save.rax", 0x5f8],
  ["VMCB_STAR", "save.star", 0x600],
  ["VMCB_LSTAR", "save.lstar", 0x608],
  ["VMCB_CSTAR", "save.cstar", 0x610],
  ["VMCB_SFMASK", "save.sfmask", 0x618],
  ["VMCB_KERNEL_GS_BASE", "save.kernel_gs_base", 0x620],
  ["VMCB_SYSENTER_CS", "save.sysenter_cs", 0x628],
  ["VMCB_SYSENTER_ESP", "save.sysenter_esp", 0x630],
  ["VMCB_SYSENTER_EIP", "save.sysenter_eip", 0x638],
  ["VMCB_CR2", "save.cr2", 0x640],
  ["VMCB_G_PAT", "save.g_pat", 0x668],
  ["VMCB_DBGCTL", "save.dbgctl", 0x670],
  ["VMCB_BR_FROM", "save.br_from", 0x678],
  ["VMCB_BR_TO", "save.br_to", 0x680],
  ["VMCB_LAST_EXCP_FROM", "save.last_excp_from", 0x688],
  ["VMCB_LAST_EXCP_TO", "save.last_excp_to", 0x690],
  ["VMCB_SPEC_CTRL", "save.spec_ctrl", 0x6e0],
];

describe("the VMCB layout", () => {
  for (const [name, field, offset] of LAYOUT) {
    it(`${field} is at 0x${offset.toString(16).padStart(3, "0")}`, () => {
      // biome-ignore lint/performance/noDynamicNamespaceImportAccess: the table names the exports to check
      expect(vmcb[name]).toBe(offset);
    });
  }

  it("segment records are 16 bytes: selector +0, attrib +2, limit +4, base +8", () => {
    const v = new vmcb.Vmcb(0, new Uint8Array(vmcb.VMCB_SIZE));
    v.setSegment(vmcb.VMCB_TR, {
      selector: 0x28,
      attrib: 0x8b,
      limit: 0x67,
      base: 0xffff_8000_1234_5000n,
    });
    expect([...v.bytes.subarray(0x490, 0x4a0)]).toEqual([
      0x28, 0, 0x8b, 0, 0x67, 0, 0, 0, 0x00, 0x50, 0x34, 0x12, 0x00, 0x80, 0xff, 0xff,
    ]);
    expect(v.segment(vmcb.VMCB_TR).base).toBe(0xffff_8000_1234_5000n);
  });

  it("an intercept's index is word × 32 + bit and equals its exit code", () => {
    const v = new vmcb.Vmcb(0, new Uint8Array(vmcb.VMCB_SIZE));
    v.setIntercept(svm.INTERCEPT_IOIO_PROT);
    v.setIntercept(svm.INTERCEPT_VMRUN);
    v.setIntercept(svm.INTERCEPT_EXCEPTION_OFFSET + 14);
    v.setIntercept(svm.INTERCEPT_CR0_WRITE);
    expect(v.read32(0x00c)).toBe(1 << 27);
    expect(v.read32(0x010)).toBe(1);
    expect(v.read32(0x008)).toBe(1 << 14);
    expect(v.read32(0x000)).toBe(1 << 16);
    expect(svm.INTERCEPT_IOIO_PROT).toBe(svm.SVM_EXIT_IOIO);
    expect(svm.INTERCEPT_MSR_PROT).toBe(svm.SVM_EXIT_MSR);
    expect(svm.INTERCEPT_HLT).toBe(svm.SVM_EXIT_HLT);
    expect(svm.INTERCEPT_VMMCALL).toBe(svm.SVM_EXIT_VMMCALL);
    expect(svm.INTERCEPT_SHUTDOWN).toBe(svm.SVM_EXIT_SHUTDOWN);
  });

  it("EXITCODE −1 reads back as VMEXIT_INVALID", () => {
    const v = new vmcb.Vmcb(0, new Uint8Array(vmcb.VMCB_SIZE));
    v.write64(vmcb.VMCB_EXIT_CODE, -1n);
    expect(v.exitCode()).toBe(svm.SVM_EXIT_ERR);
    expect(v.read32(vmcb.VMCB_EXIT_CODE)).toBe(0xffff_ffff);
  });

  it("converts attrib to and from the core's (VMX-layout) access rights", () => {
    // 64-bit code: P S type B, L, G → attrib 0xa9b, VMX AR 0xa09b.
    expect(vmcb.svmAttribToAr(0xa9b)).toBe(0xa09b);
    expect(vmcb.svmArToAttrib(0xa09b)).toBe(0xa9b);
    expect(vmcb.svmArToAttrib(0xc093)).toBe(0xc93);
  });
});

describe("the permission maps", () => {
  it("IOPM: one bit per port, no wrap at FFFFh", () => {
    expect(vmcb.iopmBit(0x80)).toEqual({ byte: 0x10, bit: 0 });
    expect(vmcb.iopmBit(0x3f9)).toEqual({ byte: 0x7f, bit: 1 });
    expect(vmcb.iopmBit(0x10001)).toEqual({ byte: 0x2000, bit: 1 });
    expect(vmcb.IOPM_SIZE).toBe(12 * 1024);
  });

  it("MSRPM: two bits per MSR in three 2 KiB blocks; others always intercept", () => {
    expect(vmcb.msrpmBit(0x0, false)).toBe(0);
    expect(vmcb.msrpmBit(0x0, true)).toBe(1);
    expect(vmcb.msrpmBit(0x174, true) >>> 3).toBe(0x5d);
    expect(vmcb.msrpmBit(0xc000_0080, false)).toBe(0x800 * 8 + 0x100);
    expect(vmcb.msrpmBit(0xc001_0117, true)).toBe(0x1000 * 8 + 0x117 * 2 + 1);
    expect(vmcb.msrpmBit(0x4000_0000, false)).toBe(-1);
    expect(vmcb.msrpmBit(0xc000_2000, false)).toBe(-1);
    expect(vmcb.MSRPM_SIZE).toBe(8 * 1024);
  });
});
