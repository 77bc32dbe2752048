// Seed page "Sessions": the backend snippet, verbatim, against the real
// jazz-tools/backend. `context` and `schemaApp` are what the page assumes
// the app has in scope; the test sets the context.
import type { JazzContext } from "../../src/backend/index.js";
import { app as schemaApp } from "../seeds/app.js";

let context: JazzContext;
export function setSeedContext(c: JazzContext): void {
  context = c;
}

export async function createAttributedHandles(req: Request) {
  const syntheticSession = {
    user_id: "user_123",
    authMode: "external" as const,
    claims: {},
  };

  return {
    backendDb: context.asBackend(schemaApp),
    attributedDb: context.withAttribution("user_123", schemaApp),
    attributedSessionDb: context.withAttributionForSession(syntheticSession, schemaApp),
    attributedRequestDb: await context.withAttributionForRequest(req, schemaApp),
  };
}
