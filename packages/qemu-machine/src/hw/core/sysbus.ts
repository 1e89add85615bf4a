/**
 * hw/core/sysbus.c, the part glassvm needs: the abstract `sys-bus-device` type that
 * devices on the main system bus (fw_cfg, …) derive from. Their MMIO and I/O regions are
 * placed by the board code, as `sysbus_mmio_map` / `sysbus_add_io` do.
 */
import {
  type DeviceClass,
  type DeviceState,
  TYPE_DEVICE,
  typeInit,
  typeRegisterStatic,
} from "@glassvm/qom";

export const TYPE_SYS_BUS_DEVICE = "sys-bus-device";

typeInit(() => {
  typeRegisterStatic<DeviceClass, DeviceState>({
    name: TYPE_SYS_BUS_DEVICE,
    parent: TYPE_DEVICE,
    abstract: true,
  });
});
