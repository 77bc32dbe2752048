// Credentials for the backend tests, made with node:crypto only: external
// JWTs signed by a test identity provider (Ed25519), and local-first tokens
// and proofs in the format of docs/auth.md (checked against its vector).
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, hkdfSync, randomBytes, sign, type KeyObject } from "node:crypto";

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

/** The external identity provider: its public JWK goes to the server and the backend. */
export const provider = (() => {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const jwk = publicKey.export({ format: "jwk" });
  return { privateKey, jwk: JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }) };
})();

function jws(key: KeyObject, header: object, payload: object): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${b64url(sign(null, Buffer.from(input), key))}`;
}

/** An external JWT for sub, valid for ttlSeconds (negative: expired that long ago). */
export function externalJwt(sub: string, ttlSeconds = 3600, extra: object = {}): string {
  const now = Math.floor(Date.now() / 1000);
  const iat = ttlSeconds < 0 ? now + 2 * ttlSeconds : now;
  return jws(provider.privateKey, { alg: "EdDSA", typ: "JWT" }, { sub, iat, exp: now + ttlSeconds, ...extra });
}

/** A local-first identity from a 32-byte secret (docs/auth.md, "Derivation"). */
export function localFirstIdentity(secret: Buffer = randomBytes(32)) {
  const seed = Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), "jazz-tools/local-first/v1/ed25519", 32));
  const privateKey = createPrivateKey({ key: Buffer.concat([Buffer.from("302e020100300506032b657004220420", "hex"), seed]), format: "der", type: "pkcs8" });
  const x = createPublicKey(privateKey).export({ format: "jwk" }).x as string;
  const h = createHash("sha256").update("jazz-tools/local-first/v1/user-id").update(Buffer.from(x, "base64url")).digest();
  const b = h.subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x80;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = b.toString("hex");
  const userId = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  const mint = (iss: string, aud: string, ttl: number, now = Math.floor(Date.now() / 1000)) =>
    jws(
      privateKey,
      { alg: "EdDSA", jwk: { crv: "Ed25519", kty: "OKP", x }, typ: "JWT" },
      { iss, sub: userId, aud, iat: now, nbf: now, exp: now + ttl, jti: b64url(randomBytes(16)) },
    );
  return {
    secret: b64url(secret),
    userId,
    /** A session token for appId. */
    token: (appId: string, ttl = 600) => mint("urn:jazz:local-first", appId, ttl),
    /** An identity proof for audience. */
    proof: (audience: string, ttl = 300, now?: number) => mint("urn:jazz:local-first-proof", audience, ttl, now),
  };
}
