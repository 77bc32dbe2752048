// A tiny static server for the built example apps (their dist/ folders), one
// port per app, loopback only. Used by scripts/dev/run.sh and the e2e tests.
//
//   node serve.mjs react=5173 vue=5174 svelte=5175     (port 0 picks a free one)
//
// As a module: `const { url, close } = await serveDir(dir, port)`.
import { createReadStream, existsSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

/** Serves dir on 127.0.0.1:port; unknown paths get index.html (single-page app). */
export function serveDir(dir, port = 0, host = "127.0.0.1") {
  const root = resolve(dir);
  if (!existsSync(join(root, "index.html"))) throw new Error(`${root}/index.html is missing: build the app first (npm run build)`);
  const server = createServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    let file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    if (!existsSync(file) || statSync(file).isDirectory()) file = join(root, "index.html");
    const ext = extname(file);
    res.writeHead(200, {
      "content-type": TYPES[ext] ?? "application/octet-stream",
      // hashed assets may be cached; the page itself never is, so a rebuild shows up on reload
      "cache-control": file.includes(`${sep}assets${sep}`) ? "public, max-age=31536000, immutable" : "no-cache",
    });
    createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => {
      const addr = server.address();
      ok({
        url: `http://${host}:${addr.port}`,
        close: () => new Promise((done) => (server.closeAllConnections(), server.close(() => done()))),
      });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const here = dirname(fileURLToPath(import.meta.url));
  const pairs = process.argv.slice(2);
  if (pairs.length === 0) pairs.push("react=5173", "vue=5174", "svelte=5175");
  for (const pair of pairs) {
    const [name, port] = pair.split("=");
    const { url } = await serveDir(join(here, name, "dist"), Number(port ?? 0));
    console.log(`${name}: ${url}/`);
  }
}
