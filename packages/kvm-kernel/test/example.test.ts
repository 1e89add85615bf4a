import { expect, it } from "vitest";
import { main } from "../examples/hello-kvm.js";

it("the README's example boots its guest to Hello, world! and KVM_EXIT_HLT", () => {
  let out = "";
  expect(main((s) => (out += s))).toBe(0);
  expect(out).toBe("Hello, world!\nKVM_EXIT_HLT\n");
});
