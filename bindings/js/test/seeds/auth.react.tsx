// Seed page "Authentication": the React and TypeScript snippets, verbatim,
// with only imports and the declarations they assume added.
import { useState, type ReactNode } from "react";
import { createDb, type AuthState as JazzAuthState, type Db, type Session } from "jazz-tools";
import { JazzProvider, useAuthState, useLocalFirstAuth } from "jazz-tools/react";
import { fetchFreshJwt, getFreshJwtForCurrentUser, readStoredJwt, setJwtToken } from "./env.js";

function TodoApp(): ReactNode {
  return <p>todo app</p>;
}
function App(): ReactNode {
  return <p>app</p>;
}

export function JwtAuthApp() {
  return (
    <JazzProvider
      config={{
        appId: "my-app",
        serverUrl: "http://127.0.0.1:4200",
        jwtToken: "<provider-jwt>",
      }}
    >
      <TodoApp />
    </JazzProvider>
  );
}

export async function createJwtDb() {
  return createDb({
    appId: "my-app",
    serverUrl: "http://127.0.0.1:4200",
    jwtToken: "<provider-jwt>",
  });
}

export function SignInOrOut() {
  const [jwtToken, setJwtToken] = useState<string | null>(readStoredJwt());
  const { secret, isLoading } = useLocalFirstAuth();
  if (!jwtToken && (isLoading || !secret)) return <p>Loading…</p>;
  const config = jwtToken
    ? {
        appId: "my-app",
        serverUrl: "https://sync.example.com",
        jwtToken,
      }
    : {
        appId: "my-app",
        serverUrl: "https://sync.example.com",
        secret: secret!,
      };
  <JazzProvider key={jwtToken ? "external" : "local"} config={config} />;
}

export function refreshSamePrincipal(db: Db, jwt: string) {
  db.updateAuthToken(jwt);
}

interface AuthState {
  authMode: "anonymous" | "local-first" | "external";
  session: Session | null;
  error?: "expired" | "missing" | "invalid" | "disabled";
}
// The seed's AuthState and the package's are the same type.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const authStateMatchesSeed: Same<AuthState, JazzAuthState> = true;

export function RefreshingProvider({ jwtToken }: { jwtToken: string | null }) {
  return (
    <JazzProvider
      config={{ appId: "my-app", jwtToken }}
      onJWTExpired={async () => await fetchFreshJwt()}
    >
      <App />
    </JazzProvider>
  );
}

export function AuthStatus() {
  const { authMode, userId, claims, error } = useAuthState();
  return <p>{[authMode, userId, JSON.stringify(claims), error ?? "ok"].join(" ")}</p>;
}

export function watchAuth(db: Db) {
  const stop = db.onAuthChanged(async (state) => {
    if (state.error !== "expired") return;
    const freshJwt = await getFreshJwtForCurrentUser().catch(() => null);
    if (freshJwt) {
      db.updateAuthToken(freshJwt);
      return;
    }
    // Sign-out or principal change: recreate Jazz without bearer auth.
    setJwtToken(null);
  });
  return stop;
}
