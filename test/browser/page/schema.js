// The todos app used by the browser tests and benchmarks. It takes the
// package's `schema` export as an argument so the very same definition runs
// in the page (jazz-tools from the built dist via the import map) and in Node
// (lib/harness.mjs imports dist/index.js to compile the server's bundle).
export function defineTodos(s) {
  const app = s.defineApp({
    todos: s.table({
      title: s.string(),
      done: s.boolean(),
      owner_id: s.string(),
      tag: s.string().optional(),
      rank: s.int().optional(),
    }),
  });
  const permissions = s.definePermissions(app, ({ policy, session }) => {
    policy.todos.allowRead.where({ owner_id: session.user_id });
    policy.todos.allowInsert.where({ owner_id: session.user_id });
    policy.todos.allowUpdate.where({ owner_id: session.user_id });
    policy.todos.allowDelete.where({ owner_id: session.user_id });
  });
  return { app, permissions };
}
