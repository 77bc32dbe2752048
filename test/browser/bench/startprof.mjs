// ad-hoc: profile loadCore + createDb (no rows)
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { cleanup, launch, openPage, startStatic, tempDir } from "../lib/harness.mjs";
const dir = tempDir("jazz-sp-");
const web = await startStatic({ cache: "max-age" });
const b = await launch({ profileDir: join(dir, "profile") });
const secret = randomBytes(32).toString("base64url");
for (let i = 0; i < 4; i++) {
  const page = await openPage(b.ctx, `${web.url}/`);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
  await cdp.send("Profiler.start");
  const m = await page.evaluate(async (secret) => {
    const t = () => performance.now();
    const m = {};
    let t0 = t();
    await T.jazz.loadCore();
    m.loadCore = t() - t0; t0 = t();
    const d = await T.jazz.createDb({ appId: "sp", secret });
    m.createDb = t() - t0;
    await d.close();
    return m;
  }, secret);
  const { profile } = await cdp.send("Profiler.stop");
  console.log(JSON.stringify(m));
  if (i === 3) {
    const dt = new Map();
    for (let k = 0; k < profile.samples.length; k++) dt.set(profile.samples[k], (dt.get(profile.samples[k]) || 0) + (profile.timeDeltas[k] || 0));
    const byId = new Map(profile.nodes.map((x) => [x.id, x]));
    const parent = new Map();
    for (const x of profile.nodes) for (const c of x.children || []) parent.set(c, x.id);
    const incl = new Map(), self = new Map();
    for (const x of profile.nodes) {
      const us = dt.get(x.id) || 0; if (!us) continue;
      const f = x.callFrame.functionName || "(anon)";
      self.set(f, (self.get(f) || 0) + us);
      const seen = new Set();
      for (let id = x.id; id !== undefined; id = parent.get(id)) {
        const n = byId.get(id).callFrame.functionName; if (seen.has(n)) continue; seen.add(n);
        incl.set(n, (incl.get(n) || 0) + us);
      }
    }
    const p = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, 45).map(([k, v]) => `${(v / 1000).toFixed(1)} ${k}`).join("\n");
    console.log("SELF\n" + p(self) + "\nINCL\n" + p(incl));
  }
  await page.close();
}
await b.close(); await web.close(); cleanup(dir);
