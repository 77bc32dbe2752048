// The dev JWT issuer of the example apps: a stand-in for a real auth
// provider, on loopback only. Not for production (users are usernames, no
// passwords).
//
//   node --import tsx server.ts [--port 1626] [--ttl 60] [--server-url http://127.0.0.1:1625]
//                               [--backend-secret S] [--data-dir DIR] [--refresh-delay-ms 0]
//
//   GET  /.well-known/jwks.json  the public key (Ed25519, generated at start)
//   POST /sign-in  {username}    -> {token, sub}: a short-lived JWT + refresh cookie
//   POST /refresh                -> {token, sub}: a fresh JWT for the cookie's user
//   POST /sign-up  {proof, username}
//                                -> verifies the local-first identity proof and issues
//                                   JWTs whose sub is that user_id (identity kept)
//   POST /sign-out               drops the refresh cookie
//   POST /api/announce {text}    backend route: forRequest(req) + withAttribution(...)
//   GET  /health
//
// Every flag also reads ISSUER_<FLAG> (e.g. ISSUER_TTL=5).
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { APP_ID } from "@examples/shared/config";
import { closeBackend, handleAnnounce } from "./backend.ts";
import { HttpError } from "./http-error.ts";
import { verifyProof } from "./proof.ts";

const { values: flags } = parseArgs({
  options: {
    host: { type: "string", default: process.env.ISSUER_HOST ?? "127.0.0.1" },
    port: { type: "string", default: process.env.ISSUER_PORT ?? "1626" },
    ttl: { type: "string", default: process.env.ISSUER_TTL ?? "60" },
    "server-url": { type: "string", default: process.env.ISSUER_SERVER_URL ?? "http://127.0.0.1:1625" },
    "backend-secret": { type: "string", default: process.env.ISSUER_BACKEND_SECRET ?? "dev-backend-secret" },
    "data-dir": { type: "string", default: process.env.ISSUER_DATA_DIR ?? "" },
    // Simulates a slow auth provider: /refresh answers after this delay (tests use it to
    // make a token expire while its refresh is in flight).
    "refresh-delay-ms": { type: "string", default: process.env.ISSUER_REFRESH_DELAY_MS ?? "0" },
  },
});

const TTL = Number(flags.ttl);
if (!Number.isInteger(TTL) || TTL < 1) throw new Error(`--ttl must be a whole number of seconds, got ${flags.ttl}`);
const REFRESH_DELAY_MS = Number(flags["refresh-delay-ms"]) || 0;
const REFRESH_COOKIE = "jazz_examples_refresh";

// --- keys and JWTs ----------------------------------------------------------

const { publicKey, privateKey } = generateKeyPairSync("ed25519");
const kid = randomBytes(8).toString("base64url");
const jwks = { keys: [{ ...(publicKey.export({ format: "jwk" }) as object), kid, alg: "EdDSA", use: "sig" }] };

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

function signJwt(payload: Record<string, unknown>, key: KeyObject = privateKey): string {
  const input = `${b64({ alg: "EdDSA", typ: "JWT", kid })}.${b64(payload)}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString("base64url")}`;
}

let issuerUrl = ""; // set once listening

function issue(user: User): { token: string; sub: string } {
  const now = Math.floor(Date.now() / 1000);
  const token = signJwt({
    iss: issuerUrl,
    aud: APP_ID,
    sub: user.sub,
    iat: now,
    nbf: now,
    exp: now + TTL,
    jti: randomBytes(12).toString("base64url"),
    username: user.username,
  });
  return { token, sub: user.sub };
}

// --- users and refresh sessions ---------------------------------------------

interface User {
  username: string;
  sub: string;
}

/** Usernames that signed up from local-first, bound to their local-first user_id. */
const linked = new Map<string, string>();
const usersFile = flags["data-dir"] ? join(flags["data-dir"], "issuer-users.json") : "";
if (usersFile) {
  mkdirSync(flags["data-dir"]!, { recursive: true });
  try {
    for (const [u, s] of Object.entries(JSON.parse(readFileSync(usersFile, "utf8")) as Record<string, string>)) linked.set(u, s);
  } catch {
    // first start
  }
}
const saveUsers = () => usersFile && writeFileSync(usersFile, JSON.stringify(Object.fromEntries(linked), null, 2));

/** A stable id per username (the same across restarts), in UUID form; or the linked local-first id. */
function userFor(username: string): User {
  const linkedSub = linked.get(username);
  if (linkedSub) return { username, sub: linkedSub };
  const h = createHash("sha256").update(`jazz-examples-issuer/user/${username}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return { username, sub: `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}` };
}

/** refresh cookie value -> user */
const sessions = new Map<string, User>();

function startSession(res: ServerResponse, user: User): void {
  const id = randomBytes(24).toString("base64url");
  sessions.set(id, user);
  // The apps are served from other ports of the same host: same site, so a
  // SameSite=Strict cookie still goes along with credentials: "include".
  res.setHeader("set-cookie", `${REFRESH_COOKIE}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=86400`);
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return v.join("=");
  }
  return undefined;
}

// --- HTTP ---------------------------------------------------------------------

const USERNAME = /^[A-Za-z0-9_.-]{1,40}$/;

function isLoopbackOrigin(origin: string): boolean {
  try {
    const u = new URL(origin);
    return u.protocol === "http:" && ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname);
  } catch {
    return false;
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 64 * 1024) throw new HttpError(413, "body too large");
    chunks.push(c);
  }
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as unknown;
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // below
  }
  throw new HttpError(400, "expected a JSON object");
}

function log(msg: string, extra: Record<string, unknown> = {}): void {
  console.error(JSON.stringify({ time: new Date().toISOString(), msg, ...extra }));
}

const routes: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>> = {
  "GET /health": async (_req, res) => send(res, 200, { status: "ok", ttl: TTL }),
  "GET /.well-known/jwks.json": async (_req, res) => send(res, 200, jwks),

  "POST /sign-in": async (req, res) => {
    const { username } = await readJson(req);
    if (typeof username !== "string" || !USERNAME.test(username)) throw new HttpError(400, "username: 1-40 of A-Z a-z 0-9 _ . -");
    const user = userFor(username);
    startSession(res, user);
    log("sign-in", { username, sub: user.sub });
    send(res, 200, issue(user));
  },

  "POST /refresh": async (req, res) => {
    const user = sessions.get(cookie(req, REFRESH_COOKIE) ?? "");
    if (!user) throw new HttpError(401, "no refresh session: sign in again");
    if (REFRESH_DELAY_MS > 0) await new Promise((r) => setTimeout(r, REFRESH_DELAY_MS));
    log("refresh", { username: user.username, sub: user.sub });
    send(res, 200, issue(user));
  },

  "POST /sign-up": async (req, res) => {
    const { proof, username } = await readJson(req);
    if (typeof proof !== "string") throw new HttpError(400, "proof: the local-first identity proof");
    if (typeof username !== "string" || !USERNAME.test(username)) throw new HttpError(400, "username: 1-40 of A-Z a-z 0-9 _ . -");
    let sub: string;
    try {
      // The proof's audience is this issuer's URL: a proof minted for
      // another provider cannot be replayed here.
      sub = await verifyProof(proof, issuerUrl);
    } catch (e) {
      throw new HttpError(401, `invalid proof: ${(e as Error).message}`);
    }
    const existing = linked.get(username);
    if (existing && existing !== sub) throw new HttpError(409, "username taken");
    linked.set(username, sub);
    saveUsers();
    const user = { username, sub };
    startSession(res, user);
    log("sign-up", { username, sub });
    send(res, 200, issue(user));
  },

  "POST /sign-out": async (req, res) => {
    sessions.delete(cookie(req, REFRESH_COOKIE) ?? "");
    res.setHeader("set-cookie", `${REFRESH_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`);
    send(res, 200, { ok: true });
  },

  "POST /api/announce": async (req, res) => {
    const { text } = await readJson(req);
    if (typeof text !== "string" || text.length === 0 || text.length > 200) throw new HttpError(400, "text: 1-200 characters");
    send(res, 200, await handleAnnounce(req, text, { appId: APP_ID, serverUrl: flags["server-url"]!, backendSecret: flags["backend-secret"]!, jwksUrl: `${issuerUrl}/.well-known/jwks.json` }));
  },
};

const server = createServer((req, res) => {
  const origin = req.headers.origin;
  if (origin && isLoopbackOrigin(origin)) {
    res.setHeader("access-control-allow-origin", origin);
    res.setHeader("access-control-allow-credentials", "true");
    res.setHeader("vary", "origin");
  }
  if (req.method === "OPTIONS") {
    res.writeHead(origin && isLoopbackOrigin(origin) ? 204 : 403, {
      "access-control-allow-methods": "GET, POST, OPTIONS",
      "access-control-allow-headers": "content-type, authorization",
      "access-control-max-age": "600",
    });
    res.end();
    return;
  }
  if (origin && !isLoopbackOrigin(origin) && req.method !== "GET") return send(res, 403, { error: "origin not allowed" });
  const route = routes[`${req.method} ${new URL(req.url ?? "/", "http://x").pathname}`];
  if (!route) return send(res, 404, { error: "not_found" });
  route(req, res).catch((e: unknown) => {
    const status = e instanceof HttpError ? e.status : 500;
    if (status === 500) log("error", { error: String((e as Error)?.stack ?? e) });
    if (!res.headersSent) send(res, status, { error: (e as Error).message ?? String(e) });
  });
});

server.listen(Number(flags.port), flags.host, () => {
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : Number(flags.port);
  issuerUrl = `http://${flags.host}:${port}`;
  // scripts and tests wait for this line
  console.error(`issuer listening on ${issuerUrl} (JWT ttl ${TTL}s, jwks ${issuerUrl}/.well-known/jwks.json)`);
});

for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    server.close();
    server.closeAllConnections();
    // Flush the backend's unacknowledged writes, but never hang on the way out.
    void Promise.race([closeBackend(), new Promise((r) => setTimeout(r, 2000))]).finally(() => process.exit(0));
  });
}
