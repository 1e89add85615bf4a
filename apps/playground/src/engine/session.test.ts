import { readFileSync } from "node:fs";
import { type TransferListItem, Worker } from "node:worker_threads";
import type { VcpuThreadData } from "@glassvm/cli";
import { describe, expect, it } from "vitest";
import { guestInfo, type PlaygroundOptions } from "./options.js";
import { Session, type SessionHost } from "./session.js";

const BIN = new URL("../../../../guests/bin/", import.meta.url);

/**
 * thread=multi in Node: each vCPU thread in a worker_threads Worker that loads the
 * TypeScript entry through tsx (the @glassvm packages from source, as here).
 */
function startNodeVcpuThread(data: VcpuThreadData): { terminate(): void } {
  const entry = new URL("../../test/vcpu-worker-node.ts", import.meta.url).href;
  const w = new Worker(
    `import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(entry)}); })`,
    {
      eval: true,
      workerData: data,
      transferList: [data.link.mail as unknown as TransferListItem],
      execArgv: ["--conditions=@glassvm/source"],
    },
  );
  w.unref();
  return { terminate: () => void w.terminate() };
}

function session(o: Partial<PlaygroundOptions>, host: SessionHost = {}): Session {
  const opts: PlaygroundOptions = {
    guest: "hello-real",
    cpu: "qemu64",
    smp: 1,
    backend: "vmx",
    threads: "single",
    ...o,
  };
  return new Session(opts, readFileSync(new URL(guestInfo(opts).file, BIN)), host);
}

function runToEnd(s: Session): string {
  let out = "";
  for (let i = 0; i < 200 && s.status !== "shutdown" && s.status !== "error"; i++) {
    s.runFor(50);
    out += s.takeConsole();
  }
  return out;
}

describe("Session", () => {
  for (const backend of ["vmx", "svm"] as const) {
    for (const guest of ["hello-real", "hello-long"]) {
      it(`boots ${guest} on ${backend}`, () => {
        const s = session({ guest, backend });
        expect(s.message).not.toMatch(/error/i);
        expect(runToEnd(s)).toBe("Hello, world!\n");
        expect(s.status).toBe("shutdown");
        expect(s.exitStatus).toBe(1);
        expect(s.exitsTotal).toBeGreaterThan(10);
        expect(s.log.counts.get("KVM_RUN")).toBeGreaterThan(0);
        s.dispose();
      });
    }

    it(`steps one exit at a time on ${backend}`, () => {
      const s = session({ backend });
      for (let i = 1; i <= 5; i++) {
        s.stepExit();
        expect(s.exitsTotal).toBe(i);
        expect(s.status).toBe("paused");
        const reasonField = backend === "vmx" ? "VM_EXIT_REASON" : "exit_code";
        expect(s.changed.get(reasonField)?.by).toMatch(backend === "vmx" ? /cpu/ : /./);
      }
      expect(s.controlBlock()).not.toBeNull();
      expect(s.kvmRun()?.find((r) => r.name === "exit_reason")).toBeDefined();
      s.dispose();
    });

    it(`steps one instruction on ${backend}`, () => {
      const s = session({ backend });
      const rip0 = s.registers()!.regs.rip;
      s.stepInstruction();
      const after = s.registers()!;
      expect(s.status).toBe("paused");
      expect(after.regs.rip).not.toBe(rip0);
      s.dispose();
    });
  }

  it("stops a long KVM_RUN at the end of a slice (SIG_IPI from kvm_exit)", () => {
    const s = session({ guest: "cpu-bench" });
    const t0 = performance.now();
    s.runFor(30);
    const took = performance.now() - t0;
    expect(s.status).toBe("running");
    // The host timer exits every 1M guest instructions: the slice ends at the next one.
    expect(took).toBeLessThan(1000);
    expect(s.instructions()).toBeGreaterThan(0);
    expect(s.log.entries.at(-1)?.result).toMatch(/EINTR/);
    const segs = s.timeline.get(0)!;
    expect(segs.some((x) => x.kind === "guest")).toBe(true);
    expect(segs.every((x) => !Number.isNaN(x.end))).toBe(true);
    s.dispose();
  });

  it("takes keyboard input for COM1 only where the guest has a serial port", () => {
    const serial = session({ guest: "bios-hello" });
    expect(serial.sendInput("x")).toBe(true);
    serial.dispose();
    const debugcon = session({ guest: "hello-real" });
    expect(debugcon.sendInput("x")).toBe(false);
    debugcon.dispose();
  });

  it("logs start-up ioctls with decoded arguments and records the path", () => {
    const s = session({ backend: "svm" });
    const names = s.log.entries.map((e) => e.name);
    expect(names.slice(0, 2)).toEqual(["open", "KVM_GET_API_VERSION"]);
    const region = s.log.entries.find((e) => e.name === "KVM_SET_USER_MEMORY_REGION");
    expect(region?.fd).toBe("vm");
    expect(region?.args).toMatch(
      /^\{slot=0, flags=0x0, guest_phys_addr=0x0, memory_size=0x4000000/,
    );
    expect(s.log.entries.find((e) => e.name === "KVM_CREATE_VCPU")?.result).toMatch(/\(fd\)$/);
    const labels = JSON.stringify(s.startupTree);
    expect(labels).toContain("svmVcpuCreate");
    expect(labels).toContain("pcInit1");
    s.dispose();
  });

  it("explains a refused VM entry (TR holding an available TSS) on VT-x; AMD-V runs it", () => {
    const vmx = session({ faultTr: true });
    vmx.runFor(200);
    expect(vmx.status).toBe("error");
    const f = vmx.entryFailure();
    expect(f).toMatchObject({
      sdm: "27.3.1.2",
      rule: "guest-tr-type",
      field: "GUEST_TR_AR_BYTES",
      value: 0x89n,
    });
    expect(vmx.message).toMatch(/^KVM: entry failed, hardware error 0x80000021/m);
    expect(vmx.dmesg().join("\n")).toContain("VM-entry failure: 27.3.1.2 guest-tr-type");
    vmx.dispose();
    const svm = session({ faultTr: true, backend: "svm" });
    expect(runToEnd(svm)).toBe("Hello, world!\n");
    expect(svm.entryFailure()).toBeNull();
    svm.dispose();
  });

  it("runs each vCPU in a worker of its own with thread=multi (smp -smp 2)", () => {
    const started: VcpuThreadData[] = [];
    const s = session(
      { guest: "smp", smp: 2, threads: "multi" },
      {
        startVcpuThread: (data) => {
          started.push(data);
          return startNodeVcpuThread(data);
        },
      },
    );
    expect(s.message).not.toMatch(/error|thread=single/i);
    expect(s.argv.slice(0, 4)).toEqual(["-machine", "pc", "-accel", "kvm,thread=multi"]);
    expect(started.map((d) => d.arg.cpuIndex)).toEqual([0, 1]);
    expect(s.threaded).toBe(true);
    expect(s.vcpuWorkers).toBe(2);
    expect(s.vcpuCount).toBe(2);
    // Stopped before the first KVM_RUN (-S): the registers are the reset state.
    expect(s.status).toBe("paused");
    expect(s.registers(1)?.regs.rip).toBe(0xfff0n);
    const clones = s.log.entries.filter((e) => e.name === "clone");
    expect(clones.map((e) => e.result)).toEqual(started.map((d) => `${d.link.tid} (tid)`));
    // The main thread's calls on the vCPUs' fds (forwarded to their threads) are theirs.
    expect(s.log.entries.some((e) => e.name === "KVM_SET_REGS" && e.fd === "vcpu 1")).toBe(true);
    expect(JSON.stringify(s.startupTree)).toContain("clone() = tid");
    // A slice; between slices the threads run on, and their registers are not read then.
    s.runFor(40);
    const first = s.takeConsole();
    expect(s.status).toBe("running");
    expect(s.registers(0)).toBeNull();
    // Pause stops the threads (pause_all_vcpus): their state holds still.
    s.pause();
    expect(s.status).toBe("paused");
    const r = s.registers(0)!.regs;
    expect(s.registers(0)!.regs).toEqual(r);
    expect(first + runToEnd(s)).toBe("cpu 0 up\ncpu 1 up\nsmp: 2 cpus, counter 200000, ok\n");
    expect(s.status).toBe("shutdown");
    expect(s.exitStatus).toBe(1);
    // What the threads' kernels did is not seen here.
    expect(s.exitsTotal).toBe(0);
    expect(s.log.counts.get("KVM_RUN")).toBeUndefined();
    expect(s.controlBlock()).toBeNull();
    expect(s.entryFailure()).toBeNull();
    // Stepping needs this kernel's tracepoints: not with threads.
    s.stepExit();
    expect(s.exitsTotal).toBe(0);
    s.dispose();
  }, 60_000);
});
