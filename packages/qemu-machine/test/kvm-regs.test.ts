import { HostKernel, kvmModule } from "@glassvm/kvm-kernel";
import {
  decodeKvmDebugregs,
  decodeKvmFpu,
  decodeKvmMpState,
  decodeKvmMsrs,
  decodeKvmVcpuEvents,
  EBADF,
  type HostOs,
  type IoctlArg,
  KVM_CREATE_VCPU,
  KVM_CREATE_VM,
  KVM_GET_SREGS,
  KVM_SET_DEBUGREGS,
  KVM_SET_FPU,
  KVM_SET_MP_STATE,
  KVM_SET_MSRS,
  KVM_SET_REGS,
  KVM_SET_SREGS,
  KVM_SET_VCPU_EVENTS,
  KVM_VCPUEVENT_VALID_NMI_PENDING,
  KVM_VCPUEVENT_VALID_SMM,
  kvmMsrsNmsrs,
} from "@glassvm/kvm-kernel/uapi";
import {
  globalProps,
  MODULE_INIT_QOM,
  moduleCallInit,
  objectNew,
  objectPropertySetUint,
  objectUnref,
  QomError,
  setWarnReporter,
} from "@glassvm/qom";
import { kvmIntelModule } from "@glassvm/vmx";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  cpuReset,
  FPUC_RESET,
  MXCSR_RESET,
  PAT_RESET,
  parseCpuOption,
  type X86CPU,
  x86CpuExpandFeatures,
  x86CpuParseFeaturestrReset,
  x86CpuSetAccel,
} from "../src/target/i386/cpu.js";
import { kvmI386ResetCaches } from "../src/target/i386/kvm/kvm.js";
import {
  KVM_PUT_RESET_STATE,
  KVM_PUT_RUNTIME_STATE,
  type KvmRegsCaps,
  kvmArchGetRegisters,
  kvmArchPutRegisters,
  kvmPutMsrsList,
  MSR_CSTAR,
  MSR_FMASK,
  MSR_IA32_MISC_ENABLE,
  MSR_IA32_SMBASE,
  MSR_IA32_SYSENTER_CS,
  MSR_IA32_SYSENTER_EIP,
  MSR_IA32_SYSENTER_ESP,
  MSR_IA32_TSC,
  MSR_KERNELGSBASE,
  MSR_LSTAR,
  MSR_MC0_CTL,
  MSR_MTRRdefType,
  MSR_PAT,
  MSR_STAR,
  MSR_TSC_ADJUST,
  MSR_TSC_AUX,
} from "../src/target/i386/kvm/kvm-regs.js";
import { setErrorSink } from "../src/util/error-report.js";

/** The glassvm kernel: KVM_GET_MSR_INDEX_LIST has these, and no KVM_CAP_MCE. */
const CAPS: KvmRegsCaps = {
  hasMsrStar: true,
  hasMsrTscAux: true,
  hasMsrTscAdjust: true,
  hasMsrMiscEnable: true,
  hasMsrSmbase: true,
  lmCapableKernel: true,
  hasMce: false,
  hasExceptionPayload: false,
  hasTripleFaultEvent: false,
};

beforeAll(() => {
  moduleCallInit(MODULE_INIT_QOM);
  setWarnReporter(() => {});
});

beforeEach(() => {
  kvmI386ResetCaches();
  x86CpuSetAccel(null);
  x86CpuParseFeaturestrReset();
  globalProps().length = 0;
});

/** A CPU of `model` after x86_cpu_reset_hold (no accelerator hooks). */
function resetCpu(model = "qemu64"): X86CPU {
  const r = parseCpuOption(model);
  if (!r.ok) throw r.error;
  const cpu = objectNew<X86CPU>(r.cpuType);
  objectPropertySetUint(cpu, "apic-id", 0);
  x86CpuExpandFeatures(cpu);
  cpu.physBits = 40;
  cpuReset(cpu);
  return cpu;
}

/** A vCPU fd whose ioctls are recorded (buffers copied); SET_MSRS accepts `accept` entries. */
function recordingOs(accept = Number.POSITIVE_INFINITY) {
  const calls: { request: number; buf: Uint8Array | null }[] = [];
  const os = {
    ioctl(_fd: number, request: number, arg: IoctlArg = 0): number {
      const buf = arg instanceof Uint8Array ? arg.slice() : null;
      calls.push({ request, buf });
      if (request === KVM_SET_MSRS && buf) return Math.min(kvmMsrsNmsrs(buf), accept);
      return 0;
    },
  } as unknown as HostOs;
  const sent = (request: number) => calls.find((c) => c.request === request)?.buf ?? null;
  return { os, calls, sent };
}

describe("kvm_arch_put_registers", () => {
  it("puts in QEMU's order; MP state only from KVM_PUT_RESET_STATE up", () => {
    const cpu = resetCpu();
    const reset = recordingOs();
    expect(kvmArchPutRegisters(reset.os, 5, cpu, KVM_PUT_RESET_STATE, { caps: CAPS })).toBe(0);
    expect(reset.calls.map((c) => c.request)).toEqual([
      KVM_GET_SREGS, // apic_base kept as KVM has it
      KVM_SET_SREGS,
      KVM_SET_REGS,
      KVM_SET_FPU,
      KVM_SET_MSRS,
      KVM_SET_VCPU_EVENTS,
      KVM_SET_MP_STATE,
      KVM_SET_DEBUGREGS,
    ]);
    const runtime = recordingOs();
    expect(kvmArchPutRegisters(runtime.os, 5, cpu, KVM_PUT_RUNTIME_STATE, { caps: CAPS })).toBe(0);
    expect(runtime.calls.map((c) => c.request)).not.toContain(KVM_SET_MP_STATE);
    objectUnref(cpu);
  });

  it("KVM_SET_FPU carries the reset FPU: FCW 37F, all tags empty, MXCSR 1F80", () => {
    const cpu = resetCpu();
    cpu.env.fpstt = 5;
    cpu.env.fpus = 0x3800 | 0x41; // a stale TOP in fpus is replaced by fpstt
    const { os, sent } = recordingOs();
    kvmArchPutRegisters(os, 5, cpu, KVM_PUT_RESET_STATE, { caps: CAPS });
    const fpu = decodeKvmFpu(sent(KVM_SET_FPU)!);
    expect(fpu.fcw).toBe(FPUC_RESET);
    expect(fpu.fsw).toBe((5 << 11) | 0x41);
    expect(fpu.ftwx).toBe(0);
    expect(fpu.mxcsr).toBe(MXCSR_RESET);
    expect(fpu.fpr.every((b) => b === 0) && fpu.xmm.every((b) => b === 0)).toBe(true);
    objectUnref(cpu);
  });

  it("KVM_SET_MSRS: QEMU's list; TSC and MTRRs only at reset level; no MCE without KVM_CAP_MCE", () => {
    const cpu = resetCpu();
    const runtime = kvmPutMsrsList(cpu, KVM_PUT_RUNTIME_STATE, CAPS);
    expect(runtime).toEqual([
      { index: MSR_IA32_SYSENTER_CS, data: 0n },
      { index: MSR_IA32_SYSENTER_ESP, data: 0n },
      { index: MSR_IA32_SYSENTER_EIP, data: 0n },
      { index: MSR_PAT, data: PAT_RESET },
      { index: MSR_STAR, data: 0n },
      { index: MSR_TSC_AUX, data: 0n },
      { index: MSR_TSC_ADJUST, data: 0n },
      { index: MSR_IA32_MISC_ENABLE, data: 1n },
      { index: MSR_IA32_SMBASE, data: 0x3_0000n },
      { index: MSR_CSTAR, data: 0n },
      { index: MSR_KERNELGSBASE, data: 0n },
      { index: MSR_FMASK, data: 0n },
      { index: MSR_LSTAR, data: 0n },
    ]);
    const reset = kvmPutMsrsList(cpu, KVM_PUT_RESET_STATE, CAPS).map((e) => e.index);
    // qemu64 has MTRR: deftype, 11 fixed, 8 variable pairs after the TSC.
    expect(reset.slice(runtime.length)).toEqual([
      MSR_IA32_TSC,
      MSR_MTRRdefType,
      0x250,
      0x258,
      0x259,
      ...[0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f],
      ...Array.from({ length: 16 }, (_, i) => 0x200 + i),
    ]);
    cpu.env.mcgCap = (1n << 8n) | 10n; // as mce_init sets it at realize: MCG_CTL_P, 10 banks
    expect(kvmPutMsrsList(cpu, KVM_PUT_RUNTIME_STATE, CAPS)).toEqual(runtime);
    const withMce = kvmPutMsrsList(cpu, KVM_PUT_RUNTIME_STATE, { ...CAPS, hasMce: true });
    expect(withMce.map((e) => e.index)).toContain(MSR_MC0_CTL);
    // Without the has_msr_* flags only the unconditional four (and the x86_64 ones).
    const bare = { ...CAPS, hasMsrStar: false, hasMsrTscAux: false, hasMsrTscAdjust: false };
    const list = kvmPutMsrsList(cpu, KVM_PUT_RUNTIME_STATE, {
      ...bare,
      hasMsrMiscEnable: false,
      hasMsrSmbase: false,
      lmCapableKernel: false,
    });
    expect(list.map((e) => e.index)).toEqual([0x174, 0x175, 0x176, 0x277]);
    objectUnref(cpu);
  });

  it("a short KVM_SET_MSRS count is QEMU's error line and assertion", () => {
    const cpu = resetCpu();
    const { os } = recordingOs(4);
    const lines: string[] = [];
    const old = setErrorSink((t) => lines.push(t));
    try {
      expect(() => kvmArchPutRegisters(os, 5, cpu, KVM_PUT_RESET_STATE, { caps: CAPS })).toThrow(
        QomError,
      );
    } finally {
      setErrorSink(old);
    }
    expect(lines.join("")).toContain("error: failed to set MSR 0xc0000081 to 0x0");
    objectUnref(cpu);
  });

  it("KVM_SET_VCPU_EVENTS: no event (nr 255), SMM valid with SMBASE, NMI pending at reset level", () => {
    const cpu = resetCpu();
    const reset = recordingOs();
    kvmArchPutRegisters(reset.os, 5, cpu, KVM_PUT_RESET_STATE, { caps: CAPS });
    const ev = decodeKvmVcpuEvents(reset.sent(KVM_SET_VCPU_EVENTS)!);
    expect(ev.flags).toBe(KVM_VCPUEVENT_VALID_SMM | KVM_VCPUEVENT_VALID_NMI_PENDING);
    expect(ev.exception).toMatchObject({ injected: 0, nr: 255 });
    expect(ev.interrupt).toMatchObject({ injected: 0, nr: 255 });
    expect(decodeKvmMpState(reset.sent(KVM_SET_MP_STATE)!)).toBe(cpu.env.mpState);
    const dbg = decodeKvmDebugregs(reset.sent(KVM_SET_DEBUGREGS)!);
    expect([dbg.dr6, dbg.dr7, dbg.flags]).toEqual([0xffff_0ff0n, 0x400n, 0n]);
    const runtime = recordingOs();
    kvmArchPutRegisters(runtime.os, 5, cpu, KVM_PUT_RUNTIME_STATE, { caps: CAPS });
    expect(decodeKvmVcpuEvents(runtime.sent(KVM_SET_VCPU_EVENTS)!).flags).toBe(
      KVM_VCPUEVENT_VALID_SMM,
    );
    expect(decodeKvmMsrs(runtime.sent(KVM_SET_MSRS)!).map((e) => e.index)).not.toContain(
      MSR_IA32_TSC,
    );
    objectUnref(cpu);
  });
});

describe("put, then kvm_arch_get_registers, on the kernel model (kvm_intel)", () => {
  it("reads back what was put, and the model accepts every MSR of the list", () => {
    const kernel = new HostKernel();
    kernel.loadModule(kvmModule(kvmIntelModule(kernel)));
    const os = kernel.spawn("qemu-system-x86_64");
    const kvmFd = os.open("/dev/kvm");
    const vmFd = os.ioctl(kvmFd, KVM_CREATE_VM, 0);
    const vcpuFd = os.ioctl(vmFd, KVM_CREATE_VCPU, 0);
    expect(vcpuFd).toBeGreaterThanOrEqual(0);

    const cpu = resetCpu();
    const env = cpu.env;
    env.sysenterCs = 0x10n;
    env.sysenterEip = 0xffff_ffff_8100_0000n;
    env.star = 0x0023_0010_0000_0000n;
    env.lstar = 0xffff_ffff_8100_1000n;
    env.fmask = 0x4_7700n;
    env.kernelgsbase = 0xffff_8880_0000_0000n;
    env.mtrrDeftype = 0xc06n;
    env.fpuc = 0x27f;
    env.mxcsr = 0x9f80;
    env.fptags[7] = 0;
    env.fpregs[7 * 16 + 9] = 0x3f;
    env.xmmRegs[15 * 16] = 0xaa;
    env.dr[0] = 0x1000n;
    env.dr[7] = 0x401n;
    // Everything through the kernel's own has_msr_* answers (KVM_GET_MSR_INDEX_LIST).
    expect(kvmArchPutRegisters(os, vcpuFd, cpu, KVM_PUT_RESET_STATE, { kvmFd })).toBe(0);

    const back = resetCpu();
    expect(kvmArchGetRegisters(os, vcpuFd, back, { kvmFd })).toBe(0);
    const b = back.env;
    expect([b.sysenterCs, b.sysenterEip, b.star, b.lstar, b.fmask, b.kernelgsbase]).toEqual([
      env.sysenterCs,
      env.sysenterEip,
      env.star,
      env.lstar,
      env.fmask,
      env.kernelgsbase,
    ]);
    expect([b.pat, b.mtrrDeftype, b.msrIa32MiscEnable, b.smbase]).toEqual([
      PAT_RESET,
      0xc06n,
      1n,
      0x3_0000,
    ]);
    expect([b.fpuc, b.mxcsr, b.fptags]).toEqual([0x27f, 0x9f80, [1, 1, 1, 1, 1, 1, 1, 0]]);
    expect(b.fpregs[7 * 16 + 9]).toBe(0x3f);
    expect(b.xmmRegs[15 * 16]).toBe(0xaa);
    expect([b.dr[0], b.dr[6], b.dr[7]]).toEqual([0x1000n, 0xffff_0ff0n, 0x401n]);
    expect([b.exceptionNr, b.interruptInjected, b.mpState]).toEqual([-1, -1, 0]);
    // A bad vCPU fd: the first ioctl's errno comes back.
    expect(kvmArchPutRegisters(os, 999, cpu, KVM_PUT_RESET_STATE, { kvmFd })).toBe(-EBADF);
    expect(kvmArchGetRegisters(os, 999, back, { kvmFd })).toBe(-EBADF);
    objectUnref(cpu);
    objectUnref(back);
  });
});
