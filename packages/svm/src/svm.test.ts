import { HostKernel, KVM_ISA_SVM, type KvmExitEvent, kvmX86OpsMissing } from "@glassvm/kvm-kernel";
import {
  KVM_EXIT_INTERNAL_ERROR,
  KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON,
  KVM_MEM_LOG_DIRTY_PAGES,
} from "@glassvm/kvm-kernel/uapi";
import { describe, expect, it } from "vitest";
import { createAmdGuest, kernelVcpu, le16, le32, realMode, seg } from "../test/kvm_amd.js";
import {
  EFER_SVME,
  INTERCEPT_CPUID,
  INTERCEPT_CR0_READ,
  INTERCEPT_CR0_WRITE,
  INTERCEPT_CR3_READ,
  INTERCEPT_CR3_WRITE,
  INTERCEPT_CR4_WRITE,
  INTERCEPT_CR8_WRITE,
  INTERCEPT_HLT,
  INTERCEPT_INTR,
  INTERCEPT_INVLPG,
  INTERCEPT_INVLPGA,
  INTERCEPT_IOIO_PROT,
  INTERCEPT_MSR_PROT,
  INTERCEPT_NMI,
  INTERCEPT_SELECTIVE_CR0,
  INTERCEPT_SHUTDOWN,
  INTERCEPT_VINTR,
  INTERCEPT_VMMCALL,
  INTERCEPT_VMRUN,
  MSR_EFER,
  MSR_VM_HSAVE_PA,
  SVM_EVTINJ_TYPE_INTR,
  SVM_EVTINJ_VALID,
  SVM_EXIT_CPUID,
  SVM_EXIT_HLT,
  SVM_EXIT_IOIO,
  SVM_EXIT_MSR,
  SVM_EXIT_NPF,
  SVM_NESTED_CTL_NP_ENABLE,
  V_IGN_TPR_MASK,
  V_INTR_MASKING_MASK,
  V_IRQ_MASK,
} from "./asm/svm.js";
import { svmEmulateInstruction } from "./emulate.js";
import {
  VMCB_ASID,
  VMCB_CS,
  VMCB_EFER,
  VMCB_EVENT_INJ,
  VMCB_INT_CTL,
  VMCB_INTERCEPT_EXCEPTIONS,
  VMCB_IOPM_BASE_PA,
  VMCB_MISC_CTL,
  VMCB_MSRPM_BASE_PA,
  VMCB_NESTED_CR3,
  VMCB_SS,
  VMCB_STAR,
} from "./hw/vmcb.js";
import { SVM_SUPPORTED_CPUID, svmX86Ops } from "./main.js";
import { KvmAmd, svmExitHandlers, svmHandleExit, toKvmAmd, toSvm } from "./svm.js";

describe("kvm_amd module: hardware setup and enable", () => {
  it("svm_hardware_enable sets EFER.SVME and VM_HSAVE_PA per CPU; twice is -EBUSY", () => {
    const amd = new KvmAmd(new HostKernel(), 2);
    expect(amd.svmHardwareSetup()).toBe(0);
    expect(amd.nptEnabled && amd.nrips && amd.flushByAsid).toBe(true);
    for (const cpu of amd.cpus) {
      expect(amd.svmHardwareEnable(cpu)).toBe(0);
      expect(cpu.efer() & EFER_SVME).toBe(EFER_SVME);
      expect(cpu.rdmsr(MSR_VM_HSAVE_PA)).toBe(BigInt(amd.sd.get(cpu.id)!.saveArea.pa));
    }
    expect(amd.svmHardwareEnable(amd.cpus[0]!)).toBe(-16);
    amd.svmHardwareDisable(amd.cpus[0]!);
    expect(amd.cpus[0]!.rdmsr(MSR_EFER)! & BigInt(EFER_SVME)).toBe(0n);
    expect(amd.cpus[0]!.rdmsr(MSR_VM_HSAVE_PA)).toBe(0n);
  });

  it("svmX86Ops has every required kvm_x86_ops member and KVM's emulator", () => {
    expect(kvmX86OpsMissing(svmX86Ops)).toEqual([]);
    expect(svmX86Ops.name).toBe("kvm_amd");
    expect(svmX86Ops.emulateInstruction).toBe(svmEmulateInstruction);
  });

  it("KVM_GET_SUPPORTED_CPUID follows the AMD host: AuthenticAMD, no SVM bit (nested=0)", () => {
    const g = createAmdGuest();
    const leaves = g.kvm.getSupportedCpuid();
    expect(leaves).toEqual(expect.arrayContaining([...SVM_SUPPORTED_CPUID]));
    const l0 = leaves.find((l) => l.function === 0)!;
    const vendor = new Uint8Array(new Uint32Array([l0.ebx, l0.edx, l0.ecx]).buffer);
    expect(new TextDecoder().decode(vendor)).toBe("AuthenticAMD");
    const ext = leaves.find((l) => l.function === 0x8000_0001)!;
    expect(ext.ecx & (1 << 2)).toBe(0);
    expect(leaves.find((l) => l.function === 1)!.ecx & (1 << 5)).toBe(0);
  });
});

describe("svm_vcpu_create / init_vmcb", () => {
  it("sets Linux's intercepts for an NPT guest, the permission maps and nested paging", () => {
    const g = createAmdGuest();
    const svm = toSvm(kernelVcpu(g));
    const v = svm.vmcb;
    for (const i of [
      INTERCEPT_CR0_READ,
      INTERCEPT_CR0_WRITE,
      INTERCEPT_CR4_WRITE,
      INTERCEPT_CR8_WRITE,
      INTERCEPT_INTR,
      INTERCEPT_NMI,
      INTERCEPT_SELECTIVE_CR0,
      INTERCEPT_CPUID,
      INTERCEPT_HLT,
      INTERCEPT_INVLPGA,
      INTERCEPT_IOIO_PROT,
      INTERCEPT_MSR_PROT,
      INTERCEPT_SHUTDOWN,
      INTERCEPT_VMRUN,
      INTERCEPT_VMMCALL,
    ]) {
      expect(v.intercept(i), `intercept ${i}`).toBe(true);
    }
    // With NPT: no CR3, INVLPG or #PF intercepts; VINTR only while KVM waits for a window.
    for (const i of [INTERCEPT_CR3_READ, INTERCEPT_CR3_WRITE, INTERCEPT_INVLPG, INTERCEPT_VINTR]) {
      expect(v.intercept(i), `intercept ${i}`).toBe(false);
    }
    expect(v.read32(VMCB_INTERCEPT_EXCEPTIONS)).toBe((1 << 6) | (1 << 17) | (1 << 18));
    expect(v.read32(VMCB_INT_CTL) & V_INTR_MASKING_MASK).toBe(V_INTR_MASKING_MASK);
    expect(v.read64(VMCB_MISC_CTL)).toBe(BigInt(SVM_NESTED_CTL_NP_ENABLE));
    expect(v.read64(VMCB_EFER) & BigInt(EFER_SVME)).toBe(BigInt(EFER_SVME));
    // IOPM (3 pages) and MSRPM (2 pages): every bit set.
    const amd = toKvmAmd(kernelVcpu(g).kvm);
    const pages = (pa: bigint, n: number) =>
      Array.from({ length: n }, (_, i) => g.kernel.physBytes(Number(pa) + i * 4096, 4096)!);
    for (const p of pages(v.read64(VMCB_IOPM_BASE_PA), 3))
      expect(p.every((b) => b === 0xff)).toBe(true);
    for (const p of pages(v.read64(VMCB_MSRPM_BASE_PA), 2))
      expect(p.every((b) => b === 0xff)).toBe(true);
    expect(v.read64(VMCB_IOPM_BASE_PA)).toBe(BigInt(amd.iopmPa));
    // The reset state: CS F000 with base FFFF0000, attrib 0x9B.
    expect(v.segment(VMCB_CS)).toEqual({
      selector: 0xf000,
      attrib: 0x9b,
      limit: 0xffff,
      base: 0xffff_0000n,
    });
  });

  it("the first run gives an ASID and nCR3 (the NPT built from the memslots)", () => {
    const g = createAmdGuest();
    g.ram.set([0xf4], 0x1000); // hlt
    realMode(g);
    expect(g.vcpu.run().reason).toBe("Hlt");
    const v = toSvm(kernelVcpu(g)).vmcb;
    expect(v.read32(VMCB_ASID)).toBe(1);
    expect(v.read64(VMCB_NESTED_CR3)).not.toBe(0n);
  });
});

describe("segments through the VMCB attrib format", () => {
  it("set/get round-trip; unusable is P = 0; SS.DPL is the CPL byte", () => {
    const g = createAmdGuest();
    const vcpu = kernelVcpu(g);
    const code = seg({ selector: 0x08, type: 11, db: 1, g: 1, limit: 0xffff_ffff });
    svmX86Ops.setSegment(vcpu, code, 1);
    expect(toSvm(vcpu).vmcb.segment(VMCB_CS).attrib).toBe(0xc9b);
    expect(svmX86Ops.getSegment(vcpu, 1)).toEqual(code);
    svmX86Ops.setSegment(vcpu, seg({ selector: 0x2b, dpl: 3, type: 3 }), 2);
    expect(svmX86Ops.getCpl(vcpu)).toBe(3);
    svmX86Ops.setSegment(vcpu, seg({ unusable: 1, present: 0 }), 3);
    expect(svmX86Ops.getSegment(vcpu, 3).unusable).toBe(1);
    expect(toSvm(vcpu).vmcb.segment(VMCB_SS).attrib).toBe(0xf3);
  });
});

describe("svm_vcpu_run and svm_exit_handlers on real-mode guests", () => {
  it("IOIO → KVM_EXIT_IO, CPUID in the kernel, HLT → KVM_EXIT_HLT; kvm_exit names SVM exits", () => {
    const g = createAmdGuest();
    const exits: KvmExitEvent[] = [];
    g.kernel.trace.kvm_exit.subscribe((e) => exits.push(e));
    g.ram.set(
      [
        0x31,
        0xc0, // xor ax, ax
        0x0f,
        0xa2, // cpuid
        0xb0,
        0x41, // mov al, 'A'
        0xe6,
        0xe9, // out 0xe9, al
        0xf4, // hlt
      ],
      0x1000,
    );
    realMode(g);
    expect(g.vcpu.run()).toMatchObject({ reason: "IoOut", port: 0xe9, size: 1 });
    expect(g.vcpu.run().reason).toBe("Hlt");
    expect(g.vcpu.getRegs().rip).toBe(0x1009n);
    const codes = exits.map((e) => e.exit_reason);
    expect(codes).toEqual([SVM_EXIT_CPUID, SVM_EXIT_IOIO, SVM_EXIT_HLT]);
    expect(exits.map((e) => e.exit_reason_name)).toEqual(["cpuid", "io", "hlt"]);
    expect(exits.every((e) => e.isa === KVM_ISA_SVM)).toBe(true);
    // IOIO EXITINFO1: port 0xE9, SZ8, A16, OUT; EXITINFO2 = next RIP.
    expect(exits[1]!.info1).toBe(0xe9_0090n);
    expect(exits[1]!.info2).toBe(0x1008n);
  });

  it("IN: userspace's data lands in AL after the next KVM_RUN", () => {
    const g = createAmdGuest();
    g.ram.set([0xe4, 0x60, 0xf4], 0x1000); // in al, 0x60; hlt
    realMode(g);
    const e = g.vcpu.run();
    expect(e).toMatchObject({ reason: "IoIn", port: 0x60, size: 1 });
    if (e.reason === "IoIn") e.data[0] = 0x5a;
    expect(g.vcpu.run().reason).toBe("Hlt");
    expect(g.vcpu.getRegs().rax & 0xffn).toBe(0x5an);
  });

  it("WRMSR/RDMSR exit (MSRPM all ones) and reach the VMCB's STAR", () => {
    const g = createAmdGuest();
    const exits: number[] = [];
    g.kernel.trace.kvm_exit.subscribe((e) => exits.push(e.exit_reason));
    g.ram.set(
      [
        0x66,
        0xb9,
        ...le32(0xc000_0081), // mov ecx, STAR
        0x66,
        0xb8,
        ...le32(0x1234_5678), // mov eax, …
        0x66,
        0xba,
        ...le32(0x0023_0010), // mov edx, …
        0x0f,
        0x30, // wrmsr
        0x66,
        0x31,
        0xc0, // xor eax, eax
        0x0f,
        0x32, // rdmsr
        0xf4,
      ],
      0x1000,
    );
    realMode(g);
    expect(g.vcpu.run().reason).toBe("Hlt");
    expect(exits.filter((c) => c === SVM_EXIT_MSR).length).toBe(2);
    const v = toSvm(kernelVcpu(g)).vmcb;
    expect(v.read64(VMCB_STAR)).toBe(0x0023_0010_1234_5678n);
    expect(g.vcpu.getRegs().rax & 0xffff_ffffn).toBe(0x1234_5678n);
  });

  it("MOV CR0 to protected mode exits (CR0 write with CD/NW set, selective CR0 after)", () => {
    const g = createAmdGuest();
    // GDT at 0x500: null, flat 32-bit code 0x08, flat data 0x10.
    g.ram.set(
      [
        0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0x9b, 0xcf, 0, 0xff, 0xff, 0, 0, 0, 0x93, 0xcf,
        0,
      ],
      0x500,
    );
    g.ram.set([...le16(0x17), ...le32(0x500)], 0x600); // GDTR image
    g.ram.set(
      [
        0x0f,
        0x01,
        0x16,
        ...le16(0x600), // lgdt [0x600]
        0x0f,
        0x20,
        0xc0, // mov eax, cr0
        0x66,
        0x25,
        ...le32(0x9fff_ffff), // and eax, ~(CD|NW)
        0x0f,
        0x22,
        0xc0, // mov cr0, eax
        0x66,
        0x83,
        0xc8,
        0x01, // or eax, 1
        0x0f,
        0x22,
        0xc0, // mov cr0, eax (PE: selective CR0 write)
        0xea,
        ...le16(0x1020),
        ...le16(0x08), // jmp 0x08:0x1020
      ],
      0x1000,
    );
    g.ram.set([0xb0, 0x50, 0xe6, 0xe9, 0xf4], 0x1020); // mov al, 'P'; out 0xe9, al; hlt
    realMode(g);
    expect(g.vcpu.run()).toMatchObject({ reason: "IoOut", port: 0xe9 });
    const s = g.vcpu.getSregs();
    expect(Number(s.cr0) & 1).toBe(1);
    expect(s.cs.selector).toBe(0x08);
    const v = toSvm(kernelVcpu(g)).vmcb;
    // CD/NW are gone from the guest's CR0: the CR0 read/write intercepts are dropped.
    expect(v.intercept(INTERCEPT_CR0_WRITE)).toBe(false);
  });

  it("an access outside every memslot is an NPF that KVM's emulator turns into MMIO exits", () => {
    const g = createAmdGuest({ ramSize: 0x1_0000 });
    const exits: number[] = [];
    g.kernel.trace.kvm_exit.subscribe((e) => exits.push(e.exit_reason));
    g.ram.set(
      [
        ...[0xb8, 0x00, 0xd0, 0x8e, 0xd8], // mov ax, 0xd000; mov ds, ax
        ...[0xa0, 0x10, 0x00], // mov al, [0x10]
        ...[0xc6, 0x06, 0x20, 0x00, 0x5a], // mov byte [0x20], 0x5a
        ...[0xe6, 0xe9], // out 0xe9, al
        ...[0xbe, 0x30, 0x00], // mov si, 0x30
        ...[0xb9, 0x03, 0x00], // mov cx, 3
        ...[0xba, 0xe9, 0x00], // mov dx, 0xe9
        ...[0xf3, 0x6e], // rep outsb (from MMIO: one read per byte, one OUT of 3)
        0xf4,
      ],
      0x1000,
    );
    realMode(g);
    const r = g.vcpu.run();
    expect(r).toMatchObject({ reason: "MmioRead", addr: 0xd0010n });
    expect(r.reason === "MmioRead" && r.data.length).toBe(1);
    expect(exits.at(-1)).toBe(SVM_EXIT_NPF);
    if (r.reason === "MmioRead") r.data.set([0x41]);
    const w = g.vcpu.run();
    expect(w).toMatchObject({ reason: "MmioWrite", addr: 0xd0020n });
    if (w.reason === "MmioWrite") expect([...w.data]).toEqual([0x5a]);
    expect(g.vcpu.run()).toMatchObject({
      reason: "IoOut",
      port: 0xe9,
      data: new Uint8Array([0x41]),
    });
    for (const b of [0x61, 0x62, 0x63]) {
      const m = g.vcpu.run();
      expect(m).toMatchObject({ reason: "MmioRead" });
      if (m.reason === "MmioRead") m.data.set([b]);
    }
    expect(g.vcpu.run()).toMatchObject({
      reason: "IoOut",
      port: 0xe9,
      data: new Uint8Array([0x61, 0x62, 0x63]),
    });
    expect(g.vcpu.run().reason).toBe("Hlt");
  });

  it("dirty logging: the first write to a page exits (NPF), is logged, then runs free", () => {
    const g = createAmdGuest({ flags: KVM_MEM_LOG_DIRTY_PAGES });
    const npfs: number[] = [];
    g.kernel.trace.kvm_exit.subscribe((e) => e.exit_reason === SVM_EXIT_NPF && npfs.push(1));
    // mov [0x3000], al twice, then hlt
    g.ram.set([0xa2, ...le16(0x3000), 0xa2, ...le16(0x3000), 0xf4], 0x1000);
    realMode(g);
    expect(g.vcpu.run().reason).toBe("Hlt");
    const bitmap = g.vm.getDirtyLog(0, 0x10_0000);
    expect((bitmap[0x3000 >> 15]! >> ((0x3000 >> 12) & 7)) & 1).toBe(1);
    expect(npfs.length).toBeGreaterThanOrEqual(1);
  });

  it("a triple fault is the SHUTDOWN intercept → KVM_EXIT_SHUTDOWN", () => {
    const g = createAmdGuest();
    g.ram.set([0x0f, 0x01, 0x1e, ...le16(0x600), 0xcc], 0x1000); // lidt [0x600] (limit 0); int3
    realMode(g);
    expect(g.vcpu.run().reason).toBe("Shutdown");
  });
});

describe("event injection and the interrupt window", () => {
  it("KVM_INTERRUPT goes in through EVENTINJ; the IF=0 guest gets a VINTR window first", () => {
    const g = createAmdGuest();
    g.ram.set([...le16(0x2000), ...le16(0)], 4 * 0x20); // IVT[0x20] = 0000:2000
    g.ram.set([0xb0, 0x49, 0xe6, 0xe9, 0xf4], 0x2000); // mov al, 'I'; out 0xe9, al; hlt
    g.ram.set([0xfb, 0x90, 0xeb, 0xfe], 0x1000); // sti; nop; jmp $
    realMode(g);
    const vcpu = kernelVcpu(g);
    g.vcpu.interrupt(0x20);
    // Blocked (IF = 0): KVM asks for the window (V_IRQ + VINTR), then injects.
    const v = toSvm(vcpu).vmcb;
    const e = g.vcpu.run();
    expect(e).toMatchObject({ reason: "IoOut", port: 0xe9 });
    expect(v.read32(VMCB_EVENT_INJ) & SVM_EVTINJ_VALID).toBe(0);
    expect(v.intercept(INTERCEPT_VINTR)).toBe(false);
    expect(vcpu.stat.irq_injections).toBe(1);
  });

  it("svm_enable_irq_window sets V_IRQ, V_IGN_TPR and the VINTR intercept", () => {
    const g = createAmdGuest();
    const vcpu = kernelVcpu(g);
    svmX86Ops.enableIrqWindow(vcpu);
    const v = toSvm(vcpu).vmcb;
    expect(v.read32(VMCB_INT_CTL) & (V_IRQ_MASK | V_IGN_TPR_MASK)).toBe(
      V_IRQ_MASK | V_IGN_TPR_MASK,
    );
    expect(v.intercept(INTERCEPT_VINTR)).toBe(true);
    vcpu.arch.interrupt.nr = 0x30;
    vcpu.arch.interrupt.soft = false;
    svmX86Ops.injectIrq(vcpu, false);
    expect(v.read32(VMCB_EVENT_INJ)).toBe((0x30 | SVM_EVTINJ_TYPE_INTR | SVM_EVTINJ_VALID) >>> 0);
  });

  it("an exit code without a handler is KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON", () => {
    const g = createAmdGuest();
    const vcpu = kernelVcpu(g);
    const svm = toSvm(vcpu);
    expect(svmExitHandlers.has(0x401)).toBe(false);
    svm.exitCode = 0x401;
    expect(svmHandleExit(vcpu, 0)).toBe(0);
    expect(vcpu.run.exitReason).toBe(KVM_EXIT_INTERNAL_ERROR);
    expect(vcpu.run.internalSuberror).toBe(KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON);
  });
});
