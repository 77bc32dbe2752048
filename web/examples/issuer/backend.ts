// The backend route, POST /api/announce {text}, with jazz-tools/backend:
//
//  - forRequest(req) resolves the caller's session from the request (their
//    JWT, as the sync server would) and acts as them: the server checks the
//    todos policies for that user and stamps them as the author;
//  - withAttribution(userId) keeps backend permissions (clients cannot write
//    announcements at all) but records the user in $createdBy.
import type { IncomingMessage } from "node:http";
import { app } from "@examples/shared/schema";
import { HttpError } from "./http-error.ts";

export interface BackendOptions {
  appId: string;
  serverUrl: string;
  backendSecret: string;
  jwksUrl: string;
}

type Backend = typeof import("jazz-tools/backend");
type Context = ReturnType<Backend["createJazzContext"]>;

let backend: Promise<Backend | null> | undefined;
let context: Context | undefined;

/** jazz-tools/backend, or null while the package is built without it. */
export function loadBackend(): Promise<Backend | null> {
  backend ??= import("jazz-tools/backend").then(
    (m) => m as Backend,
    () => null,
  );
  return backend;
}

export async function handleAnnounce(req: IncomingMessage, text: string, o: BackendOptions): Promise<unknown> {
  const m = await loadBackend();
  if (!m) throw new HttpError(501, "jazz-tools/backend is not available in this build of jazz-tools");
  context ??= m.createJazzContext({
    app,
    appId: o.appId,
    serverUrl: o.serverUrl,
    backendSecret: o.backendSecret,
    jwksUrl: o.jwksUrl,
    allowLocalFirstAuth: true,
  });
  let asUser;
  try {
    asUser = await context.forRequest(req);
  } catch (e) {
    throw new HttpError(401, `unauthenticated: ${(e as Error).message}`);
  }
  const session = asUser.getAuthState().session;
  if (!session || session.authMode === "anonymous") throw new HttpError(401, "sign in to announce");
  // As the user: their permissions, their authorship.
  const todo = await asUser.insert(app.todos, { title: `announced: ${text}`, done: false, owner_id: session.user_id, public: false });
  // As the backend, attributed to the user.
  const row = await context.withAttribution(session.user_id).insert(app.announcements, { text });
  return { announcement: { id: row.id, $createdBy: row.$createdBy }, todo: { id: todo.id, $createdBy: todo.$createdBy } };
}

export async function closeBackend(): Promise<void> {
  await context?.close();
}
