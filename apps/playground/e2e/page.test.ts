/**
 * The playground end to end in a real headless Chromium (Debian's chromium, driven by
 * playwright-core; toolchain.md §5): build the app into a temporary directory with Vite's
 * API, serve it with `vite preview` (COOP/COEP), and use the page as a person would.
 *
 * A screenshot goes to test-results/playground.png every run; apps/playground/screenshot.png
 * (the README's) is written when missing or when PLAYGROUND_SCREENSHOT=1.
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { build, type PreviewServer, preview } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const appDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const HELLO = "Hello, world!\n";

let outDir = "";
let profile = "";
let server: PreviewServer | null = null;
let ctx: BrowserContext | null = null;
let url = "";

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), "playground-dist-"));
  await build({ root: appDir, logLevel: "warn", build: { outDir, emptyOutDir: true } });
  server = await preview({
    root: appDir,
    logLevel: "warn",
    build: { outDir },
    preview: { port: 0, host: "127.0.0.1" },
  });
  url = server.resolvedUrls!.local[0]!;
  profile = await mkdtemp(join(tmpdir(), "pw-profile-"));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    env: { ...process.env, XDG_CONFIG_HOME: profile, XDG_CACHE_HOME: profile },
  });
});

afterAll(async () => {
  await ctx?.close();
  await new Promise<void>((r) => (server ? server.httpServer.close(() => r()) : r()));
  if (profile) await rm(profile, { recursive: true, force: true });
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

const transcript = (page: Page): Promise<string> =>
  page
    .locator("#console-text")
    .textContent()
    .then((t) => t ?? "");

/** The page's boot counter (each boot of a VM increments it). */
const boots = async (page: Page): Promise<number> =>
  Number(await page.locator("#status").getAttribute("data-boot"));

/** Wait until boot number `after` or a later one has shut down; its console output. */
async function finished(page: Page, after = 1): Promise<string> {
  await page.waitForFunction(
    (n) => {
      const s = document.querySelector("#status");
      return Number(s?.getAttribute("data-boot")) >= n && s?.textContent?.startsWith("shut down");
    },
    after,
    { timeout: 20_000 },
  );
  return transcript(page);
}

/** Do `action`, then wait for the VM it boots to shut down; its console output. */
async function rebootAndFinish(page: Page, action: () => Promise<unknown>): Promise<string> {
  const before = await boots(page);
  await action();
  return finished(page, before + 1);
}

/** Do `action` (a reset), then wait for the new VM to stand paused before its first KVM_RUN. */
async function resetPaused(page: Page): Promise<void> {
  const before = await boots(page);
  await page.click("#btn-reset");
  await page.waitForFunction((n) => {
    const s = document.querySelector("#status");
    return Number(s?.getAttribute("data-boot")) > n && s?.textContent === "paused";
  }, before);
}

const exitTotal = async (page: Page): Promise<number> =>
  Number(await page.locator("#exit-total").textContent());

describe("playground in Chromium", () => {
  it("boots hello-real and hello-long, steps exits on VMX, reboots on SVM", async () => {
    const page = await ctx!.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const res = await page.goto(url);
    expect(res?.headers()["cross-origin-opener-policy"]).toBe("same-origin");
    expect(res?.headers()["cross-origin-embedder-policy"]).toBe("require-corp");
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);

    // hello-real runs as soon as the page loads (the URL's default guest).
    expect(await finished(page)).toBe(HELLO);
    expect(await page.locator("#status").textContent()).toBe("shut down (exit status 1)");
    await expect
      .poll(() => page.locator("#console .xterm-rows").textContent())
      .toContain("Hello, world!");
    expect(await page.locator("#cmdline").inputValue()).toContain(
      "-bios guests/bin/hello-real.bin",
    );

    expect(await rebootAndFinish(page, () => page.selectOption("#guest", "hello-long"))).toBe(
      HELLO,
    );
    expect(await page.evaluate(() => location.search)).toContain("guest=hello-long");
    expect(await page.locator("#startup-tree").textContent()).toContain("vmxVcpuCreate");
    expect(await page.locator("#ioctl-log").textContent()).toContain("KVM_RUN");
    // The run's last exit (the OUT to isa-debug-exit) is shown with what it wrote.
    await expect
      .poll(() => page.locator('#vmcs tr[data-field="VM_EXIT_REASON"]').getAttribute("class"))
      .toMatch(/written|changed/);
    await mkdir(join(appDir, "test-results"), { recursive: true });
    await page.screenshot({ path: join(appDir, "test-results", "playground.png"), fullPage: true });
    const readme = join(appDir, "screenshot.png");
    if (process.env.PLAYGROUND_SCREENSHOT === "1" || !existsSync(readme)) {
      await page.screenshot({ path: readme });
    }

    // Reset: the VM stops before its first KVM_RUN; each step is one more exit.
    await resetPaused(page);
    await expect.poll(() => exitTotal(page)).toBe(0);
    for (let i = 1; i <= 3; i++) {
      await page.click("#btn-step-exit");
      await expect.poll(() => exitTotal(page)).toBe(i);
      const rows = await page.locator("#exit-table td.samples").allTextContents();
      expect(rows.reduce((s, n) => s + Number(n), 0)).toBe(i);
      const field = page.locator('#vmcs tr[data-field="VM_EXIT_REASON"]');
      await expect.poll(() => field.getAttribute("class")).toMatch(/changed|written/);
      expect(await field.locator("td.writer").textContent()).toContain("cpu (VM exit)");
    }
    await page.click("#btn-step-insn");
    await expect.poll(() => page.locator("#kvm-run").textContent()).toContain("KVM_EXIT_DEBUG");

    await page.screenshot({
      path: join(appDir, "test-results", "playground-stepped.png"),
      fullPage: true,
    });

    // The backend toggle reboots the same guest on kvm_amd.
    expect(await rebootAndFinish(page, () => page.click("#backend-svm"))).toBe(HELLO);
    expect(await page.evaluate(() => location.search)).toContain("backend=svm");
    expect(await page.locator("#cmdline").inputValue()).toContain("-host-cpu amd");
    await resetPaused(page);
    await page.click("#btn-step-exit");
    await expect.poll(() => exitTotal(page)).toBe(1);
    await expect
      .poll(() =>
        page.locator('#vmcs[data-kind="vmcb"] tr[data-field="exit_code"]').getAttribute("class"),
      )
      .toMatch(/changed|written/);

    // Fault injection: AMD-V's VMRUN does not check TR's type; VT-x's VM entry refuses it.
    expect(await rebootAndFinish(page, () => page.check("#fault-tr"))).toBe(HELLO);
    const before = await boots(page);
    await page.click("#backend-vmx");
    await page.waitForFunction((n) => {
      const s = document.querySelector("#status");
      return Number(s?.getAttribute("data-boot")) > n && s?.textContent === "error";
    }, before);
    await expect
      .poll(() => page.locator("#entry-failure").textContent())
      .toContain("SDM 27.3.1.2, guest-tr-type");
    expect(
      await page.locator('#vmcs tr[data-field="GUEST_TR_AR_BYTES"]').getAttribute("class"),
    ).toBe("failed");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("reports guest MIPS (cpu-bench)", async () => {
    const page = await ctx!.newPage();
    await page.goto(`${url}?guest=cpu-bench&backend=vmx`);
    expect(await finished(page)).toBe("cpu-bench checksum: f59c4562\niterations: 1000000\n");
    const cold = Number(await page.locator("#mips").textContent());
    expect(cold).toBeGreaterThan(0);
    // Again in the same worker (its JIT warm): Reset, then Run.
    await resetPaused(page);
    const before = await boots(page);
    await page.click("#btn-run");
    await finished(page, before);
    const warm = Number(await page.locator("#mips").textContent());
    expect(warm).toBeGreaterThan(0);
    console.log(`playground: cpu-bench on VMX in Chromium: ${cold} guest MIPS cold, ${warm} warm`);
    await page.close();
  });

  it("runs each vCPU in a Web Worker of its own (threads multi, smp -smp 2)", async () => {
    const page = await ctx!.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    const workers: string[] = [];
    page.on("worker", (w) => workers.push(w.url()));
    const vcpuWorkers = (): number => workers.filter((w) => w.includes("vcpu-worker")).length;
    await page.goto(url);
    await finished(page);
    // Threads, guest, -smp: each change boots anew (a boot that is overtaken while its
    // vCPU workers load is dropped); the last one runs.
    const before = await boots(page);
    const t0 = Date.now();
    await page.check("#threads-multi");
    await page.selectOption("#guest", "smp");
    await page.selectOption("#smp", "2");
    const SMP2 = "cpu 0 up\ncpu 1 up\nsmp: 2 cpus, counter 200000, ok\n";
    expect(await finished(page, before + 3)).toBe(SMP2);
    const booted = Date.now() - t0;
    const status = page.locator("#status");
    expect(await status.textContent()).toBe("shut down (exit status 1)");
    expect(await page.evaluate(() => location.search)).toBe(
      "?guest=smp&backend=vmx&cpu=qemu64&smp=2&threads=multi",
    );
    expect(await page.locator("#cmdline").inputValue()).toBe(
      "npm run glassvm -- -host-cpu intel -machine pc -accel kvm,thread=multi -m 64 -cpu qemu64 " +
        "-smp 2 -device isa-debug-exit,iobase=0xf4,iosize=0x04 -bios guests/bin/smp.bin -nographic",
    );
    // Two vCPU threads, each handed to a Web Worker the emulator's worker created for it.
    expect(await status.getAttribute("data-vcpu-workers")).toBe("2");
    const created = Number(await status.getAttribute("data-vcpu-workers-created"));
    expect(created).toBeGreaterThanOrEqual(2);
    // Playwright sees them too (nested dedicated workers are reported in Chromium).
    expect(vcpuWorkers()).toBe(created);
    expect(await page.locator("#vcpu-workers").textContent()).toBe("2 Web Workers");
    // The panels of the emulator worker's kernel say why they are empty; no stepping.
    expect(await page.locator(".threaded-note").count()).toBe(4);
    expect(await page.locator("#exit-total").textContent()).toBe("0");
    for (const b of ["#btn-step-exit", "#btn-step-insn", "#btn-trace"]) {
      expect(await page.locator(b).isDisabled()).toBe(true);
      expect(await page.locator(b).getAttribute("title")).toContain("thread=multi");
    }
    // The ioctl log: QEMU's clone() per vCPU thread, and its calls forwarded to their vCPUs.
    const log = (await page.locator("#ioctl-log").textContent()) ?? "";
    expect(log).toContain("clone");
    expect(log).toMatch(/vcpu 1KVM_SET_REGS/);
    // Reset stops before the first KVM_RUN, with two fresh workers; Run resumes them.
    await resetPaused(page);
    expect(await status.getAttribute("data-vcpu-workers-created")).toBe(String(created + 2));
    expect(await page.locator("#regs").textContent()).toContain("000000000000fff0");
    const again = await boots(page);
    const t1 = Date.now();
    await page.click("#btn-run");
    expect(await finished(page, again)).toBe(SMP2);
    const ran = Date.now() - t1;
    expect(vcpuWorkers()).toBe(created + 2);
    console.log(
      `playground: smp -smp 2 thread=multi in Chromium: ${booted} ms from the clicks to shut down ` +
        `(${created} vCPU workers started and loaded, qemuInit, the run), ` +
        `${ran} ms from Run to shut down`,
    );
    expect(errors).toEqual([]);
    await page.close();
  });

  it("works without cross-origin isolation (single-threaded, and says so)", async () => {
    const page = await ctx!.newPage();
    await page.route("**/*", async (route) => {
      const response = await route.fetch();
      const headers = { ...response.headers() };
      delete headers["cross-origin-opener-policy"];
      delete headers["cross-origin-embedder-policy"];
      await route.fulfill({ response, headers });
    });
    await page.goto(`${url}?guest=hello-real&backend=svm&threads=multi`);
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(false);
    expect(await page.locator("#isolation").textContent()).toContain("Not cross-origin isolated");
    // thread=multi needs SharedArrayBuffer: refused, and said so; the VM runs thread=single.
    expect(await page.locator("#threads-refused").textContent()).toContain("SharedArrayBuffer");
    expect(await page.locator("#threads-multi").isDisabled()).toBe(true);
    expect(await page.locator("#threads-single").isChecked()).toBe(true);
    expect(await page.locator("#cmdline").inputValue()).not.toContain("thread=multi");
    expect(await finished(page)).toBe(HELLO);
    // The Perfetto export: Chrome trace-event JSON with a track per vCPU and the exits.
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#btn-trace")]);
    expect(download.suggestedFilename()).toBe("glassvm-trace.json");
    const trace = JSON.parse(await readFile((await download.path())!, "utf8")) as {
      traceEvents: { name: string; ph: string; args?: Record<string, unknown> }[];
    };
    expect(trace.traceEvents.some((e) => e.ph === "M" && e.args?.name === "CPU 0/KVM")).toBe(true);
    expect(trace.traceEvents.some((e) => e.name === "io" && e.ph === "B")).toBe(true);
    // A multiboot ELF from disk: loaded with -kernel, its console on COM1.
    const out = await rebootAndFinish(page, () =>
      page.setInputFiles("#file", join(appDir, "../../guests/bin/multiboot-hello.elf")),
    );
    expect(out).toMatch(/^Hello from multiboot!\ncmdline: multiboot-hello\.elf/);
    expect(await page.locator("#cmdline").inputValue()).toContain(
      "-kernel multiboot-hello.elf -nographic",
    );
    await page.close();
  });
});
