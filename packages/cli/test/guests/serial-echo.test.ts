/**
 * serial-echo: the receive side of COM1 through the whole path — what the host types on
 * standard input goes through the stdio chardev into the 16550's receive buffer, the guest
 * reads it (IN from 0x3F8 after LSR.DR), echoes it and exits. ^C on a terminal stops
 * glassvm as SIGINT stops QEMU.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type GlassvmIo, glassvmMain } from "../../src/index.js";
import { testIo, withoutWarnings } from "../firmware.js";

const BIN = new URL("../../../../guests/bin/", import.meta.url);
const image = new Uint8Array(readFileSync(new URL("serial-echo.bin", BIN)));
const ARGV = [
  "glassvm",
  "-nographic",
  "-bios",
  "serial-echo.bin",
  "-device",
  "isa-debug-exit,iobase=0xf4,iosize=0x04",
];

/**
 * A testIo whose stdin is a person typing: each chunk once the console shows its cue
 * (the prompt, then the echo of what was typed before it).
 */
function withStdin(chunks: [cue: string, text: string][], tty = false) {
  const t = testIo({ "serial-echo.bin": image });
  const io: GlassvmIo = {
    ...t.io,
    stdinIsTTY: tty,
    readStdin: () => {
      const next = chunks[0];
      if (!next || !t.out().endsWith(next[0])) return null;
      chunks.shift();
      return new Uint8Array(Array.from(next[1], (c) => c.charCodeAt(0)));
    },
  };
  return { ...t, io };
}

describe("serial-echo: standard input into COM1", () => {
  it("echoes a typed line (arriving in pieces) and exits with status 1", () => {
    const t = withStdin([
      ["line: ", "hel"],
      ["hel", "lo gl"],
      ["lo gl", "assvm\r"],
    ]);
    expect(glassvmMain(ARGV, t.io)).toBe(1);
    expect(t.out()).toBe("type a line: hello glassvm\ngot: hello glassvm\n");
    expect(withoutWarnings(t.err()).trim()).toBe("");
  });

  it("^C on a terminal: 'terminated by signal 2', status 0", () => {
    const t = withStdin(
      [
        ["line: ", "ab"],
        ["ab", "\u0003"],
      ],
      true,
    );
    expect(glassvmMain(ARGV, t.io)).toBe(0);
    expect(t.out()).toBe("type a line: ab");
    expect(withoutWarnings(t.err())).toBe("glassvm: terminated by signal 2\n");
  });

  it("from a pipe, as `printf … | glassvm -nographic …`", () => {
    const bin = fileURLToPath(new URL("../../src/bin.ts", import.meta.url));
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "--conditions=@glassvm/source", bin, ...ARGV.slice(1)],
      {
        cwd: fileURLToPath(BIN),
        input: "piped line\r",
        encoding: "latin1",
        timeout: 60_000,
      },
    );
    expect(r.stdout).toBe("type a line: piped line\ngot: piped line\n");
    expect(r.status).toBe(1);
  });
});
