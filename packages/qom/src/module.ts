/**
 * util/module.c: `type_init(fn)` queues a registration function; `module_call_init`
 * runs every queued function of one kind once, in queueing order. qemu_init calls
 * `module_call_init(MODULE_INIT_QOM)` before it touches any type.
 */

export const MODULE_INIT_MIGRATION = 0;
export const MODULE_INIT_BLOCK = 1;
export const MODULE_INIT_OPTS = 2;
export const MODULE_INIT_QOM = 3;
export const MODULE_INIT_TRACE = 4;
export const MODULE_INIT_XEN_BACKEND = 5;
export const MODULE_INIT_LIBQOS = 6;
export const MODULE_INIT_FUZZ_TARGET = 7;

export type ModuleInitType =
  | typeof MODULE_INIT_MIGRATION
  | typeof MODULE_INIT_BLOCK
  | typeof MODULE_INIT_OPTS
  | typeof MODULE_INIT_QOM
  | typeof MODULE_INIT_TRACE
  | typeof MODULE_INIT_XEN_BACKEND
  | typeof MODULE_INIT_LIBQOS
  | typeof MODULE_INIT_FUZZ_TARGET;

const pending = new Map<ModuleInitType, Array<() => void>>();
const done = new Set<ModuleInitType>();

/**
 * `module_init(fn, type)`. A function registered after its kind was already initialised
 * runs at once, the way a module loaded later has its constructors run on load.
 */
export function registerModuleInit(fn: () => void, type: ModuleInitType): void {
  if (done.has(type)) {
    fn();
    return;
  }
  let list = pending.get(type);
  if (!list) {
    list = [];
    pending.set(type, list);
  }
  list.push(fn);
}

/** `type_init(fn)`: queue a QOM type registration function. */
export function typeInit(fn: () => void): void {
  registerModuleInit(fn, MODULE_INIT_QOM);
}

/** `module_call_init(type)`: run the queued functions of `type`, each once. */
export function moduleCallInit(type: ModuleInitType): void {
  if (done.has(type)) return;
  done.add(type);
  const list = pending.get(type) ?? [];
  pending.delete(type);
  for (const fn of list) fn();
}
