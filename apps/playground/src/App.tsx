/**
 * The playground page: run controls and the equivalent command line on top, then the
 * console, the exits (perf kvm stat), the VMCS/VMCB, the vCPU, the start-up path and the
 * ioctl log. The emulator runs in a Web Worker (worker.ts) — with thread=multi, each vCPU
 * in a Web Worker of its own besides (vcpu-worker.ts); this thread only draws.
 */
import type { PathNode } from "@glassvm/cli";
import { useCallback, useEffect, useRef, useState } from "react";
import { Console } from "./components/Console.js";
import { ControlBlockView } from "./components/ControlBlockView.js";
import { ExitsPanel } from "./components/ExitsPanel.js";
import { IoctlLog } from "./components/IoctlLog.js";
import { PathTree } from "./components/PathTree.js";
import { Timeline } from "./components/Timeline.js";
import { VcpuPanel } from "./components/VcpuPanel.js";
import {
  type Backend,
  CPU_MODELS,
  commandLine,
  GUESTS,
  guestInfo,
  optionsFromQuery,
  optionsToQuery,
  type PlaygroundOptions,
  supportedOptions,
  type Threads,
} from "./engine/options.js";
import type { FromWorker, ToWorker, VmView } from "./protocol.js";

/** The bytes of a guest of the suite (served from guests/bin, see vite.config.ts). */
async function fetchGuest(file: string): Promise<Uint8Array> {
  const res = await fetch(new URL(`guests/${file}`, document.baseURI));
  if (!res.ok) throw new Error(`${file}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

const isolated = typeof crossOriginIsolated === "boolean" && crossOriginIsolated;

/** Why thread=multi cannot run here. */
const MULTI_NEEDS_ISOLATION =
  "thread=multi needs SharedArrayBuffer (a cross-origin isolated page: COOP/COEP); the vCPUs run with thread=single";

/** Why the panels of this worker's kernel state are empty with thread=multi. */
const THREADED_NOTE =
  "thread=multi: each vCPU runs KVM_RUN in a Web Worker of its own, on that worker's copy of the host kernel, so the emulator worker's kernel sees no VM exits, tracepoints or VMCS/VMCB of theirs.";

const STEP_THREADED =
  "Not with thread=multi: stepping stops a vCPU from this worker's kernel tracepoints, and the vCPUs run KVM_RUN in workers of their own";

/** The URL's options, as far as this page can run them (and whether threads were refused). */
const initial = (() => {
  const asked = optionsFromQuery(location.search);
  const options = supportedOptions(asked, isolated);
  return { options, threadsRefused: options !== asked };
})();

export function App() {
  const [options, setOptions] = useState<PlaygroundOptions>(initial.options);
  const [file, setFile] = useState<{ name: string; bytes: Uint8Array } | null>(null);
  const [view, setView] = useState<VmView | null>(null);
  const [detail, setDetail] = useState<Pick<VmView, "regs" | "kvmRun" | "control"> | null>(null);
  const [consoleText, setConsoleText] = useState("");
  const [generation, setGeneration] = useState(0);
  const [tree, setTree] = useState<readonly PathNode[]>([]);
  const [fatal, setFatal] = useState<string | null>(null);
  const [copied, setCopied] = useState(false);
  const worker = useRef<Worker | null>(null);
  /** The current boot: views of an earlier VM that are still in flight are dropped. */
  const bootId = useRef(0);
  const [boots, setBoots] = useState(0);

  const send = useCallback((m: ToWorker) => worker.current?.postMessage(m), []);

  useEffect(() => {
    const w = new Worker(new URL("./worker.ts", import.meta.url), { type: "module" });
    w.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.type === "booted") {
        if (m.bootId === bootId.current) setTree(m.startupTree);
      } else if (m.type === "view") {
        if (m.bootId !== bootId.current) return;
        const v = m.view;
        setView(v);
        if (v.console) setConsoleText((t) => t + v.console);
        if (v.regs || v.control || v.kvmRun)
          setDetail({ regs: v.regs, kvmRun: v.kvmRun, control: v.control });
      } else if (m.type === "trace") {
        const url = URL.createObjectURL(new Blob([m.json], { type: "application/json" }));
        const a = document.createElement("a");
        a.href = url;
        a.download = "glassvm-trace.json";
        a.click();
        setTimeout(() => URL.revokeObjectURL(url), 1000);
      } else if (m.type === "fatal") setFatal(m.message);
    };
    w.onerror = (e) => setFatal(e.message || "the worker failed to load");
    worker.current = w;
    return () => w.terminate();
  }, []);

  const boot = useCallback(
    async (o: PlaygroundOptions, run: boolean) => {
      setFatal(null);
      const id = ++bootId.current;
      setBoots(id);
      setView(null);
      setDetail(null);
      setConsoleText("");
      setGeneration((g) => g + 1);
      try {
        const image =
          o.guest === "file" && file ? file.bytes.slice() : await fetchGuest(guestInfo(o).file);
        if (id !== bootId.current) return;
        send({ type: "boot", id, options: o, image, run });
      } catch (err) {
        setFatal((err as Error).message);
      }
    },
    [file, send],
  );

  // A change of guest, CPU, -smp or backend boots a new VM and runs it.
  useEffect(() => {
    history.replaceState(null, "", optionsToQuery(options));
    void boot(options, true);
  }, [options]);

  const set = (patch: Partial<PlaygroundOptions>) => setOptions((o) => ({ ...o, ...patch }));

  const onFile = async (f: File | undefined) => {
    if (!f) return;
    const bytes = new Uint8Array(await f.arrayBuffer());
    const elf = bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
    setFile({ name: f.name, bytes });
    set({
      guest: "file",
      fileName: f.name,
      fileLoad: elf ? "kernel" : "bios",
      fileConsole: elf ? "serial" : "debugcon",
    });
  };

  const cmd = commandLine(options);
  /** The vCPUs run in workers of their own (as booted; before the first view, as asked). */
  const threaded = view ? view.threaded : options.threads === "multi";
  /** The VM can still run (not shut down, not stopped on an error, not booting). */
  const canRun = view !== null && (view.status === "paused" || view.status === "running");
  const status = view
    ? view.status === "shutdown"
      ? `shut down (exit status ${view.exitStatus})`
      : view.status
    : "booting";

  return (
    <div className="app">
      <header>
        <h1>glassvm playground</h1>
        <p id="isolation" className={isolated ? "ok" : "warn"}>
          {isolated
            ? "Cross-origin isolated: guest RAM is a SharedArrayBuffer. With threads single the vCPUs run round-robin in one Web Worker (thread=single); with threads multi each vCPU runs in a Web Worker of its own (-accel kvm,thread=multi)."
            : "Not cross-origin isolated (no COOP/COEP): SharedArrayBuffer is unavailable, so guest RAM is a plain ArrayBuffer and the vCPUs run round-robin in one Web Worker (thread=single); threads multi is unavailable. Everything else works."}
        </p>
        {initial.threadsRefused ? (
          <p id="threads-refused" className="warn">
            The URL asks for threads=multi: {MULTI_NEEDS_ISOLATION}.
          </p>
        ) : null}
      </header>

      <section className="controls">
        <label>
          guest{" "}
          <select id="guest" value={options.guest} onChange={(e) => set({ guest: e.target.value })}>
            {GUESTS.map((g) => (
              <option key={g.id} value={g.id} title={g.about}>
                {g.id}
              </option>
            ))}
            {file ? <option value="file">{file.name} (from disk)</option> : null}
          </select>
        </label>
        <label>
          load from disk{" "}
          <input id="file" type="file" onChange={(e) => void onFile(e.target.files?.[0])} />
        </label>
        {options.guest === "file" ? (
          <>
            <select
              value={options.fileLoad}
              onChange={(e) => set({ fileLoad: e.target.value as "bios" | "kernel" })}
            >
              <option value="bios">-bios (flat firmware image)</option>
              <option value="kernel">-kernel (multiboot ELF)</option>
            </select>
            <select
              value={options.fileConsole}
              onChange={(e) => set({ fileConsole: e.target.value as "debugcon" | "serial" })}
            >
              <option value="debugcon">-debugcon stdio (port 0xE9)</option>
              <option value="serial">-nographic (COM1)</option>
            </select>
          </>
        ) : null}
        <label>
          -cpu{" "}
          <select id="cpu" value={options.cpu} onChange={(e) => set({ cpu: e.target.value })}>
            {CPU_MODELS.map((c) => (
              <option key={c}>{c}</option>
            ))}
          </select>
        </label>
        <label>
          -smp{" "}
          <select
            id="smp"
            value={options.smp}
            onChange={(e) => set({ smp: Number(e.target.value) })}
          >
            {[1, 2, 3, 4].map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>
        <fieldset className="backend">
          <legend>backend</legend>
          {(["vmx", "svm"] as Backend[]).map((b) => (
            <label key={b}>
              <input
                id={`backend-${b}`}
                type="radio"
                name="backend"
                checked={options.backend === b}
                onChange={() => set({ backend: b })}
              />
              {b === "vmx" ? "VMX (kvm_intel)" : "SVM (kvm_amd)"}
            </label>
          ))}
        </fieldset>
        <fieldset
          className="threads"
          title="-accel kvm,thread=…: how the vCPUs run in the browser (QEMU's thread=single or thread=multi)"
        >
          <legend>threads</legend>
          {(["single", "multi"] as Threads[]).map((t) => (
            <label
              key={t}
              title={t === "multi" && !isolated ? MULTI_NEEDS_ISOLATION : undefined}
              className={t === "multi" && !isolated ? "disabled" : undefined}
            >
              <input
                id={`threads-${t}`}
                type="radio"
                name="threads"
                checked={options.threads === t}
                disabled={t === "multi" && !isolated}
                onChange={() => set({ threads: t })}
              />
              {t === "single" ? "single (one worker)" : "multi (a worker per vCPU)"}
            </label>
          ))}
        </fieldset>
        <label
          title={
            options.threads === "multi"
              ? "Not with thread=multi: the vCPUs' state is in their threads before it could be changed"
              : "As a debugger could, before the first KVM_RUN: VT-x refuses the VM entry (SDM 27.3.1.2); AMD-V's VMRUN does not check TR's type"
          }
        >
          <input
            id="fault-tr"
            type="checkbox"
            disabled={options.threads === "multi"}
            checked={options.faultTr === true}
            onChange={(e) => set({ faultTr: e.target.checked })}
          />{" "}
          inject: TR = available TSS
        </label>
        <div className="buttons">
          <button
            id="btn-run"
            type="button"
            disabled={!canRun || view?.status === "running"}
            onClick={() => send({ type: "run" })}
          >
            Run
          </button>
          <button
            id="btn-pause"
            type="button"
            disabled={view?.status !== "running"}
            onClick={() => send({ type: "pause" })}
          >
            Pause
          </button>
          <button
            id="btn-step-exit"
            type="button"
            disabled={!canRun || threaded}
            title={threaded ? STEP_THREADED : undefined}
            onClick={() => send({ type: "step-exit" })}
          >
            Step exit
          </button>
          <button
            id="btn-step-insn"
            type="button"
            disabled={!canRun || threaded}
            title={threaded ? STEP_THREADED : undefined}
            onClick={() => send({ type: "step-insn" })}
          >
            Step instruction
          </button>
          <button id="btn-reset" type="button" onClick={() => void boot(options, false)}>
            Reset
          </button>
          <button
            id="btn-trace"
            type="button"
            disabled={threaded}
            title={
              threaded
                ? "Not with thread=multi: the trace is made of this worker's kvm_exit/kvm_entry tracepoints"
                : undefined
            }
            onClick={() => send({ type: "trace" })}
          >
            Export Perfetto JSON
          </button>
        </div>
        <div className="cmdline">
          <input id="cmdline" readOnly value={cmd} onFocus={(e) => e.currentTarget.select()} />
          <button
            type="button"
            onClick={() => {
              void navigator.clipboard?.writeText(cmd).then(() => {
                setCopied(true);
                setTimeout(() => setCopied(false), 1500);
              });
            }}
          >
            {copied ? "Copied" : "Copy"}
          </button>
        </div>
        <p className="status">
          status:{" "}
          <strong
            id="status"
            data-boot={boots}
            data-vcpu-workers={view?.vcpuWorkers ?? 0}
            data-vcpu-workers-created={view?.vcpuWorkersCreated ?? 0}
          >
            {status}
          </strong>
          {view?.threaded ? (
            <>
              {" "}
              · guest MIPS:{" "}
              <strong id="mips" title="the instructions are retired in the vCPUs' own workers">
                –
              </strong>{" "}
              · {view.runMs.toFixed(0)} ms of run time · {view.vcpus} vCPU
              {view.vcpus === 1 ? "" : "s"} in{" "}
              <strong id="vcpu-workers">
                {view.vcpuWorkers} Web Worker{view.vcpuWorkers === 1 ? "" : "s"}
              </strong>{" "}
              (thread=multi) · backend {view.backend.toUpperCase()}
            </>
          ) : view ? (
            <>
              {" "}
              · guest MIPS:{" "}
              <strong
                id="mips"
                title="guest instructions per µs of run time, exit handling included (shown from 100 000 instructions)"
              >
                {view.mips === null || view.instructions < 100_000 ? "–" : view.mips.toFixed(1)}
              </strong>{" "}
              · {view.instructions.toLocaleString("en")} instructions in {view.runMs.toFixed(0)} ms
              of run time · {view.vcpus} vCPU{view.vcpus === 1 ? "" : "s"} · backend{" "}
              {view.backend.toUpperCase()}
            </>
          ) : null}
        </p>
        {fatal ? <pre className="fatal">{fatal}</pre> : null}
      </section>

      <main className="panels">
        <section className="panel">
          <h2>Console</h2>
          <Console
            text={consoleText}
            generation={generation}
            onInput={view?.hasSerial ? (d) => send({ type: "input", text: d }) : null}
          />
          <p className="note">
            {view?.hasSerial
              ? "Keys typed in the terminal go to COM1 (the 16550's receive buffer)."
              : "This guest prints on isa-debugcon (port 0xE9), which is output-only: no keyboard input."}
          </p>
          {view?.message ? (
            <details className="messages">
              <summary>
                QEMU's messages ({view.message.trimEnd().split("\n").length} lines on stderr)
              </summary>
              <pre>{view.message}</pre>
            </details>
          ) : null}
        </section>
        <section className="panel">
          <h2>Exits</h2>
          {threaded ? <ThreadedNote /> : null}
          <ExitsPanel rows={view?.exits ?? []} total={view?.exitsTotal ?? 0} />
        </section>
        <section className="panel wide">
          <h2>Timeline: guest time vs exit handling, per vCPU</h2>
          {threaded ? <ThreadedNote /> : <Timeline rows={view?.timeline ?? []} />}
        </section>
        <section className="panel wide">
          <h2>
            {options.backend === "svm" ? "VMCB" : "VMCS"} of vCPU{" "}
            <select
              id="vcpu"
              value={view?.vcpu ?? 0}
              onChange={(e) => send({ type: "select-vcpu", index: Number(e.target.value) })}
            >
              {Array.from({ length: Math.max(view?.vcpus ?? 1, 1) }, (_, i) => (
                <option key={i} value={i}>
                  {i}
                </option>
              ))}
            </select>
          </h2>
          {threaded ? (
            <ThreadedNote />
          ) : (
            <ControlBlockView
              block={detail?.control ?? null}
              changed={(view?.vcpu ?? 0) === 0 ? (view?.changed ?? new Map()) : new Map()}
              lastExit={view?.lastExit ?? null}
              failure={view?.entryFailure ?? null}
            />
          )}
          {view && view.dmesg.length > 0 ? (
            <details open={view.status === "error"}>
              <summary>host kernel log (dmesg): {view.dmesg.length} lines</summary>
              <pre className="dmesg">{view.dmesg.join("\n")}</pre>
            </details>
          ) : null}
        </section>
        <section className="panel wide">
          <h2>vCPU {view?.vcpu ?? 0}</h2>
          {threaded ? (
            <p className="note threaded-note">
              thread=multi: KVM_GET_REGS / KVM_GET_SREGS go to the vCPU's thread, which answers
              between its KVM_RUNs — they are read while the VM is paused (or has shut down).
            </p>
          ) : null}
          <VcpuPanel regs={detail?.regs ?? null} kvmRun={detail?.kvmRun ?? null} />
        </section>
        <section className="panel">
          <h2>The path: start-up</h2>
          <PathTree roots={tree} />
        </section>
        <section className="panel">
          <h2>ioctl log</h2>
          <IoctlLog entries={view?.syscalls ?? []} total={view?.syscallsTotal ?? 0} />
        </section>
      </main>
    </div>
  );
}

/** What a panel of this worker's kernel state says with thread=multi. */
function ThreadedNote() {
  return (
    <p className="note threaded-note">
      {THREADED_NOTE} This panel reads the emulator worker's kernel, so it stays empty.
    </p>
  );
}
