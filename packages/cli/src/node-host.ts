/**
 * The host glassvm runs on under Node: files through node:fs, the terminal through
 * process.stdout/stderr, the clock from performance.now. The only node-specific module
 * besides bin.ts; the rest of the package runs in a browser too.
 */
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import process from "node:process";
import type { GlassvmIo } from "./main.js";

function hasWideChars(t: string): boolean {
  for (let i = 0; i < t.length; i++) if (t.charCodeAt(i) > 0xff) return true;
  return false;
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
  };
}
