// Verifies a local-first identity proof (made by db.getLocalFirstIdentityProof
// with this issuer's URL as audience) and returns the user_id it proves.
import { loadCore } from "jazz-tools";
import { loadBackend } from "./backend.ts";

export async function verifyProof(proof: string, audience: string): Promise<string> {
  const backend = await loadBackend();
  if (backend) return backend.verifyLocalFirstIdentityProof(proof, audience);
  // A jazz-tools built without jazz-tools/backend: the same check, straight from the core.
  return (await loadCore()).verifyLocalFirstIdentityProof(proof, audience);
}
