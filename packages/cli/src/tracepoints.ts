/**
 * The kernel's KVM tracepoints as text, the way `/sys/kernel/tracing/trace` or
 * `perf script` prints them: each event's TP_printk format from arch/x86/kvm/trace.h and
 * include/trace/events/kvm.h (field names and layouts as in those headers, the
 * formats looked up in the kernel's source and rewritten here). The line starts with the
 * task that hit the tracepoint — the vCPU thread `CPU n/KVM` for vCPU events, as ftrace
 * shows the comm — so the vCPU is visible even for events whose own text has no index.
 */
import { irqchipTpPrintk, type TracepointEvents, type TracepointName } from "@glassvm/kvm-kernel";
import { EINTR, kvmExitReasonName } from "@glassvm/kvm-kernel/uapi";

const hex = (v: number | bigint): string =>
  typeof v === "bigint" ? v.toString(16) : (v >>> 0).toString(16);
const hex0 = (v: number | bigint, width: number): string => hex(v).padStart(width, "0");

/** VMX exit-reason flag bits printed after the basic reason's name (kvm_print_exit_reason). */
const VMX_EXIT_REASON_FLAGS: readonly (readonly [number, string])[] = [
  [0x8000_0000, "FAILED_VMENTRY"],
  [0x2000_0000, "INCOMPLETE_EXIT"],
  [0x1000_0000, "PARSE_ERROR"],
  [0x800_0000, "BUS_LOCK_DETECTED"],
];
const KVM_ISA_VMX = 1;

/** x86 exception vectors by mnemonic (kvm_inj_exception's symbolic vector). */
const EXCEPTION_NAMES: readonly string[] = [
  "#DE",
  "#DB",
  "NMI",
  "#BP",
  "#OF",
  "#BR",
  "#UD",
  "#NM",
  "#DF",
  "#CSO",
  "#TS",
  "#NP",
  "#SS",
  "#GP",
  "#PF",
  "#SPV",
  "#MF",
  "#AC",
  "#MC",
  "#XM",
  "#VE",
];

/** kvm_userspace_exit's reason: `restart`/`error` for a failed KVM_RUN, else KVM_EXIT_*. */
export function userspaceReason(reason: number, errno: number): string {
  if (errno < 0) return errno === -EINTR ? "restart" : "error";
  return kvmExitReasonName(reason);
}

const MMIO_TYPES = ["unsatisfied-read", "read", "write"] as const;

/** One event's TP_printk text (without the `name: ` header). */
export function tpPrintk<N extends TracepointName>(name: N, ev: TracepointEvents[N]): string {
  const e = ev as TracepointEvents[TracepointName];
  switch (name) {
    case "kvm_entry": {
      const x = e as TracepointEvents["kvm_entry"];
      return `vcpu ${x.vcpu_id}, rip 0x${hex(x.rip)}`;
    }
    case "kvm_exit": {
      const x = e as TracepointEvents["kvm_exit"];
      let flags = "";
      if (x.isa === KVM_ISA_VMX) {
        const names = VMX_EXIT_REASON_FLAGS.filter(([bit]) => (x.exit_reason & bit) !== 0).map(
          ([, n]) => n,
        );
        if (names.length > 0) flags = ` ${names.join("|")}`;
      }
      return (
        `vcpu ${x.vcpu_id} reason ${x.exit_reason_name}${flags} rip 0x${hex(x.guest_rip)} ` +
        `info1 0x${hex0(x.info1, 16)} info2 0x${hex0(x.info2, 16)} ` +
        `intr_info 0x${hex0(x.intr_info, 8)} error_code 0x${hex0(x.error_code, 8)}`
      );
    }
    case "kvm_pio": {
      const x = e as TracepointEvents["kvm_pio"];
      return (
        `pio_${x.rw ? "write" : "read"} at 0x${hex(x.port)} size ${x.size} count ${x.count} ` +
        `val 0x${hex(x.val)} ${x.count > 1 ? "(...)" : ""}`
      );
    }
    case "kvm_mmio": {
      const x = e as TracepointEvents["kvm_mmio"];
      return `mmio ${MMIO_TYPES[x.type] ?? x.type} len ${x.len} gpa 0x${hex(x.gpa)} val 0x${hex(x.val)}`;
    }
    case "kvm_userspace_exit": {
      const x = e as TracepointEvents["kvm_userspace_exit"];
      return `reason ${userspaceReason(x.reason, x.errno)} (${x.errno < 0 ? -x.errno : x.reason})`;
    }
    case "kvm_cpuid": {
      const x = e as TracepointEvents["kvm_cpuid"];
      return (
        `func ${hex(x.function)} idx ${hex(x.index)} rax ${hex(x.rax)} rbx ${hex(x.rbx)} ` +
        `rcx ${hex(x.rcx)} rdx ${hex(x.rdx)}, cpuid entry ${x.found ? "found" : "not found"}` +
        `${x.used_max_basic ? ", used max basic" : ""}`
      );
    }
    case "kvm_msr": {
      const x = e as TracepointEvents["kvm_msr"];
      return `msr_${x.write ? "write" : "read"} ${hex(x.ecx)} = 0x${hex(x.data)}${x.exception ? " (#GP)" : ""}`;
    }
    case "kvm_cr": {
      const x = e as TracepointEvents["kvm_cr"];
      return `cr_${x.rw ? "write" : "read"} ${hex(x.cr)} = 0x${hex(x.val)}`;
    }
    case "kvm_inj_virq": {
      const x = e as TracepointEvents["kvm_inj_virq"];
      return `${x.soft ? "Soft/INTn" : "IRQ"} 0x${hex(x.vector)}${x.reinjected ? " [reinjected]" : ""}`;
    }
    case "kvm_inj_exception": {
      const x = e as TracepointEvents["kvm_inj_exception"];
      const vec = EXCEPTION_NAMES[x.exception] ?? `0x${hex(x.exception)}`;
      return `${vec}${x.has_error ? ` (0x${hex(x.error_code)})` : ""}${x.reinjected ? " [reinjected]" : ""}`;
    }
    case "kvm_fpu": {
      const x = e as TracepointEvents["kvm_fpu"];
      return x.load ? "load" : "unload";
    }
    case "kvm_set_user_memory_region": {
      const x = e as TracepointEvents["kvm_set_user_memory_region"];
      return (
        `slot ${x.slot} flags ${x.flags} base gfn 0x${hex(x.guest_phys_addr >> 12n)} ` +
        `npages 0x${hex(x.memory_size >> 12n)} userspace_addr 0x${hex(x.userspace_addr)}`
      );
    }
    case "kvm_apic":
    case "kvm_apic_ipi":
    case "kvm_apic_accept_irq":
    case "kvm_eoi":
    case "kvm_pic_set_irq":
    case "kvm_ioapic_set_irq":
    case "kvm_set_irq":
      return irqchipTpPrintk(name, e as never);
    default: {
      const never: never = name as never;
      return String(never);
    }
  }
}

/** The vCPU an event belongs to (its vcpu_id), or null for VM-wide events. */
export function tracepointVcpu(ev: object): number | null {
  const id = (ev as { vcpu_id?: unknown }).vcpu_id;
  return typeof id === "number" ? id : null;
}

/**
 * The whole line: `CPU 0/KVM kvm_exit: vcpu 0 reason HLT rip 0xf00a …` — the task name
 * (`CPU n/KVM` for a vCPU, n its QEMU cpu index from `cpuIndex(vcpu_id)`; else `comm`),
 * the event name and its text.
 */
export function tracepointLine<N extends TracepointName>(
  name: N,
  ev: TracepointEvents[N],
  comm = "glassvm",
  cpuIndex: (vcpuId: number) => number = (id) => id,
): string {
  const vcpu = tracepointVcpu(ev);
  const task = vcpu === null ? comm : `CPU ${cpuIndex(vcpu)}/KVM`;
  return `${task} ${name}: ${tpPrintk(name, ev)}`;
}
