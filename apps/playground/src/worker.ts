/**
 * The emulator's Web Worker: one Session (the host kernel, kvm_intel/kvm_amd and the QEMU
 * process, all in this thread) driven by the page's messages. Running is a series of
 * ~40 ms slices with a yield between them, so a "pause" message is seen promptly.
 *
 * With thread=multi each vCPU thread runs in a Web Worker of its own (vcpu-worker.ts),
 * created here before qemuInit: a nested worker may not start until its creator returns
 * to its event loop, and qemuInit blocks (Atomics.wait) until every vCPU thread is up. So
 * a boot first starts -smp workers and waits until each has loaded; QEMU's
 * qemu_thread_create then hands the next one its thread.
 */
import type { VcpuThreadData } from "@glassvm/cli";
import { Session, type SessionHost } from "./engine/session.js";
import type { FromWorker, ToWorker, VmView } from "./protocol.js";

interface WorkerScope {
  postMessage(msg: FromWorker): void;
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
  readonly crossOriginIsolated?: boolean;
}
const scope = self as unknown as WorkerScope;

/** How long a vCPU worker may take to load its modules. */
const VCPU_WORKER_LOAD_MS = 30_000;

/** A vCPU worker, loaded, and the port its thread's data goes through. */
interface VcpuWorker {
  readonly worker: Worker;
  readonly port: MessagePort;
}

/**
 * vCPU workers started ahead of qemuInit, each loaded ("ready") and waiting for a thread.
 * The thread's data goes through a MessageChannel handed over beforehand, not the worker's
 * own postMessage: Chromium delivers a Worker object's messages through its creator's
 * event loop, which is blocked in qemuInit then; a MessagePort's go straight through.
 */
class VcpuWorkerPool {
  private constructor(private readonly idle: VcpuWorker[]) {}

  /** Start `n` vCPU workers and wait until every one has loaded. */
  static async start(n: number): Promise<VcpuWorkerPool> {
    const workers: VcpuWorker[] = [];
    try {
      await Promise.all(
        Array.from({ length: n }, (_, i) => {
          const w = new Worker(new URL("./vcpu-worker.ts", import.meta.url), {
            type: "module",
            name: `vCPU worker ${i}`,
          });
          const channel = new MessageChannel();
          w.postMessage(channel.port2, [channel.port2]);
          workers.push({ worker: w, port: channel.port1 });
          vcpuWorkersCreated++;
          return new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`vCPU worker ${i} did not load`)),
              VCPU_WORKER_LOAD_MS,
            );
            w.onmessage = (ev) => {
              if (ev.data !== "ready") return;
              clearTimeout(timer);
              w.onmessage = null;
              resolve();
            };
            w.onerror = (e) => {
              clearTimeout(timer);
              reject(new Error(e.message || `vCPU worker ${i} failed to load`));
            };
          });
        }),
      );
    } catch (err) {
      for (const w of workers) w.worker.terminate();
      throw err;
    }
    return new VcpuWorkerPool(workers);
  }

  /** qemu_thread_create's worker: the next idle one gets the thread (its mail port moves). */
  readonly startVcpuThread = (data: VcpuThreadData): { terminate(): void } => {
    const w = this.idle.shift();
    if (!w) throw new Error("no vCPU worker left (more vCPU threads than -smp)");
    w.port.postMessage(data, [data.link.mail as unknown as Transferable]);
    return { terminate: () => w.worker.terminate() };
  };

  /** Workers no thread was given to. */
  dispose(): void {
    for (const w of this.idle.splice(0)) w.worker.terminate();
  }
}

/** vCPU workers created by this worker (for the page's tests). */
let vcpuWorkersCreated = 0;

const SLICE_MS = 40;
let session: Session | null = null;
let bootId = 0;
let selected = 0;
let slices = 0;
let running = false;
/** A slice is scheduled (through a MessageChannel: setTimeout(0) would be clamped to 4 ms). */
let scheduled = false;
const tick = new MessageChannel();
tick.port1.onmessage = () => loop();
const schedule = (): void => {
  if (scheduled) return;
  scheduled = true;
  tick.port2.postMessage(null);
};

function view(detail: boolean): VmView {
  const s = session!;
  const insn = s.instructions();
  return {
    status: s.status,
    exitStatus: s.exitStatus,
    backend: s.options.backend,
    message: s.message,
    console: s.takeConsole(),
    exitsTotal: s.exitsTotal,
    exits: [...s.exits.values()].map((r) => ({ ...r })),
    lastExit: s.lastExit,
    syscalls: s.log.entries.slice(-300),
    syscallsTotal: s.log.total,
    regs: detail ? s.registers(selected) : null,
    kvmRun: detail ? s.kvmRun(selected) : null,
    control: detail ? s.controlBlock(selected) : null,
    entryFailure: s.entryFailure(selected),
    changed: s.changed,
    instructions: insn,
    runMs: s.runMs,
    mips: s.runMs > 20 && !s.threaded ? insn / s.runMs / 1000 : null,
    vcpus: s.vcpuCount,
    threaded: s.threaded,
    vcpuWorkers: s.vcpuWorkers,
    vcpuWorkersCreated,
    vcpu: selected,
    timeline: Array.from({ length: s.vcpuCount }, (_, i) => (s.timeline.get(i) ?? []).slice(-150)),
    dmesg: s.dmesg().slice(-60),
    hasSerial:
      s.options.guest === "file"
        ? s.options.fileConsole === "serial"
        : !s.argv.includes("-debugcon"),
  };
}

function post(detail = true): void {
  if (session) scope.postMessage({ type: "view", bootId, view: view(detail) });
}

function loop(): void {
  scheduled = false;
  if (!session || !running) return;
  session.runFor(SLICE_MS);
  const done = session.status === "shutdown" || session.status === "error";
  if (done) running = false;
  // While running, the heavy parts (registers, VMCS) are read every ~0.5 s.
  slices++;
  post(done || !running || slices % 12 === 0);
  if (running) schedule();
}

function start(): void {
  if (!session || running) return;
  running = true;
  schedule();
}

function stop(): void {
  running = false;
  session?.pause();
}

/** A boot: the old VM goes; with thread=multi the vCPU workers load first (async). */
async function boot(m: Extract<ToWorker, { type: "boot" }>): Promise<void> {
  stop();
  session?.dispose();
  session = null;
  bootId = m.id;
  selected = 0;
  let pool: VcpuWorkerPool | null = null;
  // Threads need SharedArrayBuffer; without it QEMU says so and runs thread=single.
  if (m.options.threads === "multi" && scope.crossOriginIsolated === true) {
    pool = await VcpuWorkerPool.start(m.options.smp);
    // A newer boot came meanwhile: it owns the worker now.
    if (bootId !== m.id) {
      pool.dispose();
      return;
    }
  }
  const host: SessionHost = pool ? { startVcpuThread: pool.startVcpuThread } : {};
  try {
    session = new Session(m.options, m.image, host);
  } finally {
    pool?.dispose();
  }
  scope.postMessage({
    type: "booted",
    bootId,
    startupTree: session.startupTree,
    argv: session.argv,
  });
  post();
  if (m.run) start();
}

const fatal = (err: unknown): void =>
  scope.postMessage({
    type: "fatal",
    message: err instanceof Error ? (err.stack ?? err.message) : String(err),
  });

scope.onmessage = (ev) => {
  const m = ev.data;
  try {
    switch (m.type) {
      case "boot":
        boot(m).catch(fatal);
        break;
      case "run":
        start();
        break;
      case "pause":
        stop();
        post();
        break;
      case "step-exit":
        stop();
        session?.stepExit();
        post();
        break;
      case "step-insn":
        stop();
        session?.stepInstruction();
        post();
        break;
      case "input":
        session?.sendInput(m.text);
        break;
      case "select-vcpu":
        selected = m.index;
        post();
        break;
      case "trace":
        if (session)
          scope.postMessage({ type: "trace", json: JSON.stringify(session.traceJson()) });
        break;
    }
  } catch (err) {
    fatal(err);
  }
};
