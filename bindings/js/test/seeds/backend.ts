// Seed page "Sessions": the backend snippet. createJazzContext lives in
// jazz-tools/backend, which another part of the project provides; the
// context it returns is declared here with the shape the snippet uses.
import type { Db, Session } from "jazz-tools";
import { app as schemaApp } from "./app.js";

declare const context: {
  asBackend(app: typeof schemaApp): Db;
  withAttribution(userId: string, app: typeof schemaApp): Db;
  withAttributionForSession(session: Session, app: typeof schemaApp): Db;
  withAttributionForRequest(req: Request, app: typeof schemaApp): Promise<Db>;
};

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
