import { it } from "vitest";
import { expectGuest } from "./suite.js";

it("bios-hello: its console output, exit status and memory, in-process", () => {
  expectGuest("bios-hello");
});
