// The one schema and permissions file of the example apps (React, Vue,
// Svelte), the dev issuer's backend route and the e2e tests.
//
//   npm run bundle -w shared   ->  shared/bundle.json (jazz-tools-bundle)
//
// which `jazz-tools server ... --bundle shared/bundle.json` publishes.
import { schema as s } from "jazz-tools";

export const app = s.defineApp({
  // Owner-scoped todos. `public: true` ones are also readable by everyone,
  // anonymous visitors included.
  todos: s.table({
    title: s.string(),
    done: s.boolean(),
    owner_id: s.string(),
    public: s.boolean(),
  }),
  // Written only by the issuer's backend route (POST /api/announce), which
  // stamps the signed-in user as author with withAttribution(...).
  announcements: s.table({
    text: s.string(),
  }),
});

export const permissions = s.definePermissions(app, ({ policy, session, anyOf }) => {
  // Owners read, insert, update and delete their own todos.
  policy.todos.allowRead.where(anyOf({ owner_id: session.user_id }, { public: true }));
  policy.todos.allowInsert.where({ owner_id: session.user_id });
  policy.todos.allowUpdate.where({ owner_id: session.user_id });
  policy.todos.allowDelete.where({ owner_id: session.user_id });
  // Anyone reads announcements; no client writes them (backend only).
  policy.announcements.allowRead.always();
});
