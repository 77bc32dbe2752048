// jazz-tools-bundle: compiles a module's `app` (and optional `permissions`)
// to the bundle JSON, writes it, and optionally publishes it to a server.
// Node specifics are passed in by bin/jazz-tools-bundle, so this file stays
// free of Node types and is tested directly.
import { compileBundle } from "../bundle.js";
import type { Permissions } from "../permissions.js";
import type { AnyApp } from "../schema.js";

export interface CliDeps {
  importModule(path: string): Promise<Record<string, unknown>>;
  writeFile(path: string, data: string): Promise<void>;
  fetch: typeof fetch;
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
}

export const USAGE = `usage: jazz-tools-bundle <module.js> [--out bundle.json] [--deploy --server URL --app APP_ID --admin-secret SECRET [--force]]

Imports <module.js>, which exports \`app\` (from schema.defineApp) and optionally
\`permissions\` (from schema.definePermissions), and writes the app bundle JSON to
--out (default: stdout). --deploy also PUTs it to <server>/apps/<app>/admin/bundle
with the X-Jazz-Admin-Secret header (--admin-secret, or $JAZZ_ADMIN_SECRET).
The server refuses a schema change that would break stored rows or clients
still running the previous schema, saying why and how to fix it; --force
publishes it anyway where that can work (docs/schema-changes.md).
TypeScript modules: run with a loader, e.g. node --import tsx $(which jazz-tools-bundle) app.ts
`;

const VALUE_FLAGS = new Set(["--out", "--server", "--app", "--admin-secret"]);

function parse(argv: string[]): { module?: string; flags: Map<string, string | true> } {
  const flags = new Map<string, string | true>();
  let module: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [name, inline] = a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    if (VALUE_FLAGS.has(name)) {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${name} needs a value`);
      flags.set(name, v);
    } else if (name === "--deploy" || name === "--force" || name === "--help" || name === "-h") {
      flags.set(name, true);
    } else if (name.startsWith("-")) {
      throw new Error(`unknown option ${name}`);
    } else if (module === undefined) {
      module = name;
    } else {
      throw new Error(`unexpected argument ${name}`);
    }
  }
  return module === undefined ? { flags } : { module, flags };
}

function isApp(v: unknown): v is AnyApp {
  return typeof v === "object" && v !== null && typeof (v as AnyApp).$schema === "object";
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[], deps: CliDeps): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (e) {
    deps.err(`jazz-tools-bundle: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { module, flags } = args;
  if (flags.has("--help") || flags.has("-h")) {
    deps.out(USAGE);
    return 0;
  }
  if (!module) {
    deps.err(USAGE);
    return 2;
  }
  const str = (f: string) => (typeof flags.get(f) === "string" ? (flags.get(f) as string) : undefined);
  const deploy = flags.has("--deploy");
  const server = str("--server");
  const appId = str("--app");
  const secret = str("--admin-secret") ?? deps.env.JAZZ_ADMIN_SECRET;
  if (deploy && (!server || !appId || !secret)) {
    deps.err("jazz-tools-bundle: --deploy needs --server, --app and --admin-secret (or $JAZZ_ADMIN_SECRET)\n");
    return 2;
  }

  let json: string;
  try {
    const mod = await deps.importModule(module);
    const source = isApp(mod.app) ? mod : ((mod.default ?? {}) as Record<string, unknown>);
    if (!isApp(source.app)) throw new Error(`${module} does not export \`app\` (made with schema.defineApp)`);
    json = JSON.stringify(compileBundle(source.app, source.permissions as Permissions | undefined), null, 2) + "\n";
  } catch (e) {
    const hint = /ERR_UNKNOWN_FILE_EXTENSION/.test(String((e as { code?: string }).code)) ? "\n(for a .ts module run node with a TypeScript loader; see --help)" : "";
    deps.err(`jazz-tools-bundle: ${(e as Error).message ?? String(e)}${hint}\n`);
    return 1;
  }

  const outPath = str("--out");
  if (outPath) await deps.writeFile(outPath, json);
  else if (!deploy) deps.out(json);

  if (deploy) {
    const url = `${server!.replace(/\/+$/, "")}/apps/${encodeURIComponent(appId!)}/admin/bundle${flags.has("--force") ? "?force=true" : ""}`;
    let res: Response;
    try {
      res = await deps.fetch(url, { method: "PUT", headers: { "Content-Type": "application/json", "X-Jazz-Admin-Secret": secret! }, body: json });
    } catch (e) {
      deps.err(`jazz-tools-bundle: could not reach ${url}: ${(e as Error).message}\n`);
      return 1;
    }
    if (!res.ok) {
      deps.err(`jazz-tools-bundle: ${url} answered ${res.status}: ${(await res.text()).slice(0, 2000)}\n`);
      return 1;
    }
    deps.err(`jazz-tools-bundle: published the bundle of ${appId} to ${server}\n`);
  }
  return 0;
}
