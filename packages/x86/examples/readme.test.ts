import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, expect, it, vi } from "vitest";

// The first ```ts block of the package README, run as it is written.
const readme = readFileSync(fileURLToPath(new URL("../README.md", import.meta.url)), "utf8");
const snippet = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
const file = fileURLToPath(new URL("./.readme-snippet.generated.ts", import.meta.url));

afterAll(() => rmSync(file, { force: true }));

it("the README example runs and prints what its comments say", async () => {
  expect(snippet).toBeDefined();
  writeFileSync(file, snippet!);
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  await import(/* @vite-ignore */ file);
  expect(log.mock.calls).toEqual([[true], ["1234"]]);
  log.mockRestore();
});
