/**
 * The host glassvm runs on under Node: files through node:fs, the terminal through
 * process.stdout/stderr, the clock from performance.now. The only node-specific module
 * besides bin.ts; the rest of the package runs in a browser too.
 */
import { appendFileSync, readFileSync, readSync, writeFileSync } from "node:fs";
import process from "node:process";
import { isatty } from "node:tty";
import { type MessagePort, Worker } from "node:worker_threads";
import type { GlassvmIo } from "./main.js";
import type { VcpuThreadData } from "./vcpu-thread.js";

function hasWideChars(t: string): boolean {
  for (let i = 0; i < t.length; i++) if (t.charCodeAt(i) > 0xff) return true;
  return false;
}

/** Whether this process put its terminal in raw mode (restoreStdin undoes it). */
let rawTerminal = false;

/**
 * Standard input without blocking. On first use, `process.stdin` is opened (libuv makes a
 * terminal or pipe non-blocking) and kept paused, so reads are ours; a terminal goes into
 * raw mode, as QEMU's stdio backend turns echo and line editing off. A read with nothing
 * there is EAGAIN → null; end of input → null from then on.
 */
function stdinReader(): () => Uint8Array | null {
  let opened = false;
  let ended = false;
  const buf = new Uint8Array(4096);
  return () => {
    if (ended) return null;
    if (!opened) {
      opened = true;
      const stdin = process.stdin;
      if (stdin.isTTY) {
        stdin.setRawMode(true);
        rawTerminal = true;
      }
      stdin.pause();
      stdin.unref?.();
    }
    try {
      const n = readSync(0, buf, 0, buf.length, null);
      if (n === 0) ended = true;
      return n > 0 ? buf.slice(0, n) : null;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EAGAIN" || code === "EWOULDBLOCK") return null;
      ended = true;
      return null;
    }
  };
}

/** Put the terminal back the way it was (after a run that read stdin). */
export function restoreStdin(): void {
  if (rawTerminal) process.stdin.setRawMode(false);
  rawTerminal = false;
}

/** A {@link GlassvmIo} over this process. */
export function nodeHostIo(): GlassvmIo {
  return {
    readFile(path) {
      try {
        const b = readFileSync(path);
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch {
        return null;
      }
    },
    writeFile(path, text, append) {
      try {
        if (append) appendFileSync(path, text, "latin1");
        else writeFileSync(path, text, "latin1");
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new Error(e.code === "ENOENT" ? "No such file or directory" : e.message);
      }
    },
    // The guest's bytes arrive as latin1 text (one char per byte): written back as bytes.
    // Text of ours (help) with wider characters is UTF-8.
    stdout: (t) => {
      process.stdout.write(t, hasWideChars(t) ? "utf8" : "latin1");
    },
    stderr: (t) => {
      process.stderr.write(t);
    },
    isTTY: process.stderr.isTTY === true,
    now: () => performance.now(),
    readStdin: stdinReader(),
    stdinIsTTY: isatty(0),
    startThread: (data) => startVcpuWorker(data),
  };
}

/**
 * A vCPU thread's worker. From the built package it is dist/vcpu-thread-node.js; from
 * TypeScript source (tsx, vitest) the worker loads the .ts entry through tsx, resolving
 * the @glassvm packages from source as the parent does.
 */
export function startVcpuWorker(data: VcpuThreadData): { terminate(): void } {
  const fromSource = import.meta.url.endsWith(".ts");
  const entry = new URL(
    fromSource ? "./vcpu-thread-node.ts" : "./vcpu-thread-node.js",
    import.meta.url,
  );
  const opts = { workerData: data, transferList: [data.link.mail as unknown as MessagePort] };
  const w = fromSource
    ? new Worker(
        `import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`,
        { ...opts, eval: true, execArgv: ["--conditions=@glassvm/source"] },
      )
    : new Worker(entry, opts);
  w.unref();
  return {
    terminate: () => {
      void w.terminate();
    },
  };
}
