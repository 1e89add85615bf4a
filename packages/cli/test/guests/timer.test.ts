import { it } from "vitest";
import { expectGuest } from "./suite.js";

it("timer: its console output, exit status and memory, in-process", () => {
  expectGuest("timer");
});
