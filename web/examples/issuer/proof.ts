// Verifies a local-first identity proof (made by db.getLocalFirstIdentityProof
// with this issuer's URL as audience) and returns the user_id it proves.
// Verifying is a server's job: it lives in jazz-tools/backend (its
// jazz-backend.wasm), not in the browser core.
import { HttpError } from "./http-error.ts";
import { loadBackend } from "./backend.ts";

export async function verifyProof(proof: string, audience: string): Promise<string> {
  const backend = await loadBackend();
  if (!backend) throw new HttpError(501, "jazz-tools/backend is not available in this build of jazz-tools");
  return backend.verifyLocalFirstIdentityProof(proof, audience);
}
