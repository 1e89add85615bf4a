import { describe, expect, it } from "vitest";
import { tpPrintk, tracepointLine } from "./tracepoints.js";

describe("kernel tracepoint lines (arch/x86/kvm/trace.h TP_printk formats)", () => {
  it("kvm_entry", () => {
    expect(tpPrintk("kvm_entry", { vcpu_id: 1, rip: 0xfff0n })).toBe("vcpu 1, rip 0xfff0");
  });

  it("kvm_exit with VMX info fields, zero-padded", () => {
    const ev = {
      vcpu_id: 0,
      exit_reason: 30,
      exit_reason_name: "IO_INSTRUCTION",
      guest_rip: 0xf005n,
      isa: 1,
      info1: 0xe90000n,
      info2: 0n,
      intr_info: 0,
      error_code: 0,
    };
    expect(tracepointLine("kvm_exit", ev)).toBe(
      "CPU 0/KVM kvm_exit: vcpu 0 reason IO_INSTRUCTION rip 0xf005 info1 0x0000000000e90000 " +
        "info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000",
    );
    // A failed VM entry: the basic reason, then the flag bits by name.
    const fail = { ...ev, exit_reason: 0x8000_0021, exit_reason_name: "INVALID_STATE" };
    expect(tpPrintk("kvm_exit", fail)).toMatch(/^vcpu 0 reason INVALID_STATE FAILED_VMENTRY rip /);
  });

  it("kvm_pio: read/write, (...) for string I/O", () => {
    const pio = { vcpu_id: 0, rw: 1, port: 0xe9, size: 1, count: 1, val: 0x48 };
    expect(tpPrintk("kvm_pio", pio)).toBe("pio_write at 0xe9 size 1 count 1 val 0x48 ");
    expect(tpPrintk("kvm_pio", { ...pio, rw: 0, count: 4 })).toBe(
      "pio_read at 0xe9 size 1 count 4 val 0x48 (...)",
    );
  });

  it("kvm_mmio, kvm_userspace_exit", () => {
    expect(tpPrintk("kvm_mmio", { vcpu_id: 0, type: 2, len: 4, gpa: 0xfee00000n, val: 1n })).toBe(
      "mmio write len 4 gpa 0xfee00000 val 0x1",
    );
    expect(tpPrintk("kvm_mmio", { vcpu_id: 0, type: 0, len: 4, gpa: 0x10n, val: 0n })).toBe(
      "mmio unsatisfied-read len 4 gpa 0x10 val 0x0",
    );
    expect(tpPrintk("kvm_userspace_exit", { vcpu_id: 0, reason: 2, errno: 0 })).toBe(
      "reason KVM_EXIT_IO (2)",
    );
    expect(tpPrintk("kvm_userspace_exit", { vcpu_id: 0, reason: 0, errno: -4 })).toBe(
      "reason restart (4)",
    );
    expect(tpPrintk("kvm_userspace_exit", { vcpu_id: 0, reason: 0, errno: -22 })).toBe(
      "reason error (22)",
    );
  });

  it("kvm_cpuid, kvm_msr, kvm_cr", () => {
    expect(
      tpPrintk("kvm_cpuid", {
        vcpu_id: 0,
        function: 1,
        index: 0,
        rax: 0x206a7,
        rbx: 0x800,
        rcx: 0x80000001,
        rdx: 0x1f8bfbff,
        found: true,
        used_max_basic: false,
      }),
    ).toBe("func 1 idx 0 rax 206a7 rbx 800 rcx 80000001 rdx 1f8bfbff, cpuid entry found");
    expect(
      tpPrintk("kvm_cpuid", {
        vcpu_id: 0,
        function: 0x4fff_ffff,
        index: 0,
        rax: 0,
        rbx: 0,
        rcx: 0,
        rdx: 0,
        found: false,
        used_max_basic: true,
      }),
    ).toBe("func 4fffffff idx 0 rax 0 rbx 0 rcx 0 rdx 0, cpuid entry not found, used max basic");
    expect(
      tpPrintk("kvm_msr", {
        vcpu_id: 0,
        write: true,
        ecx: 0x8b,
        data: 1n << 32n,
        exception: false,
      }),
    ).toBe("msr_write 8b = 0x100000000");
    expect(
      tpPrintk("kvm_msr", { vcpu_id: 0, write: false, ecx: 0x1234, data: 0n, exception: true }),
    ).toBe("msr_read 1234 = 0x0 (#GP)");
    expect(tpPrintk("kvm_cr", { vcpu_id: 0, rw: 1, cr: 0, val: 0x60000011n })).toBe(
      "cr_write 0 = 0x60000011",
    );
  });

  it("the irqchip's tracepoints in the kernel's TP_printk text (kvm_apic_ipi)", () => {
    // The smp guest's INIT IPI: all-but-self shorthand, assert, edge.
    expect(tpPrintk("kvm_apic_ipi", { vcpu_id: 0, icr_low: 0x000c_4500, dest_id: 0 })).toBe(
      "dst 0 vec 0 (INIT|physical|assert|edge|all-but-self)",
    );
  });

  it("kvm_inj_virq, kvm_inj_exception, kvm_fpu, kvm_set_user_memory_region", () => {
    expect(
      tpPrintk("kvm_inj_virq", { vcpu_id: 0, vector: 0x20, soft: false, reinjected: false }),
    ).toBe("IRQ 0x20");
    expect(
      tpPrintk("kvm_inj_virq", { vcpu_id: 0, vector: 0x80, soft: true, reinjected: true }),
    ).toBe("Soft/INTn 0x80 [reinjected]");
    expect(
      tpPrintk("kvm_inj_exception", {
        vcpu_id: 0,
        exception: 13,
        has_error: true,
        error_code: 0,
        reinjected: false,
      }),
    ).toBe("#GP (0x0)");
    expect(
      tpPrintk("kvm_inj_exception", {
        vcpu_id: 0,
        exception: 6,
        has_error: false,
        error_code: 0,
        reinjected: true,
      }),
    ).toBe("#UD [reinjected]");
    expect(tpPrintk("kvm_fpu", { vcpu_id: 0, load: 1 })).toBe("load");
    expect(
      tracepointLine("kvm_set_user_memory_region", {
        slot: 0,
        flags: 0,
        guest_phys_addr: 0x10_0000n,
        memory_size: 0x100_0000n,
        userspace_addr: 0x7f00_0000_0000n,
      }),
    ).toBe(
      "glassvm kvm_set_user_memory_region: slot 0 flags 0 base gfn 0x100 npages 0x1000 userspace_addr 0x7f0000000000",
    );
  });
});
