import { it } from "vitest";
import { expectGuest } from "./suite.js";

it("hello-real: its console output, exit status and memory, in-process", () => {
  expectGuest("hello-real");
});
