/**
 * Character devices (chardev/char.c, chardev/char-fe.c, include/chardev/char*.h): the
 * host side of a serial port or debug console.
 *
 * A *backend* (Chardev, a QOM object at /chardevs/<id>) moves bytes to and from the
 * host; a *frontend* (the device, through its CharBackend) attaches to it with the
 * `chardev` property. Output: the device calls `qemuChrFeWriteAll(&s->chr, bytes)`.
 * Input: the backend delivers bytes to the frontend's handlers
 * (`qemuChrFeSetHandlers`: can_read says how many it takes now, read receives them).
 *
 *   const chr = qemuChardevNew("serial0", { type: "ringbuf" });
 *   objectPropertySetStr(serial, "chardev", "serial0");     // DEFINE_PROP_CHR
 *   … guest writes to the UART …
 *   ringbufRead(chr)                                         // the bytes it sent
 *   qemuChrBeQueueInput(chr, bytes)                          // type into the guest
 *
 * Backends: `null` (discards output, never has input), `ringbuf` (and its alias
 * `memory`: output collected in a power-of-two ring, read with `ringbufRead`) and the
 * glassvm `callback` backend, which hands each output chunk to a JS sink — what the
 * CLI connects stdout to. Input for any backend is pushed with `qemuChrBeQueueInput`.
 *
 * Not modelled: mux, file/pipe/socket/pty/stdio backends (the CLI builds them on
 * `callback`), logfiles, ioctls (serial line parameters, modem lines), watches and
 * replay.
 */
import {
  type ObjectClass,
  objectGetRoot,
  objectNew,
  objectPropertyAddChild,
  objectResolvePathComponent,
  objectUnparent,
  objectUnref,
  QomError,
  type QomObject,
  TYPE_OBJECT,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";

export const TYPE_CHARDEV = "chardev";
export const TYPE_CHARDEV_NULL = "chardev-null";
export const TYPE_CHARDEV_RINGBUF = "chardev-ringbuf";
export const TYPE_CHARDEV_MEMORY = "chardev-memory";
/** glassvm's backend that calls a JS function with each chunk of output. */
export const TYPE_CHARDEV_CALLBACK = "chardev-callback";

// QEMUChrEvent ---------------------------------------------------------------------------

export const CHR_EVENT_BREAK = 0;
export const CHR_EVENT_OPENED = 1;
export const CHR_EVENT_MUX_IN = 2;
export const CHR_EVENT_MUX_OUT = 3;
export const CHR_EVENT_CLOSED = 4;
export type QEMUChrEvent =
  | typeof CHR_EVENT_BREAK
  | typeof CHR_EVENT_OPENED
  | typeof CHR_EVENT_MUX_IN
  | typeof CHR_EVENT_MUX_OUT
  | typeof CHR_EVENT_CLOSED;

/** `IOCanReadHandler`: how many bytes the frontend accepts right now. */
export type IOCanReadHandler = (opaque: unknown) => number;
/** `IOReadHandler`: bytes for the frontend (never more than its last can_read). */
export type IOReadHandler = (opaque: unknown, buf: Uint8Array) => void;
/** `IOEventHandler`. */
export type IOEventHandler = (opaque: unknown, event: QEMUChrEvent) => void;

/** `CharBackend`: the frontend's end, embedded in the device. */
export interface CharBackend {
  chr: Chardev | null;
  chrCanRead: IOCanReadHandler | null;
  chrRead: IOReadHandler | null;
  chrEvent: IOEventHandler | null;
  opaque: unknown;
  feIsOpen: boolean;
}

/** The options a backend is opened with (QAPI `ChardevBackend`, the parts modelled). */
export type ChardevBackend =
  | { readonly type: "null" }
  | { readonly type: "ringbuf" | "memory"; readonly size?: number }
  | { readonly type: "callback"; readonly write: (data: Uint8Array) => void };

/** `Chardev`. */
export interface Chardev extends QomObject {
  /** The id (`-chardev …,id=<label>`); null for an anonymous chardev. */
  label: string | null;
  /** The frontend attached to it, if any (one at a time). */
  be: CharBackend | null;
  beOpen: boolean;
  /** Input the frontend could not take yet (glassvm: what an fd watch leaves unread). */
  readonly inputQueue: number[];
  /** `qemu_chr_write(s, buf, len, true)`: send everything; returns the bytes written. */
  write(buf: Uint8Array): number;
}

/** `ChardevClass`. */
export interface ChardevClass extends ObjectClass {
  /** `open`: set the backend up; returns `be_opened` (send CHR_EVENT_OPENED). */
  open: ((chr: Chardev, backend: ChardevBackend) => boolean) | undefined;
  /** `chr_write`: returns how many bytes were taken. */
  chrWrite: ((chr: Chardev, buf: Uint8Array) => number) | undefined;
  /** `chr_accept_input`: the frontend has room again. */
  chrAcceptInput: ((chr: Chardev) => void) | undefined;
}

interface RingbufChardev extends Chardev {
  size: number;
  prod: number;
  cons: number;
  cbuf: Uint8Array;
}

interface CallbackChardev extends Chardev {
  sink: ((data: Uint8Array) => void) | null;
}

/** `CBUFF_SIZE`: the default ring size. */
const CBUFF_SIZE = 65536;

function chrError(message: string, operation: string): QomError {
  return new QomError("invalid-parameter-value", message, { operation });
}

function chardevGetClass(s: Chardev): ChardevClass {
  return s.class as ChardevClass;
}

// Backend side -----------------------------------------------------------------------------

/** `qemu_chr_write`: `writeAll` keeps going until the backend took every byte. */
export function qemuChrWrite(s: Chardev, buf: Uint8Array, writeAll: boolean): number {
  const cc = chardevGetClass(s);
  if (!cc.chrWrite) return buf.length;
  let offset = 0;
  while (offset < buf.length) {
    const n = cc.chrWrite(s, offset === 0 ? buf : buf.subarray(offset));
    if (n <= 0) break;
    offset += n;
    if (!writeAll) break;
  }
  return offset;
}

/** `qemu_chr_be_can_write`: how many bytes the frontend takes now. */
export function qemuChrBeCanWrite(s: Chardev): number {
  const be = s.be;
  if (!be?.chrCanRead) return 0;
  return be.chrCanRead(be.opaque);
}

/** `qemu_chr_be_write`: deliver bytes to the frontend (the caller checked can_write). */
export function qemuChrBeWrite(s: Chardev, buf: Uint8Array): void {
  const be = s.be;
  if (be?.chrRead) be.chrRead(be.opaque, buf);
}

/** `qemu_chr_be_event`: tell the frontend about open/close/break. */
export function qemuChrBeEvent(s: Chardev, event: QEMUChrEvent): void {
  if (event === CHR_EVENT_OPENED) s.beOpen = true;
  else if (event === CHR_EVENT_CLOSED) s.beOpen = false;
  const be = s.be;
  if (be?.chrEvent) be.chrEvent(be.opaque, event);
}

/**
 * Deliver queued input while the frontend has room (what QEMU's fd watch does each time
 * the main loop finds the fd readable and `can_read` > 0).
 */
function chrDrainInput(s: Chardev): void {
  const q = s.inputQueue;
  while (q.length > 0) {
    const n = Math.min(qemuChrBeCanWrite(s), q.length);
    if (n <= 0) return;
    qemuChrBeWrite(s, Uint8Array.from(q.splice(0, n)));
  }
}

/**
 * Input arriving at the backend (glassvm): queue `bytes` and hand the frontend as many
 * as it accepts; the rest waits for `qemuChrFeAcceptInput` (the UART calls it when the
 * guest reads RBR). With no frontend attached the bytes wait for one.
 */
export function qemuChrBeQueueInput(s: Chardev, bytes: Uint8Array | readonly number[]): void {
  for (const b of bytes) s.inputQueue.push(b & 0xff);
  chrDrainInput(s);
}

// Frontend side (char-fe.c) -----------------------------------------------------------------

/** A zeroed CharBackend, as embedded in a freshly created device. */
export function charBackendNew(): CharBackend {
  return {
    chr: null,
    chrCanRead: null,
    chrRead: null,
    chrEvent: null,
    opaque: null,
    feIsOpen: false,
  };
}

/** `qemu_chr_fe_init`: attach the frontend `b` to `s`; a chardev takes one frontend. */
export function qemuChrFeInit(b: CharBackend, s: Chardev): void {
  if (s.be && s.be !== b) {
    throw chrError(`Device '${s.label ?? ""}' is in use`, "qemu_chr_fe_init");
  }
  s.be = b;
  b.chr = s;
}

/** `qemu_chr_fe_deinit`: detach; with `del`, also remove the chardev from /chardevs. */
export function qemuChrFeDeinit(b: CharBackend, del: boolean): void {
  const s = b.chr;
  if (!s) return;
  qemuChrFeSetHandlers(b, null, null, null, null, false);
  if (s.be === b) s.be = null;
  b.chr = null;
  if (del) objectUnparent(s);
}

/** `qemu_chr_fe_backend_connected`. */
export function qemuChrFeBackendConnected(b: CharBackend): boolean {
  return b.chr !== null;
}

/** `qemu_chr_fe_get_driver`. */
export function qemuChrFeGetDriver(b: CharBackend): Chardev | null {
  return b.chr;
}

/**
 * `qemu_chr_fe_set_handlers`: install the frontend's input handlers (`setOpen` marks
 * the frontend open). A backend that is already open reports CHR_EVENT_OPENED again,
 * and queued input starts flowing.
 */
export function qemuChrFeSetHandlers(
  b: CharBackend,
  fdCanRead: IOCanReadHandler | null,
  fdRead: IOReadHandler | null,
  fdEvent: IOEventHandler | null,
  opaque: unknown,
  setOpen: boolean,
): void {
  const s = b.chr;
  if (!s) return;
  const feOpen = fdCanRead !== null || fdRead !== null || fdEvent !== null;
  b.chrCanRead = fdCanRead;
  b.chrRead = fdRead;
  b.chrEvent = fdEvent;
  b.opaque = opaque;
  if (setOpen) b.feIsOpen = feOpen;
  if (feOpen) {
    if (s.beOpen) qemuChrBeEvent(s, CHR_EVENT_OPENED);
    chrDrainInput(s);
  }
}

/** `qemu_chr_fe_write`: one attempt; returns the bytes taken (0 with no backend). */
export function qemuChrFeWrite(b: CharBackend, buf: Uint8Array): number {
  return b.chr ? qemuChrWrite(b.chr, buf, false) : 0;
}

/** `qemu_chr_fe_write_all`: block until written; returns the bytes taken (0 with no backend). */
export function qemuChrFeWriteAll(b: CharBackend, buf: Uint8Array): number {
  return b.chr ? qemuChrWrite(b.chr, buf, true) : 0;
}

/** `qemu_chr_fe_accept_input`: the frontend has room again; pending input flows. */
export function qemuChrFeAcceptInput(b: CharBackend): void {
  const s = b.chr;
  if (!s) return;
  chardevGetClass(s).chrAcceptInput?.(s);
}

// Creation and lookup ----------------------------------------------------------------------

/** `get_chardevs_root`: /chardevs. */
function getChardevsRoot(): QomObject {
  return objectResolvePathComponent(objectGetRoot(), "chardevs")!;
}

/** `qemu_chr_find`: the chardev with id `name`, or null. */
export function qemuChrFind(name: string): Chardev | null {
  const obj = objectResolvePathComponent(getChardevsRoot(), name);
  return (obj as Chardev | null) ?? null;
}

/** The QOM type of a backend name (`chardev-<type>`). */
function chardevTypename(backend: ChardevBackend): string {
  return `chardev-${backend.type}`;
}

/**
 * `qemu_chardev_new` / `qmp_chardev_add`: create and open a backend; with an id it
 * becomes /chardevs/<id> (owned there), without one the caller owns it.
 */
export function qemuChardevNew(id: string | null, backend: ChardevBackend): Chardev {
  const chr = objectNew<Chardev>(chardevTypename(backend));
  chr.label = id;
  const cc = chardevGetClass(chr);
  let beOpened = true;
  try {
    if (cc.open) beOpened = cc.open(chr, backend);
  } catch (err) {
    objectUnref(chr);
    throw err;
  }
  if (beOpened) qemuChrBeEvent(chr, CHR_EVENT_OPENED);
  if (id !== null) {
    try {
      // A second chardev with the same id fails here, as a duplicate child.
      objectPropertyAddChild(getChardevsRoot(), id, chr);
    } finally {
      objectUnref(chr);
    }
  }
  return chr;
}

/** `qmp_chardev_remove` (without the in-use check's QMP wrapping). */
export function qemuChardevRemove(id: string): void {
  const chr = qemuChrFind(id);
  if (!chr) throw chrError(`Chardev '${id}' not found`, "qmp_chardev_remove");
  if (chr.be) throw chrError(`Chardev '${id}' is busy`, "qmp_chardev_remove");
  objectUnparent(chr);
}

// The ring buffer backend (chardev/char-ringbuf.c) -------------------------------------------

function ringbufChrWrite(chr: Chardev, buf: Uint8Array): number {
  const d = chr as RingbufChardev;
  const mask = d.size - 1;
  for (const b of buf) {
    d.cbuf[d.prod++ & mask] = b;
    if (d.prod - d.cons > d.size) d.cons = d.prod - d.size;
  }
  return buf.length;
}

function ringbufOpen(chr: Chardev, backend: ChardevBackend): boolean {
  const d = chr as RingbufChardev;
  const size = backend.type === "ringbuf" || backend.type === "memory" ? backend.size : undefined;
  d.size = size ?? CBUFF_SIZE;
  if (d.size <= 0 || (d.size & (d.size - 1)) !== 0) {
    throw chrError("size of ringbuf chardev must be power of two", "ringbuf_chr_open");
  }
  d.prod = 0;
  d.cons = 0;
  d.cbuf = new Uint8Array(d.size);
  return true;
}

/** `ringbuf_count`: bytes written and not yet read. */
export function ringbufCount(chr: Chardev): number {
  const d = chr as RingbufChardev;
  return d.prod - d.cons;
}

/**
 * `ringbuf_read` (what `ringbuf-read` returns): consume up to `len` bytes (all by
 * default) of the collected output, oldest first.
 */
export function ringbufRead(chr: Chardev, len = Number.POSITIVE_INFINITY): Uint8Array {
  const d = chr as RingbufChardev;
  const n = Math.min(len, d.prod - d.cons);
  const out = new Uint8Array(n);
  const mask = d.size - 1;
  for (let i = 0; i < n; i++) out[i] = d.cbuf[d.cons++ & mask]!;
  return out;
}

// The callback backend (glassvm) ---------------------------------------------------------------

function callbackOpen(chr: Chardev, backend: ChardevBackend): boolean {
  if (backend.type !== "callback") {
    throw chrError("chardev-callback needs a write function", "callback_chr_open");
  }
  (chr as CallbackChardev).sink = backend.write;
  return true;
}

function callbackChrWrite(chr: Chardev, buf: Uint8Array): number {
  (chr as CallbackChardev).sink?.(buf.slice());
  return buf.length;
}

// Types --------------------------------------------------------------------------------------

function chardevInit(obj: Chardev): void {
  obj.label = null;
  obj.be = null;
  obj.beOpen = false;
  (obj as { inputQueue: number[] }).inputQueue = [];
  obj.write = (buf) => qemuChrWrite(obj, buf, true);
}

function chardevFinalize(obj: Chardev): void {
  if (obj.be?.chr === obj) obj.be.chr = null;
  obj.be = null;
}

typeInit(() => {
  typeRegisterStatic<ChardevClass, Chardev>({
    name: TYPE_CHARDEV,
    parent: TYPE_OBJECT,
    abstract: true,
    instanceSize: 120,
    instanceInit: chardevInit,
    instanceFinalize: chardevFinalize,
    classInit: (cc) => {
      cc.open = undefined;
      cc.chrWrite = undefined;
      cc.chrAcceptInput = chrDrainInput;
    },
  });
  typeRegisterStatic<ChardevClass, Chardev>({
    name: TYPE_CHARDEV_NULL,
    parent: TYPE_CHARDEV,
    classInit: (cc) => {
      // null_chr_open: the backend never reports itself open.
      cc.open = () => false;
      cc.chrWrite = (_chr, buf) => buf.length;
    },
  });
  typeRegisterStatic<ChardevClass, RingbufChardev>({
    name: TYPE_CHARDEV_RINGBUF,
    parent: TYPE_CHARDEV,
    instanceSize: 160,
    classInit: (cc) => {
      cc.open = ringbufOpen;
      cc.chrWrite = ringbufChrWrite;
    },
  });
  typeRegisterStatic<ChardevClass, RingbufChardev>({
    name: TYPE_CHARDEV_MEMORY,
    parent: TYPE_CHARDEV_RINGBUF,
  });
  typeRegisterStatic<ChardevClass, CallbackChardev>({
    name: TYPE_CHARDEV_CALLBACK,
    parent: TYPE_CHARDEV,
    instanceSize: 128,
    instanceInit: (chr) => {
      chr.sink = null;
    },
    classInit: (cc) => {
      cc.open = callbackOpen;
      cc.chrWrite = callbackChrWrite;
    },
  });
});
