/**
 * kvm_intel's ops that need no guest to run: the module and its ops table, the vCPU's
 * VMCS, registers and MSRs through the ioctls userspace uses, event injection into the
 * VM-entry fields, the window controls and the interrupt shadow.
 */
import { KVM_X86_OPS, kvmX86OpsMissing } from "@glassvm/kvm-kernel";
import {
  emptyKvmRegs,
  KVM_API_VERSION,
  KVM_GUESTDBG_ENABLE,
  KVM_GUESTDBG_USE_SW_BP,
  KVM_X86_SHADOW_INT_MOV_SS,
  KVM_X86_SHADOW_INT_STI,
  KvmError,
} from "@glassvm/kvm-kernel/uapi";
import { describe, expect, it } from "vitest";
import {
  CPU_BASED_INTR_WINDOW_EXITING,
  CPU_BASED_NMI_WINDOW_EXITING,
  CPU_BASED_VM_EXEC_CONTROL,
  CR0_READ_SHADOW,
  CR4_READ_SHADOW,
  EPT_POINTER,
  EXCEPTION_BITMAP,
  GUEST_CR0,
  GUEST_CR4,
  GUEST_CS_AR_BYTES,
  GUEST_DS_AR_BYTES,
  GUEST_FS_BASE,
  GUEST_IA32_EFER,
  GUEST_IA32_PAT,
  GUEST_INTERRUPTIBILITY_INFO,
  GUEST_RFLAGS,
  GUEST_SYSENTER_CS,
  GUEST_SYSENTER_EIP,
  toVmx,
  VM_ENTRY_CONTROLS,
  VM_ENTRY_EXCEPTION_ERROR_CODE,
  VM_ENTRY_IA32E_MODE,
  VM_ENTRY_INSTRUCTION_LEN,
  VM_ENTRY_INTR_INFO_FIELD,
  VM_ENTRY_RULES,
  VMX_SUCCEED,
  VMX_SUPPORTED_CPUID,
  vmEntryChecks,
  vmxCancelInjection,
  vmxEnableIrqWindow,
  vmxEnableNmiWindow,
  vmxInjectException,
  vmxInjectIrq,
  vmxInjectNmi,
  vmxInterruptAllowed,
  vmxLoadMmuPgd,
  vmxX86Ops,
} from "../src/index.js";
import {
  createGuest,
  type Guest,
  kernelVcpu,
  kvmIntelHost,
  longMode,
  protectedMode,
} from "./guests.js";

/** VMREAD of the guest's VMCS on its host CPU (it stays current there after an ioctl). */
function vmcs(g: Guest, field: number): bigint {
  const cpu = toVmx(kernelVcpu(g)).cpu;
  expect(cpu.vmx.vmread(cpu, field)).toBe(VMX_SUCCEED);
  return cpu.vmx.readValue;
}
const vmcsN = (g: Guest, field: number): number => Number(vmcs(g, field));

describe("the kvm_intel module", () => {
  it("loads through kvmModule with every required kvm_x86_ops member", () => {
    expect(kvmX86OpsMissing(vmxX86Ops)).toEqual([]);
    // Every member it provides is one kvm-x86-ops.h has.
    const known = new Set<string>(KVM_X86_OPS.map(([name]) => name));
    for (const name of Object.keys(vmxX86Ops)) if (name !== "name") expect(known).toContain(name);
    const h = kvmIntelHost();
    expect(h.kernel.modules.has("kvm_intel")).toBe(true);
    expect(h.kvm.getApiVersion()).toBe(KVM_API_VERSION);
    expect(h.mod.intel.vmcsConfig?.revisionId).toBe(0x10);
  });

  it("reports a GenuineIntel CPUID with NX and long mode, and no VMX (nested=0)", () => {
    const { kvm } = kvmIntelHost();
    const cpuid = kvm.getSupportedCpuid();
    const leaf = (fn: number) => cpuid.find((e) => e.function === fn)!;
    const vendor = [leaf(0).ebx, leaf(0).edx, leaf(0).ecx]
      .map((r) => String.fromCharCode(r & 0xff, (r >>> 8) & 0xff, (r >>> 16) & 0xff, r >>> 24))
      .join("");
    expect(vendor).toBe("GenuineIntel");
    expect((leaf(1).ecx >>> 5) & 1).toBe(0);
    expect((leaf(0x8000_0001).edx >>> 20) & 1).toBe(1);
    expect((leaf(0x8000_0001).edx >>> 29) & 1).toBe(1);
    expect(cpuid.length).toBe(VMX_SUPPORTED_CPUID.length + 2);
  });

  it("turns VMX on for the first VM and off after the last, then unloads", () => {
    const h = kvmIntelHost();
    const cpus = h.mod.intel.cpus;
    expect(cpus.some((c) => c.vmx.inVmxOperation)).toBe(false);
    const vm = h.kvm.createVm();
    expect(cpus.every((c) => c.vmx.inVmxOperation)).toBe(true);
    vm.close();
    expect(cpus.some((c) => c.vmx.inVmxOperation)).toBe(false);
    h.kvm.close();
    expect(h.kernel.unloadModule("kvm_intel")).toBe(0);
    expect(h.mod.intel.vmxarea.size).toBe(0);
  });

  it("leaves SPEC_CTRL (not on this part) and VM_HSAVE_PA (AMD) out of the MSR list", () => {
    const list = kvmIntelHost().kvm.getMsrIndexList();
    expect(list).toContain(0xc000_0082);
    expect(list).not.toContain(0x48);
    expect(list).not.toContain(0xc001_0117);
  });
});

describe("a vCPU's vmcs01", () => {
  it(`passes all ${VM_ENTRY_RULES.length} VM-entry checks after reset and MMU load`, () => {
    expect(VM_ENTRY_RULES.length).toBe(118);
    const g = createGuest();
    const vcpu = kernelVcpu(g);
    vmxLoadMmuPgd(vcpu);
    expect(vmcs(g, EPT_POINTER) & 0xfffn).toBe(0x1en);
    const cpu = toVmx(vcpu).cpu;
    const ctx = { caps: cpu.vmx.caps, hostLongMode: true, physAddrBits: 36 };
    const read = (enc: number) =>
      cpu.vmx.vmread(cpu, enc) === VMX_SUCCEED ? cpu.vmx.readValue : 0n;
    expect(vmEntryChecks({ read }, ctx)?.message ?? null).toBeNull();
  });

  it("holds the RESET state: CS F000 with base FFFF0000, CR0 60000010 shadowed", () => {
    const g = createGuest();
    const s = g.vcpu.getSregs();
    expect(s.cs.selector).toBe(0xf000);
    expect(s.cs.base).toBe(0xffff_0000n);
    expect(s.cr0).toBe(0x6000_0010n);
    expect(g.vcpu.getRegs().rip).toBe(0xfff0n);
    expect(vmcs(g, CR0_READ_SHADOW)).toBe(0x6000_0010n);
    // The hardware runs with NE forced and CD/NW dropped (KVM_VM_CR0_ALWAYS_ON/OFF).
    expect(vmcs(g, GUEST_CR0)).toBe(0x30n);
  });

  it("gives each vCPU its own VPID and takes it back with the VM", () => {
    const g = createGuest();
    g.vm.createVcpu(1);
    const vpids = [toVmx(kernelVcpu(g, 0)).vpid, toVmx(kernelVcpu(g, 1)).vpid];
    expect(vpids).toEqual([1, 2]);
    const pages = g.kernel.physPages.size;
    // The VMM exits: its fds and kvm_run mappings go, and with them the VM.
    g.os.exit();
    expect(g.mod.intel.vpidInUse.size).toBe(0);
    // Both VMCSs and MSR bitmaps went back to the page allocator.
    expect(g.kernel.physPages.size).toBeLessThan(pages - 3);
  });
});

describe("registers through KVM_SET_SREGS / KVM_GET_SREGS / KVM_SET_REGS", () => {
  it("protected mode round-trips; the VMCS holds the shadows and forced bits", () => {
    const g = createGuest();
    protectedMode(g, { paging: true });
    const s = g.vcpu.getSregs();
    expect(s.cs).toMatchObject({ selector: 8, base: 0n, limit: 0xffff_ffff, type: 11, db: 1 });
    expect(s.ss).toMatchObject({ selector: 0x10, type: 3, db: 1, g: 1, present: 1 });
    expect(s.gdt).toEqual({ base: 0x500n, limit: 0x1f });
    expect(s.cr0).toBe(0x8000_0031n);
    expect(s.cr3).toBe(0x2000n);
    expect(s.cr4).toBe(0x10n);
    expect(vmcs(g, CR4_READ_SHADOW)).toBe(0x10n);
    expect(vmcs(g, GUEST_CR4)).toBe(0x2010n); // + VMXE
    expect(vmcsN(g, GUEST_CS_AR_BYTES)).toBe(0xc09b);
  });

  it("long mode: EFER.LMA sets IA-32e mode guest and goes to GUEST_IA32_EFER", () => {
    const g = createGuest();
    longMode(g);
    const s = g.vcpu.getSregs();
    expect(s.efer).toBe(0x500n);
    expect(s.cs).toMatchObject({ l: 1, db: 0, selector: 0x18 });
    expect(vmcsN(g, VM_ENTRY_CONTROLS) & VM_ENTRY_IA32E_MODE).toBe(VM_ENTRY_IA32E_MODE);
    expect(vmcs(g, GUEST_IA32_EFER)).toBe(0x500n);
    // Back to real mode: LMA and the entry control go, LME stays out of the hardware EFER.
    g.vcpu.setSregs({ ...s, cr0: 0x10n, cr4: 0n, efer: 0x100n, cs: { ...s.cs, l: 0 } });
    expect(vmcsN(g, VM_ENTRY_CONTROLS) & VM_ENTRY_IA32E_MODE).toBe(0);
    expect(vmcs(g, GUEST_IA32_EFER)).toBe(0n);
    expect(g.vcpu.getSregs().efer).toBe(0x100n);
  });

  it("an unusable segment reads back not present; the accessed bit is forced on", () => {
    const g = createGuest();
    const s = g.vcpu.getSregs();
    g.vcpu.setSregs({ ...s, fs: { ...s.fs, unusable: 1 }, ds: { ...s.ds, type: 2 } });
    const back = g.vcpu.getSregs();
    expect(back.fs.present).toBe(0);
    expect(back.fs.unusable).toBe(1);
    expect(back.ds.type).toBe(3);
    expect(vmcsN(g, GUEST_DS_AR_BYTES)).toBe(0x93);
  });

  it("RFLAGS and the GPRs round-trip", () => {
    const g = createGuest();
    g.vcpu.setRegs({ ...emptyKvmRegs(), rax: 0x1122_3344_5566_7788n, r15: 7n, rflags: 0x202n });
    const r = g.vcpu.getRegs();
    expect(r.rax).toBe(0x1122_3344_5566_7788n);
    expect(r.r15).toBe(7n);
    expect(r.rflags).toBe(0x202n);
    expect(vmcs(g, GUEST_RFLAGS)).toBe(0x202n);
  });

  it("refuses a CR4 bit the guest's CPUID does not offer (OSXSAVE)", () => {
    const g = createGuest();
    const s = g.vcpu.getSregs();
    let err: unknown;
    try {
      g.vcpu.setSregs({ ...s, cr4: 1n << 18n });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KvmError);
    expect((err as KvmError).code).toBe("EINVAL");
  });
});

describe("MSRs (vmx_get_msr / vmx_set_msr)", () => {
  it("SYSENTER and FS base live in the VMCS, PAT too", () => {
    const g = createGuest();
    expect(
      g.vcpu.setMsrs([
        { index: 0x174, data: 0x10n },
        { index: 0x176, data: 0xffff_ffff_8000_0000n },
        { index: 0xc000_0100, data: 0x7000n },
        { index: 0x277, data: 0x0007_0406_0007_0406n },
      ]),
    ).toBe(4);
    expect(vmcs(g, GUEST_SYSENTER_CS)).toBe(0x10n);
    expect(vmcs(g, GUEST_SYSENTER_EIP)).toBe(0xffff_ffff_8000_0000n);
    expect(vmcs(g, GUEST_FS_BASE)).toBe(0x7000n);
    expect(vmcs(g, GUEST_IA32_PAT)).toBe(0x0007_0406_0007_0406n);
    expect(g.vcpu.getMsrs([0x174, 0xc000_0100]).map((e) => e.data)).toEqual([0x10n, 0x7000n]);
  });

  it("the user-return MSRs and KERNEL_GS_BASE round-trip; non-canonical LSTAR is refused", () => {
    const g = createGuest();
    const msrs = [
      { index: 0xc000_0081, data: 0x0023_0010_0000_0000n },
      { index: 0xc000_0082, data: 0xffff_ffff_8100_0000n },
      { index: 0xc000_0084, data: 0x4700n },
      { index: 0xc000_0102, data: 0x1234_5000n },
    ];
    expect(g.vcpu.setMsrs(msrs)).toBe(4);
    expect(g.vcpu.getMsrs(msrs.map((m) => m.index))).toEqual(msrs);
    expect(g.vcpu.setMsrs([{ index: 0xc000_0082, data: 0x8000_0000_0000_0000n }])).toBe(0);
  });
});

describe("event injection into the VM-entry fields", () => {
  it("an external interrupt: vector | type 0 | valid", () => {
    const g = createGuest();
    const vcpu = kernelVcpu(g);
    Object.assign(vcpu.arch.interrupt, { injected: true, soft: false, nr: 0x20 });
    vmxInjectIrq(vcpu, false);
    expect(vmcsN(g, VM_ENTRY_INTR_INFO_FIELD)).toBe(0x8000_0020);
    expect(vcpu.stat.irq_injections).toBe(1);
  });

  it("a hardware exception with its error code in protected mode, none in real mode", () => {
    const g = createGuest();
    const vcpu = kernelVcpu(g);
    Object.assign(vcpu.arch.exception, { vector: 13, hasErrorCode: true, errorCode: 0x1_0018 });
    vmxInjectException(vcpu);
    expect(vmcsN(g, VM_ENTRY_INTR_INFO_FIELD)).toBe(0x8000_030d);
    protectedMode(g);
    vmxInjectException(vcpu);
    expect(vmcsN(g, VM_ENTRY_INTR_INFO_FIELD)).toBe(0x8000_0b0d);
    // VMX delivers 16 bits of error code.
    expect(vmcsN(g, VM_ENTRY_EXCEPTION_ERROR_CODE)).toBe(0x18);
  });

  it("#BP is a software exception with the length of the instruction that raised it", () => {
    const g = createGuest();
    const vcpu = kernelVcpu(g);
    toVmx(vcpu).eventExitInstLen = 1;
    Object.assign(vcpu.arch.exception, { vector: 3, hasErrorCode: false });
    vmxInjectException(vcpu);
    expect(vmcsN(g, VM_ENTRY_INTR_INFO_FIELD)).toBe(0x8000_0603);
    expect(vmcsN(g, VM_ENTRY_INSTRUCTION_LEN)).toBe(1);
  });

  it("an NMI; cancel_injection puts a pending interrupt back in KVM's queue", () => {
    const g = createGuest();
    const vcpu = kernelVcpu(g);
    vmxInjectNmi(vcpu);
    expect(vmcsN(g, VM_ENTRY_INTR_INFO_FIELD)).toBe(0x8000_0202);
    Object.assign(vcpu.arch.interrupt, { injected: true, soft: false, nr: 0x31 });
    vmxInjectIrq(vcpu, false);
    vcpu.arch.interrupt.injected = false;
    vmxCancelInjection(vcpu);
    expect(vmcsN(g, VM_ENTRY_INTR_INFO_FIELD)).toBe(0);
    expect(vcpu.arch.interrupt).toMatchObject({ injected: true, nr: 0x31, soft: false });
  });
});

describe("windows, shadow and exception bitmap", () => {
  it("enable_irq_window / enable_nmi_window set their primary controls", () => {
    const g = createGuest();
    const vcpu = kernelVcpu(g);
    expect(vmcsN(g, CPU_BASED_VM_EXEC_CONTROL) & CPU_BASED_INTR_WINDOW_EXITING).toBe(0);
    vmxEnableIrqWindow(vcpu);
    expect(vmcsN(g, CPU_BASED_VM_EXEC_CONTROL) & CPU_BASED_INTR_WINDOW_EXITING).toBe(
      CPU_BASED_INTR_WINDOW_EXITING,
    );
    vmxEnableNmiWindow(vcpu);
    expect(vmcsN(g, CPU_BASED_VM_EXEC_CONTROL) & CPU_BASED_NMI_WINDOW_EXITING).toBe(
      CPU_BASED_NMI_WINDOW_EXITING,
    );
  });

  it("the interrupt shadow maps KVM_X86_SHADOW_INT_* onto interruptibility bits 0 and 1", () => {
    const g = createGuest();
    const ev = g.vcpu.getVcpuEvents();
    g.vcpu.setVcpuEvents({ ...ev, interrupt: { ...ev.interrupt, shadow: KVM_X86_SHADOW_INT_STI } });
    expect(vmcsN(g, GUEST_INTERRUPTIBILITY_INFO)).toBe(1);
    expect(g.vcpu.getVcpuEvents().interrupt.shadow).toBe(KVM_X86_SHADOW_INT_STI);
    g.vcpu.setVcpuEvents({
      ...ev,
      interrupt: { ...ev.interrupt, shadow: KVM_X86_SHADOW_INT_MOV_SS },
    });
    expect(vmcsN(g, GUEST_INTERRUPTIBILITY_INFO)).toBe(2);
  });

  it("interrupts are allowed with IF set and no shadow", () => {
    const g = createGuest();
    const vcpu = kernelVcpu(g);
    expect(vmxInterruptAllowed(vcpu, false)).toBe(0);
    g.vcpu.setRegs({ ...g.vcpu.getRegs(), rflags: 0x202n });
    expect(vmxInterruptAllowed(vcpu, false)).toBe(1);
  });

  it("#BP joins the exception bitmap while userspace sets software breakpoints", () => {
    const g = createGuest();
    const eb = () => vmcsN(g, EXCEPTION_BITMAP);
    // #DB, #UD, #AC, #MC.
    expect(eb()).toBe((1 << 1) | (1 << 6) | (1 << 17) | (1 << 18));
    g.vcpu.setGuestDebug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP);
    expect(eb() & (1 << 3)).toBe(1 << 3);
    g.vcpu.setGuestDebug(0);
    expect(eb() & (1 << 3)).toBe(0);
  });
});
