/**
 * Device properties that name host-side objects (hw/core/qdev-properties-system.c);
 * so far the `chardev` kind, DEFINE_PROP_CHR.
 *
 * The property is a string (QOM type `str`): setting it to a chardev id looks the
 * chardev up in /chardevs and attaches the device's CharBackend to it
 * (`qemu_chr_fe_init`); reading it gives the id back ("" when unset).
 */
import {
  objectGetTypename,
  type Property,
  type PropertyInfo,
  QomError,
  type QomObject,
} from "@glassvm/qom";
import {
  type CharBackend,
  charBackendNew,
  qemuChrFeInit,
  qemuChrFind,
} from "../../chardev/char.js";

type Fields = Record<string, unknown>;

/** The device's CharBackend field, created zeroed if instance_init did not. */
function backendOf(obj: QomObject, prop: Property): CharBackend {
  const fields = obj as unknown as Fields;
  let be = fields[prop.field] as CharBackend | undefined;
  if (!be) {
    be = charBackendNew();
    fields[prop.field] = be;
  }
  return be;
}

/** `qdev_prop_chr`. */
export const qdevPropChr: PropertyInfo = {
  name: "str",
  description: "ID of a chardev to use as a backend",
  get: (obj, _name, prop) => backendOf(obj, prop).chr?.label ?? "",
  set: (obj, v, name, prop) => {
    const be = backendOf(obj, prop);
    const str = v.typeStr(name);
    const where = `Property '${objectGetTypename(obj)}.${name}'`;
    if (str === "") {
      be.chr = null;
      return;
    }
    const s = qemuChrFind(str);
    if (!s) {
      throw new QomError("invalid-parameter-value", `${where} can't find value '${str}'`, {
        operation: "set_chr",
      });
    }
    try {
      qemuChrFeInit(be, s);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new QomError("invalid-parameter-value", `${where} can't take value '${str}': ${why}`, {
        operation: "set_chr",
        cause: err,
      });
    }
  },
};

/** DEFINE_PROP_CHR: a `chardev` property backed by the CharBackend field `field`. */
export function definePropChr(name: string, field: string): Property {
  return { name, info: qdevPropChr, field, setDefault: false };
}
