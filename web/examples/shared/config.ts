// Where the example apps find the sync server and the dev issuer: built in
// from VITE_JAZZ_SERVER_URL / VITE_ISSUER_URL (scripts/dev/run.sh sets them),
// else the default ports; `?server=...&issuer=...` in the page URL overrides
// both (the e2e tests give every test its own server and issuer).
export const APP_ID = "jazz-examples";

const env: Record<string, string | undefined> = (import.meta as { env?: Record<string, string | undefined> }).env ?? {};
export const DEFAULT_SERVER_URL = env.VITE_JAZZ_SERVER_URL || "http://127.0.0.1:1625";
export const DEFAULT_ISSUER_URL = env.VITE_ISSUER_URL || "http://127.0.0.1:1626";

function param(name: string): string | null {
  if (typeof location === "undefined") return null;
  return new URLSearchParams(location.search).get(name);
}

export const serverUrl: string = param("server") ?? DEFAULT_SERVER_URL;
export const issuerUrl: string = param("issuer") ?? DEFAULT_ISSUER_URL;
