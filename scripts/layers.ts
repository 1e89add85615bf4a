/**
 * The import-rule check of design.md ("Packages and who may import whom").
 *
 * The graph comes from the TypeScript compiler itself: every module specifier in the AST of
 * every .ts file under each workspace package's src/ and examples/, resolved with
 * ts.resolveModuleName and that package's compiler options (customConditions included), so
 * `@glassvm/x` lands where tsc and the bundlers land. The rules are data (LAYER_RULES);
 * checkImportGraph() is a pure function of workspaces + edges, so tests can feed it
 * synthetic graphs.
 *
 * Run: npx tsx scripts/layers.ts   (exit 1 and one line per violation when the rules break)
 */
import { readdirSync, readFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import ts from "typescript";

/** Any exported subpath of the target package may be imported. */
export const ANY = "*";

export interface LayerRule {
  /** Workspace directory → the exported subpaths ("." or "./uapi") this package may import. */
  readonly may: Readonly<Record<string, typeof ANY | readonly string[]>>;
  /** Node built-ins allowed in non-test src files (false = must stay browser-safe). */
  readonly node: boolean;
}

const BELOW_CLI = {
  "packages/qom": ANY,
  "packages/x86": ANY,
  "packages/kvm-kernel": ANY,
  "packages/vmx": ANY,
  "packages/svm": ANY,
  "packages/qemu-machine": ANY,
} as const;

/** design.md, keyed by workspace directory. A package missing here fails the check. */
export const LAYER_RULES: Readonly<Record<string, LayerRule>> = {
  "packages/qom": { may: {}, node: false },
  "packages/x86": { may: {}, node: false },
  "packages/kvm-kernel": { may: {}, node: false },
  "packages/vmx": { may: { "packages/x86": ANY, "packages/kvm-kernel": ANY }, node: false },
  "packages/svm": { may: { "packages/x86": ANY, "packages/kvm-kernel": ANY }, node: false },
  "packages/qemu-machine": {
    may: { "packages/qom": ANY, "packages/kvm-kernel": ["./uapi"] },
    node: false,
  },
  "packages/cli": { may: BELOW_CLI, node: true },
  // Runs in the browser: everything below it, but no node built-ins outside tests.
  "apps/playground": { may: { ...BELOW_CLI, "packages/cli": ANY }, node: false },
};

export interface Workspace {
  readonly name: string;
  /** Repo-relative, posix separators: "packages/qom". */
  readonly dir: string;
  readonly private: boolean;
  /** package.json "exports", normalized to a subpath map ({".": …}). */
  readonly exports: Readonly<Record<string, unknown>>;
  /** dependencies + peerDependencies + optionalDependencies. */
  readonly deps: ReadonlySet<string>;
}

export interface ImportEdge {
  /** Repo-relative importing file. */
  readonly file: string;
  readonly line: number;
  readonly specifier: string;
  /** Repo-relative file the compiler resolved it to, or null. */
  readonly resolved: string | null;
}

export type ViolationRule =
  | "unknown-package"
  | "layer"
  | "reach-in"
  | "deep-import"
  | "node-builtin"
  | "undeclared"
  | "unresolved";

export interface Violation {
  readonly file: string;
  readonly line: number;
  readonly specifier: string;
  readonly rule: ViolationRule;
  readonly message: string;
}

/** Directories of a workspace package whose files are scanned. */
export const SCANNED_DIRS = ["src", "examples"] as const;

const TS_FILE = /\.(ts|tsx|mts|cts)$/;
const TEST_FILE = /\.(test|spec)\.(ts|tsx|mts|cts)$/;

const toPosix = (p: string): string => p.split(sep).join("/");
const readJson = (file: string): Record<string, unknown> =>
  JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;

function normalizeExports(exp: unknown): Record<string, unknown> {
  if (exp === undefined) return { ".": "main" };
  if (typeof exp !== "object" || exp === null || Array.isArray(exp)) return { ".": exp };
  const keys = Object.keys(exp);
  return keys.every((k) => k.startsWith(".")) ? (exp as Record<string, unknown>) : { ".": exp };
}

/** Workspace packages from the root package.json "workspaces" (only "dir/*" globs). */
export function loadWorkspaces(root: string): Workspace[] {
  const patterns = (readJson(join(root, "package.json")).workspaces ?? []) as string[];
  const out: Workspace[] = [];
  for (const pattern of patterns) {
    if (!pattern.endsWith("/*") || pattern.slice(0, -2).includes("*")) {
      throw new Error(`layers: unsupported workspaces pattern "${pattern}"`);
    }
    const parent = join(root, pattern.slice(0, -2));
    let entries: string[];
    try {
      entries = readdirSync(parent).sort();
    } catch {
      continue;
    }
    for (const entry of entries) {
      let pkg: Record<string, unknown>;
      try {
        pkg = readJson(join(parent, entry, "package.json"));
      } catch {
        continue;
      }
      const deps = ["dependencies", "peerDependencies", "optionalDependencies"].flatMap((k) =>
        Object.keys((pkg[k] ?? {}) as object),
      );
      out.push({
        name: String(pkg.name),
        dir: toPosix(relative(root, join(parent, entry))),
        private: pkg.private === true,
        exports: normalizeExports(pkg.exports),
        deps: new Set(deps),
      });
    }
  }
  return out;
}

function listTsFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir, { recursive: true, encoding: "utf8" });
  } catch {
    return [];
  }
  return names
    .filter((n) => TS_FILE.test(n) && !n.split(sep).includes("node_modules"))
    .sort()
    .map((n) => join(dir, n));
}

function compilerOptionsFor(root: string, pkgDir: string): ts.CompilerOptions {
  const own = join(pkgDir, "tsconfig.json");
  const file = ts.sys.fileExists(own) ? own : join(root, "tsconfig.base.json");
  const parsed = ts.getParsedCommandLineOfConfigFile(file, undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(`layers: ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
    },
  });
  if (!parsed) throw new Error(`layers: cannot read ${file}`);
  return parsed.options;
}

/** Every module specifier in a file: import/export from, import =, import(), require(), import("x").T. */
function moduleSpecifiers(sf: ts.SourceFile): ts.StringLiteralLike[] {
  const found: ts.StringLiteralLike[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier) {
      if (ts.isStringLiteral(n.moduleSpecifier)) found.push(n.moduleSpecifier);
    } else if (
      ts.isImportEqualsDeclaration(n) &&
      ts.isExternalModuleReference(n.moduleReference) &&
      ts.isStringLiteral(n.moduleReference.expression)
    ) {
      found.push(n.moduleReference.expression);
    } else if (ts.isCallExpression(n)) {
      const callee = n.expression;
      const isLoad =
        callee.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(callee) && callee.text === "require");
      const arg = n.arguments[0];
      if (isLoad && arg && ts.isStringLiteralLike(arg)) found.push(arg);
    } else if (
      ts.isImportTypeNode(n) &&
      ts.isLiteralTypeNode(n.argument) &&
      ts.isStringLiteral(n.argument.literal)
    ) {
      found.push(n.argument.literal);
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

/** The import graph of every scanned file, resolved by the TypeScript compiler. */
export function buildImportGraph(root: string, workspaces: readonly Workspace[]): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const ws of workspaces) {
    const pkgDir = join(root, ws.dir);
    const files = SCANNED_DIRS.flatMap((d) => listTsFiles(join(pkgDir, d)));
    if (files.length === 0) continue;
    const options = compilerOptionsFor(root, pkgDir);
    // Parse only (sets each file's ESM/CJS format); resolution is done below, per specifier.
    const program = ts.createProgram({
      rootNames: files,
      options: { ...options, noLib: true, noResolve: true, types: [], noEmit: true },
    });
    const cache = ts.createModuleResolutionCache(pkgDir, (s) => s, options);
    for (const file of files) {
      const sf = program.getSourceFile(file);
      if (!sf) throw new Error(`layers: TypeScript did not load ${file}`);
      for (const lit of moduleSpecifiers(sf)) {
        const mode = ts.getModeForUsageLocation(sf, lit, options);
        const { resolvedModule } = ts.resolveModuleName(
          lit.text,
          file,
          options,
          ts.sys,
          cache,
          undefined,
          mode,
        );
        const target = resolvedModule && ts.sys.realpath!(resolvedModule.resolvedFileName);
        edges.push({
          file: toPosix(relative(root, file)),
          line: sf.getLineAndCharacterOfPosition(lit.getStart(sf)).line + 1,
          specifier: lit.text,
          resolved: target ? toPosix(relative(root, target)) : null,
        });
      }
    }
  }
  return edges;
}

function owning(workspaces: readonly Workspace[], file: string): Workspace | undefined {
  return workspaces.find((w) => file.startsWith(`${w.dir}/`));
}

function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier);
}

function isExported(ws: Workspace, subpath: string): boolean {
  for (const [key, target] of Object.entries(ws.exports)) {
    const star = key.indexOf("*");
    const hit =
      star < 0
        ? key === subpath
        : subpath.startsWith(key.slice(0, star)) && subpath.endsWith(key.slice(star + 1));
    if (hit) return target !== null;
  }
  return false;
}

function describeMay(rule: LayerRule, dirToName: Map<string, string>): string {
  const parts = Object.entries(rule.may).map(([dir, subs]) => {
    const name = dirToName.get(dir) ?? dir;
    return subs === ANY ? name : subs.map((s) => (s === "." ? name : `${name}${s.slice(1)}`));
  });
  return parts.length ? `only ${parts.flat().join(", ")}` : "no other workspace package";
}

/** Checks an import graph against the rule table. Pure: no file system access. */
export function checkImportGraph(
  workspaces: readonly Workspace[],
  edges: readonly ImportEdge[],
  rules: Readonly<Record<string, LayerRule>> = LAYER_RULES,
): Violation[] {
  const out: Violation[] = [];
  const byName = new Map(workspaces.map((w) => [w.name, w]));
  const dirToName = new Map(workspaces.map((w) => [w.dir, w.name]));
  const report = (e: ImportEdge, rule: ViolationRule, why: string): void => {
    out.push({
      ...e,
      rule,
      message: `${e.file}:${e.line}: import "${e.specifier}" breaks rule "${rule}": ${why}`,
    });
  };

  for (const ws of workspaces) {
    if (rules[ws.dir]) continue;
    const e = { file: `${ws.dir}/package.json`, line: 1, specifier: ws.name, resolved: null };
    out.push({
      ...e,
      rule: "unknown-package",
      message: `${e.file}: workspace package ${ws.name} (${ws.dir}) has no entry in LAYER_RULES (scripts/layers.ts); add it with the imports design.md allows`,
    });
  }

  for (const e of edges) {
    const owner = owning(workspaces, e.file);
    if (!owner) {
      report(e, "reach-in", "the importing file belongs to no workspace package");
      continue;
    }
    const rule = rules[owner.dir];
    const isTest = TEST_FILE.test(e.file);
    const inSrc = e.file.startsWith(`${owner.dir}/src/`);
    const spec = e.specifier;

    if (spec.startsWith("node:") || isBuiltin(spec)) {
      if (rule && !rule.node && !isTest && inSrc) {
        report(e, "node-builtin", `${owner.name} must stay browser-safe: no node built-ins in src`);
      }
      continue;
    }

    if (spec.startsWith(".") || spec.startsWith("/")) {
      if (e.resolved === null) {
        report(e, "unresolved", "TypeScript cannot resolve this relative import");
        continue;
      }
      const target = owning(workspaces, e.resolved);
      if (target !== owner) {
        const where = target ? `${target.name} (${e.resolved})` : e.resolved;
        report(
          e,
          "reach-in",
          `relative path leaves ${owner.dir} into ${where}; import the package by name through its "exports"`,
        );
      }
      continue;
    }

    const name = packageName(spec);
    const target = byName.get(name);
    const subpath = `.${spec.slice(name.length)}`;
    if (target && !isExported(target, subpath)) {
      report(
        e,
        "deep-import",
        `${name} does not export "${subpath}" in its package.json "exports"`,
      );
      continue;
    }
    if (e.resolved === null) {
      report(e, "unresolved", "TypeScript cannot resolve this import");
      continue;
    }
    if (target && target !== owner && rule) {
      const may = rule.may[target.dir];
      if (may === undefined || (may !== ANY && !may.includes(subpath))) {
        report(
          e,
          "layer",
          `${owner.name} (${owner.dir}) may import ${describeMay(rule, dirToName)} (design.md "Packages and who may import whom")`,
        );
        continue;
      }
    }
    // Published code only: examples and tests may use the repo's devDependencies.
    if (inSrc && !isTest && target !== owner && !owner.deps.has(name)) {
      report(e, "undeclared", `${name} is not in ${owner.dir}/package.json "dependencies"`);
    }
  }
  return out;
}

/** Loads the workspaces under root, builds the graph and checks it. */
export function checkRepo(root: string, rules: Readonly<Record<string, LayerRule>> = LAYER_RULES) {
  const workspaces = loadWorkspaces(root);
  const edges = buildImportGraph(root, workspaces);
  return { workspaces, edges, violations: checkImportGraph(workspaces, edges, rules) };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = resolve(dirname(new URL(import.meta.url).pathname), "..");
  const { workspaces, edges, violations } = checkRepo(root);
  for (const v of violations) console.error(v.message);
  console.log(
    `layers: ${workspaces.length} packages, ${edges.length} imports, ${violations.length} violations`,
  );
  process.exitCode = violations.length ? 1 : 0;
}
