// The app bundle (core/bundle, version 1): schema plus policies, the
// document the admin publishes to the server.
import type { Permissions, TablePolicyJSON } from "./permissions.js";
import type { AnyApp, SchemaJSON } from "./schema.js";

export interface Bundle {
  version: 1;
  schema: SchemaJSON;
  policies: Record<string, TablePolicyJSON>;
}

/**
 * Compiles an app and its permissions to the bundle JSON core/bundle decodes.
 * Without permissions every operation on every table is denied.
 */
export function compileBundle(app: AnyApp, permissions?: Permissions): Bundle {
  if (permissions && permissions.app !== app) {
    throw new TypeError("compileBundle: the permissions were defined for a different app");
  }
  return {
    version: 1,
    schema: structuredClone(app.$schema),
    policies: structuredClone(permissions?.policies ?? {}),
  };
}
