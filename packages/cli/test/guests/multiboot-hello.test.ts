import { it } from "vitest";
import { expectGuest } from "./suite.js";

it("multiboot-hello: its console output, exit status and memory, in-process", () => {
  expectGuest("multiboot-hello");
});
