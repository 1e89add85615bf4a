/**
 * Guest mode at the hardware level: a VMCB prepared the way kvm_amd's init_vmcb prepares
 * one, nested paging over 1 MiB of guest RAM, then VMRUN on the host CPU and the exit
 * information read back from the VMCB — no KVM in between. Guests are hand-assembled.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { MiB, type SvmHost, svmHost } from "../../test/setup.js";
import {
  INTERCEPT_CPUID,
  INTERCEPT_CR0_WRITE,
  INTERCEPT_EXCEPTION_OFFSET,
  INTERCEPT_HLT,
  INTERCEPT_INTR,
  INTERCEPT_IOIO_PROT,
  INTERCEPT_MSR_PROT,
  INTERCEPT_SELECTIVE_CR0,
  INTERCEPT_SHUTDOWN,
  INTERCEPT_VINTR,
  INTERCEPT_VMMCALL,
  SVM_EVTINJ_TYPE_EXEPT,
  SVM_EVTINJ_TYPE_INTR,
  SVM_EVTINJ_VALID,
  SVM_EVTINJ_VALID_ERR,
  SVM_EXIT_CPUID,
  SVM_EXIT_CR0_SEL_WRITE,
  SVM_EXIT_EXCP_BASE,
  SVM_EXIT_HLT,
  SVM_EXIT_INTR,
  SVM_EXIT_INVLPG,
  SVM_EXIT_IOIO,
  SVM_EXIT_MSR,
  SVM_EXIT_NPF,
  SVM_EXIT_SHUTDOWN,
  SVM_EXIT_SWINT,
  SVM_EXIT_VINTR,
  SVM_EXIT_VMMCALL,
  SVM_EXIT_WRITE_CR0,
  V_IGN_TPR_MASK,
  V_IRQ_MASK,
} from "../asm/svm.js";
import { SVM_VMEXIT } from "./svm_cpu.js";
import {
  VMCB_CPL,
  VMCB_CR0,
  VMCB_CR3,
  VMCB_CS,
  VMCB_DS,
  VMCB_ES,
  VMCB_EVENT_INJ,
  VMCB_EVENT_INJ_ERR,
  VMCB_EXIT_INFO_1,
  VMCB_EXIT_INFO_2,
  VMCB_EXIT_INT_INFO,
  VMCB_FS,
  VMCB_IDTR,
  VMCB_INT_CTL,
  VMCB_INT_VECTOR,
  VMCB_NEXT_RIP,
  VMCB_RAX,
  VMCB_RFLAGS,
  VMCB_RIP,
  VMCB_SEG_BASE,
  VMCB_SS,
  VMCB_STAR,
  Vmcb,
} from "./vmcb.js";

describe("SVM guest mode on the x86 core", () => {
  let h: SvmHost;
  let v: Vmcb;

  beforeEach(() => {
    h = svmHost();
    v = h.vmcb;
  });

  const code = (at: number, ...bytes: number[]) => h.ram.set(bytes, at);
  /** VMRUN; the exit code (−1 = VMEXIT_INVALID). */
  const run = (): number => {
    const r = h.cpu.svm.vmrun(h.cpu, v.pa);
    expect(r, h.cpu.svm.lastVmrunFailure?.message).toBe(SVM_VMEXIT);
    return v.exitCode();
  };
  const info1 = () => v.read64(VMCB_EXIT_INFO_1);
  const info2 = () => v.read64(VMCB_EXIT_INFO_2);
  const rip = () => Number(v.read64(VMCB_RIP));

  it("OUT imm8 and IN AX,DX exit as IOIO through the IOPM with exact EXITINFO1/2", () => {
    v.setIntercept(INTERCEPT_IOIO_PROT);
    h.interceptPort(0x80);
    h.interceptPort(0x1235); // the second byte of a 16-bit access at 0x1234
    code(
      0x1000,
      0xb0,
      0x41, //       mov al, 0x41
      0xe6,
      0x80, //       out 0x80, al
      0xba,
      0x34,
      0x12, // mov dx, 0x1234
      0xed, //             in ax, dx
    );
    expect(run()).toBe(SVM_EXIT_IOIO);
    // port 0x80 << 16 | A16 (bit 7) | SZ8 (bit 4) | OUT
    expect(info1()).toBe(0x0080_0090n);
    expect(info2()).toBe(0x1004n);
    expect(rip()).toBe(0x1002);
    expect(v.read64(VMCB_RAX) & 0xffn).toBe(0x41n);
    v.write64(VMCB_RIP, info2()); // what io_interception does: next_rip = EXITINFO2
    expect(run()).toBe(SVM_EXIT_IOIO);
    // port 0x1234 << 16 | A16 | SZ16 (bit 5) | IN
    expect(info1()).toBe(0x1234_00a1n);
    expect(info2()).toBe(0x1008n);
  });

  it("REP OUTSB reports STR and REP; a port whose bits are clear does not exit", () => {
    v.setIntercept(INTERCEPT_IOIO_PROT);
    h.interceptPort(0x3f8);
    code(
      0x1000,
      0xe6,
      0x70, //       out 0x70, al (IOPM bit clear: no exit)
      0xba,
      0xf8,
      0x03, // mov dx, 0x3f8
      0xb9,
      0x02,
      0x00, // mov cx, 2
      0xf3,
      0x6e, //       rep outsb
    );
    expect(run()).toBe(SVM_EXIT_IOIO);
    expect(info1()).toBe(0x03f8_009cn); // A16 | SZ8 | REP | STR | OUT
    expect(rip()).toBe(0x1008);
    expect(v.read64(VMCB_NEXT_RIP)).toBe(0x100an);
  });

  it("CPUID exits 0x072 with nRIP; HLT exits 0x078", () => {
    v.setIntercept(INTERCEPT_CPUID);
    v.setIntercept(INTERCEPT_HLT);
    code(0x1000, 0x0f, 0xa2, 0xf4); // cpuid; hlt
    expect(run()).toBe(SVM_EXIT_CPUID);
    expect(rip()).toBe(0x1000);
    expect(v.read64(VMCB_NEXT_RIP)).toBe(0x1002n);
    v.write64(VMCB_RIP, v.read64(VMCB_NEXT_RIP));
    expect(run()).toBe(SVM_EXIT_HLT);
    expect(v.read64(VMCB_NEXT_RIP)).toBe(0x1003n);
  });

  it("RDMSR/WRMSR exit 0x07C only where the MSRPM bit is set (EXITINFO1 0 read, 1 write)", () => {
    v.setIntercept(INTERCEPT_MSR_PROT);
    v.setIntercept(INTERCEPT_HLT);
    h.interceptMsr(0x174, true); // WRMSR of SYSENTER_CS only
    code(
      0x1000,
      0x66,
      0xb9,
      0x74,
      0x01,
      0x00,
      0x00, // mov ecx, 0x174
      0x0f,
      0x32, //                         rdmsr (bit clear: runs)
      0x0f,
      0x30, //                         wrmsr (bit set: exits)
    );
    expect(run()).toBe(SVM_EXIT_MSR);
    expect(info1()).toBe(1n);
    expect(rip()).toBe(0x1008);
    // An MSR outside the MSRPM ranges always exits.
    code(0x2000, 0x66, 0xb9, 0x00, 0x00, 0x00, 0x40, 0x0f, 0x32); // mov ecx, 0x40000000; rdmsr
    v.write64(VMCB_RIP, 0x2000n);
    expect(run()).toBe(SVM_EXIT_MSR);
    expect(info1()).toBe(0n);
  });

  it("MOV CR0 exits 0x010 with decode assists; the selective CR0 intercept ignores TS/MP", () => {
    code(
      0x1000,
      0x0f,
      0x20,
      0xc0, // mov eax, cr0
      0x0c,
      0x08, //       or al, 8: TS
      0x0f,
      0x22,
      0xc0, // mov cr0, eax (only TS changes: no selective exit)
      0x0f,
      0x22,
      0xc3, // mov cr0, ebx (EM changes: exit)
    );
    v.setIntercept(INTERCEPT_SELECTIVE_CR0);
    h.cpu.regs[3] = 0x14; // EBX: ET | EM
    expect(run()).toBe(SVM_EXIT_CR0_SEL_WRITE);
    expect(rip()).toBe(0x1008);
    expect(info1()).toBe((1n << 63n) | 3n);
    expect(v.read64(VMCB_CR0) & 8n).toBe(8n);
    v.setIntercept(INTERCEPT_CR0_WRITE);
    expect(run()).toBe(SVM_EXIT_WRITE_CR0);
    expect(info1()).toBe((1n << 63n) | 3n);
  });

  it("#UD is intercepted by vector (0x046), #PF with its error code and CR2 (0x04E)", () => {
    v.setIntercept(INTERCEPT_EXCEPTION_OFFSET + 6);
    code(0x1000, 0x0f, 0x0b); // ud2
    expect(run()).toBe(SVM_EXIT_EXCP_BASE + 6);
    expect(info1()).toBe(0n);
    expect(rip()).toBe(0x1000);

    // 32-bit protected mode with paging: PD at 0x2000, PT at 0x3000 identity-maps the first
    // MiB except page 0x5000.
    const dv = new DataView(h.ram.buffer, h.ram.byteOffset);
    dv.setUint32(0x2000, 0x3000 | 3, true);
    for (let i = 0; i < 256; i++) dv.setUint32(0x3000 + 4 * i, i === 5 ? 0 : (i << 12) | 3, true);
    v.write64(VMCB_CR0, 0x8000_0011n);
    v.write64(VMCB_CR3, 0x2000n);
    v.setSegment(VMCB_CS, { selector: 8, attrib: 0xc9b, limit: 0xffff_ffff, base: 0n });
    for (const at of [VMCB_DS, VMCB_ES, VMCB_SS]) {
      v.setSegment(at, { selector: 16, attrib: 0xc93, limit: 0xffff_ffff, base: 0n });
    }
    v.write8(VMCB_CPL, 0);
    v.write64(VMCB_RIP, 0x1100n);
    v.setIntercept(INTERCEPT_EXCEPTION_OFFSET + 14);
    code(0x1100, 0xa3, 0x04, 0x50, 0x00, 0x00); // mov [0x5004], eax
    expect(run()).toBe(SVM_EXIT_EXCP_BASE + 14);
    expect(info1()).toBe(2n); // not present, write, supervisor
    expect(info2()).toBe(0x5004n);
    expect(rip()).toBe(0x1100);
  });

  it("the host's timer interrupt exits INTR (0x060) from a guest that never exits", () => {
    v.setIntercept(INTERCEPT_INTR);
    h.cpu.nonRoot.timeslice = 500;
    code(0x1000, 0xeb, 0xfe); // jmp $
    expect(run()).toBe(SVM_EXIT_INTR);
    expect(rip()).toBe(0x1000);
    expect(h.cpu.nonRoot.instructions).toBe(500);
  });

  it("a triple fault exits SHUTDOWN (0x07F)", () => {
    v.setIntercept(INTERCEPT_SHUTDOWN);
    v.write32(VMCB_IDTR + 4, 0); // an empty IVT: #UD → #GP → #DF → shutdown
    code(0x1000, 0x0f, 0x0b);
    expect(run()).toBe(SVM_EXIT_SHUTDOWN);
    expect(v.read32(VMCB_EXIT_INT_INFO)).toBe(0);
  });

  it("an unmapped GPA under nested paging exits NPF (0x400) with exact EXITINFO1/2", () => {
    // DS base 2 MiB: outside the 1 MiB the nested tables map.
    v.setSegment(VMCB_DS, { selector: 0, attrib: 0x93, limit: 0xffff, base: 0x20_0000n });
    code(
      0x1000,
      0xa0,
      0x10,
      0x00, // mov al, [0x10]
    );
    expect(run()).toBe(SVM_EXIT_NPF);
    // US (nested accesses are user accesses), read, not present; bit 32: final translation.
    expect(info1()).toBe((1n << 32n) | 4n);
    expect(info2()).toBe(0x20_0010n);
    code(0x1000, 0xa2, 0x10, 0x00); // mov [0x10], al
    h.cpu.nonRoot.invalidateCode(); // the VMM rewrote code the core has decoded
    expect(run()).toBe(SVM_EXIT_NPF);
    expect(info1()).toBe((1n << 32n) | 6n);
  });

  it("a write to a read-only nested page exits NPF with P set", () => {
    // Clear R/W in the PTE for GPA 0x9000 (the nested tables are host pages after the VMCB).
    const ncr3 = Number(v.read64(0x0b0));
    const rd = (pa: number) => h.kernel.physBytes(pa, 8)!;
    const e = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getBigUint64(0, true);
    const pdpt = Number(e(rd(ncr3)) & ~0xfffn);
    const pd = Number(e(rd(pdpt)) & ~0xfffn);
    const pt = Number(e(rd(pd)) & ~0xfffn);
    const pte = rd(pt + 9 * 8);
    pte[0] = pte[0]! & ~2;
    code(0x1000, 0xa2, 0x00, 0x90); // mov [0x9000], al
    expect(run()).toBe(SVM_EXIT_NPF);
    expect(info1()).toBe((1n << 32n) | 7n);
    expect(info2()).toBe(0x9000n);
  });

  it("restores host state from the host save area at #VMEXIT; the guest's RBX stays", () => {
    v.setIntercept(INTERCEPT_HLT);
    h.cpu.regs[0] = 0x1111;
    h.cpu.regs[4] = 0x2222;
    v.write64(VMCB_RAX, 0x55n);
    code(
      0x1000,
      0x66,
      0x40, //             inc eax
      0xbb,
      0x34,
      0x12, //       mov bx, 0x1234
      0x66,
      0xbc,
      0,
      0x70,
      0,
      0, // mov esp, 0x7000
      0xf4, //                   hlt
    );
    expect(run()).toBe(SVM_EXIT_HLT);
    expect(h.cpu.regs[0]).toBe(0x1111);
    expect(h.cpu.regs[4]).toBe(0x2222);
    expect(h.cpu.regs[3]).toBe(0x1234);
    expect(v.read64(VMCB_RAX)).toBe(0x56n);
    const hsave = new Vmcb(h.hsavePa, h.pageBytes(h.hsavePa));
    expect(hsave.read16(VMCB_CS)).toBe(0x10);
    expect(hsave.read64(VMCB_RAX)).toBe(0x1111n);
    expect(h.cpu.state.rip).toBe(hsave.read64(VMCB_RIP));
    expect(h.cpu.svm.gif).toBe(false);
  });

  it("VMLOAD/VMSAVE round-trip FS and the MSR fields, and the guest runs with that FS", () => {
    const aPa = h.kernel.allocPage().pa;
    const va = new Vmcb(aPa, h.pageBytes(aPa));
    va.setSegment(VMCB_FS, { selector: 0x300, attrib: 0x93, limit: 0xffff, base: 0x3000n });
    va.write64(VMCB_STAR, 0x0023_0010_0000_0000n);
    expect(h.cpu.svm.vmload(h.cpu, va.pa)).toBe(0);
    v.setIntercept(INTERCEPT_HLT);
    h.ram[0x3005] = 0x5a;
    code(0x1000, 0x64, 0xa0, 0x05, 0x00, 0xf4); // mov al, fs:[5]; hlt
    expect(run()).toBe(SVM_EXIT_HLT);
    expect(v.read64(VMCB_RAX) & 0xffn).toBe(0x5an);
    const bPa = h.kernel.allocPage().pa;
    expect(h.cpu.svm.vmsave(h.cpu, bPa)).toBe(0);
    const vb = new Vmcb(bPa, h.pageBytes(bPa));
    expect(vb.segment(VMCB_FS)).toEqual(va.segment(VMCB_FS));
    expect(vb.read64(VMCB_STAR)).toBe(0x0023_0010_0000_0000n);
  });

  it("EVENTINJ delivers an exception with error code and an interrupt through the IVT", () => {
    v.setIntercept(INTERCEPT_HLT);
    const dv = new DataView(h.ram.buffer, h.ram.byteOffset);
    dv.setUint32(0x20 * 4, 0x0000_2000, true); // IVT[0x20] = 0000:2000
    code(0x2000, 0xf4);
    v.write32(VMCB_EVENT_INJ, SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | 0x20);
    expect(run()).toBe(SVM_EXIT_HLT);
    expect(rip()).toBe(0x2000);
    expect(v.read32(VMCB_EVENT_INJ) & SVM_EVTINJ_VALID).toBe(0);
    // Delivery through an IVT the nested tables do not map: NPF with EXITINTINFO.
    v.write64(VMCB_IDTR + VMCB_SEG_BASE, 0x30_0000n);
    v.write32(VMCB_EVENT_INJ, SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | SVM_EVTINJ_VALID_ERR | 13);
    v.write32(VMCB_EVENT_INJ_ERR, 0x18);
    expect(run()).toBe(SVM_EXIT_NPF);
    expect(v.read32(VMCB_EXIT_INT_INFO)).toBe((SVM_EVTINJ_VALID | 0x300 | 0x800 | 13) >>> 0);
    expect(v.read32(0x08c)).toBe(0x18);
  });

  it("V_IRQ exits VINTR when intercepted, and is taken through the IVT when not", () => {
    v.write64(VMCB_RFLAGS, 0x202n);
    v.write32(VMCB_INT_CTL, V_IRQ_MASK | V_IGN_TPR_MASK);
    v.write32(VMCB_INT_VECTOR, 0x30);
    v.setIntercept(INTERCEPT_VINTR);
    v.setIntercept(INTERCEPT_HLT);
    code(0x1000, 0x90, 0xf4);
    expect(run()).toBe(SVM_EXIT_VINTR);
    expect(v.read32(VMCB_INT_CTL) & V_IRQ_MASK).toBe(V_IRQ_MASK);
    v.setIntercept(INTERCEPT_VINTR, false);
    new DataView(h.ram.buffer, h.ram.byteOffset).setUint32(0x30 * 4, 0x2100, true);
    code(0x2100, 0xf4);
    expect(run()).toBe(SVM_EXIT_HLT);
    expect(rip()).toBe(0x2100);
    expect(v.read32(VMCB_INT_CTL) & V_IRQ_MASK).toBe(0);
  });

  it("VMMCALL exits 0x081 when intercepted, else raises #UD", () => {
    code(0x1000, 0x0f, 0x01, 0xd9);
    v.setIntercept(INTERCEPT_VMMCALL);
    expect(run()).toBe(SVM_EXIT_VMMCALL);
    expect(v.read64(VMCB_NEXT_RIP)).toBe(0x1003n);
    v.setIntercept(INTERCEPT_VMMCALL, false);
    v.setIntercept(INTERCEPT_EXCEPTION_OFFSET + 6);
    expect(run()).toBe(SVM_EXIT_EXCP_BASE + 6);
  });

  it("a guest WRMSR to EFER keeps SVME (the guest sees it set) and reaches the VMCB", () => {
    v.setIntercept(INTERCEPT_HLT);
    v.setIntercept(INTERCEPT_EXCEPTION_OFFSET + 13);
    v.setIntercept(INTERCEPT_MSR_PROT); // the MSRPM is empty: EFER is passed through
    code(
      0x1000,
      0x66,
      0xb9,
      0x80,
      0x00,
      0x00,
      0xc0, // mov ecx, 0xc0000080
      0x0f,
      0x32, //                         rdmsr
      0x0c,
      0x01, //                         or al, 1 (SCE)
      0x0f,
      0x30, //                         wrmsr
      0xf4, //                               hlt
    );
    expect(run()).toBe(SVM_EXIT_HLT);
    expect(v.read64(0x4d0)).toBe(0x1001n); // SVME | SCE
  });

  it("MOV DR7, INVLPG, SGDT and INT n exit with their decode-assist EXITINFO1", () => {
    v.setIntercept(0x37); // write DR7
    v.setIntercept(SVM_EXIT_INVLPG);
    v.setIntercept(0x67); // GDTR read
    v.setIntercept(SVM_EXIT_SWINT);
    code(
      0x1000,
      0x0f,
      0x23,
      0xfb, //       mov dr7, ebx
      0x0f,
      0x01,
      0x3e,
      0x34,
      0x12, // invlpg [0x1234]
      0x0f,
      0x01,
      0x06,
      0x00,
      0x30, // sgdt [0x3000]
      0xcd,
      0x21, //             int 0x21
    );
    expect(run()).toBe(0x37);
    expect(info1()).toBe(3n);
    expect(v.read64(VMCB_NEXT_RIP)).toBe(0x1003n);
    v.write64(VMCB_RIP, 0x1003n);
    expect(run()).toBe(SVM_EXIT_INVLPG);
    expect(info1()).toBe(0x1234n);
    v.write64(VMCB_RIP, 0x1008n);
    expect(run()).toBe(0x67);
    v.write64(VMCB_RIP, 0x100dn);
    expect(run()).toBe(SVM_EXIT_SWINT);
    expect(info1()).toBe(0x21n);
    expect(v.read64(VMCB_NEXT_RIP)).toBe(0x100fn);
  });

  it("EVENTINJ NMI and soft INT (returning to nRIP) go through the IVT", () => {
    v.setIntercept(INTERCEPT_HLT);
    const dv = new DataView(h.ram.buffer, h.ram.byteOffset);
    dv.setUint32(2 * 4, 0x2000, true); // IVT[2]
    dv.setUint32(0x40 * 4, 0x2100, true); // IVT[0x40]
    code(0x2000, 0xf4);
    code(0x2100, 0xcf); // iret
    code(0x1000, 0x90, 0x90, 0xf4);
    v.write32(VMCB_EVENT_INJ, (SVM_EVTINJ_VALID | 0x200) >>> 0);
    expect(run()).toBe(SVM_EXIT_HLT);
    expect(rip()).toBe(0x2000);
    v.write64(VMCB_RIP, 0x1000n);
    v.write64(VMCB_NEXT_RIP, 0x1001n);
    v.write32(VMCB_EVENT_INJ, (SVM_EVTINJ_VALID | 0x400 | 0x40) >>> 0);
    expect(run()).toBe(SVM_EXIT_HLT);
    expect(rip()).toBe(0x1002); // IRET returned to nRIP 0x1001, then NOP
  });

  it("V_TPR holds back a V_IRQ of lower or equal priority", () => {
    v.write64(VMCB_RFLAGS, 0x202n);
    v.write32(VMCB_INT_CTL, V_IRQ_MASK | (3 << 16) | 5); // priority 3, V_TPR 5
    v.write32(VMCB_INT_VECTOR, 0x30);
    v.setIntercept(INTERCEPT_HLT);
    code(0x1000, 0x90, 0xf4);
    expect(run()).toBe(SVM_EXIT_HLT);
    expect(rip()).toBe(0x1001);
    expect(v.read32(VMCB_INT_CTL)).toBe(V_IRQ_MASK | (3 << 16) | 5);
  });

  it("VMRUN in the guest exits 0x080; an unintercepted CLGI is #UD", () => {
    v.setIntercept(INTERCEPT_EXCEPTION_OFFSET + 6);
    code(0x1000, 0x0f, 0x01, 0xd8, 0x0f, 0x01, 0xdd); // vmrun; clgi
    expect(run()).toBe(0x080);
    expect(v.read64(VMCB_NEXT_RIP)).toBe(0x1003n);
    v.write64(VMCB_RIP, 0x1003n);
    expect(run()).toBe(SVM_EXIT_EXCP_BASE + 6);
    v.setIntercept(0x085); // CLGI
    expect(run()).toBe(0x085);
  });

  it("keeps the guest's SS and CPL, and 1 MiB of RAM mapped once per nCR3", () => {
    v.setIntercept(INTERCEPT_HLT);
    code(0x1000, 0xf4);
    run();
    expect(v.segment(VMCB_SS).attrib).toBe(0x93);
    expect(h.cpu.nonRoot.cpu.mem.ranges.filter(Boolean).length).toBe(1);
    expect(MiB).toBe(h.ram.length);
  });
});
