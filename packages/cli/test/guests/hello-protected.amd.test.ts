import { it } from "vitest";
import { expectGuest } from "./suite.js";

it("hello-protected on -host-cpu amd: the same console output, exit status and memory as on intel", () => {
  expectGuest("hello-protected", "amd");
});
