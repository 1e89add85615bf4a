/**
 * The guest's console: xterm.js fed with the worker's debugcon / COM1 output; keys typed
 * into it go to COM1's receive FIFO (qemu_chr_be_write → the 16550's RBR) when the guest
 * has a serial port. A plain-text transcript is kept beside it for tests and copy/paste.
 */
import { Terminal } from "@xterm/xterm";
import { useEffect, useRef } from "react";

export interface ConsoleProps {
  /** The whole output so far (the terminal writes what is new). */
  readonly text: string;
  /** Bumped on reset: the terminal is cleared. */
  readonly generation: number;
  readonly onInput: ((data: string) => void) | null;
}

export function Console({ text, generation, onInput }: ConsoleProps) {
  const host = useRef<HTMLDivElement>(null);
  const term = useRef<Terminal | null>(null);
  const written = useRef(0);
  const input = useRef(onInput);
  input.current = onInput;

  useEffect(() => {
    const t = new Terminal({
      convertEol: true,
      rows: 14,
      cols: 80,
      fontSize: 13,
      theme: { background: "#0d1117", foreground: "#d1d9e0" },
    });
    t.open(host.current!);
    t.onData((d) => input.current?.(d));
    term.current = t;
    return () => {
      t.dispose();
      term.current = null;
    };
  }, []);

  useEffect(() => {
    // A new VM: start from a clear screen.
    void generation;
    term.current?.reset();
    written.current = 0;
  }, [generation]);

  useEffect(() => {
    const t = term.current;
    if (!t || text.length <= written.current) return;
    t.write(text.slice(written.current));
    written.current = text.length;
  }, [text]);

  return (
    <div className="console">
      <div ref={host} id="console" />
      <pre id="console-text" className="transcript">
        {text}
      </pre>
    </div>
  );
}
