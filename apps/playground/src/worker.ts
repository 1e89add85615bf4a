/**
 * The emulator's Web Worker: one Session (the host kernel, kvm_intel/kvm_amd and the QEMU
 * process, all in this thread) driven by the page's messages. Running is a series of
 * ~40 ms slices with a yield between them, so a "pause" message is seen promptly.
 */
import { Session } from "./engine/session.js";
import type { FromWorker, ToWorker, VmView } from "./protocol.js";

interface WorkerScope {
  postMessage(msg: FromWorker): void;
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
}
const scope = self as unknown as WorkerScope;

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
    mips: s.runMs > 20 ? insn / s.runMs / 1000 : null,
    vcpus: s.vcpuCount,
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

scope.onmessage = (ev) => {
  const m = ev.data;
  try {
    switch (m.type) {
      case "boot": {
        stop();
        session?.dispose();
        bootId = m.id;
        selected = 0;
        session = new Session(m.options, m.image);
        scope.postMessage({
          type: "booted",
          bootId,
          startupTree: session.startupTree,
          argv: session.argv,
        });
        post();
        if (m.run) start();
        break;
      }
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
    scope.postMessage({ type: "fatal", message: (err as Error).stack ?? String(err) });
  }
};
