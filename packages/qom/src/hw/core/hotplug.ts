/**
 * hw/core/hotplug.c: the `hotplug-handler` interface. The machine (or a bus) that
 * implements it is asked before and after a device is realized.
 */
import type { InterfaceClass, QomObject } from "../../object.js";
import { objectGetClassChecked } from "../../object.js";
import type { DeviceState } from "./qdev.js";

export const TYPE_HOTPLUG_HANDLER = "hotplug-handler";

/** `HotplugHandlerClass`: each hook throws a QomError to refuse. */
export interface HotplugHandlerClass extends InterfaceClass {
  prePlug: ((handler: QomObject, dev: DeviceState) => void) | undefined;
  plug: ((handler: QomObject, dev: DeviceState) => void) | undefined;
  unplugRequest: ((handler: QomObject, dev: DeviceState) => void) | undefined;
  unplug: ((handler: QomObject, dev: DeviceState) => void) | undefined;
}

function hotplugClass(handler: QomObject): HotplugHandlerClass {
  return objectGetClassChecked<HotplugHandlerClass>(handler, TYPE_HOTPLUG_HANDLER);
}

/** `hotplug_handler_pre_plug`. */
export function hotplugHandlerPrePlug(handler: QomObject, dev: DeviceState): void {
  hotplugClass(handler).prePlug?.(handler, dev);
}

/** `hotplug_handler_plug`. */
export function hotplugHandlerPlug(handler: QomObject, dev: DeviceState): void {
  hotplugClass(handler).plug?.(handler, dev);
}

/** `hotplug_handler_unplug_request`. */
export function hotplugHandlerUnplugRequest(handler: QomObject, dev: DeviceState): void {
  hotplugClass(handler).unplugRequest?.(handler, dev);
}

/** `hotplug_handler_unplug`. */
export function hotplugHandlerUnplug(handler: QomObject, dev: DeviceState): void {
  hotplugClass(handler).unplug?.(handler, dev);
}
