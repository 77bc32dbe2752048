import { afterEach, describe, expect, it } from "vitest";
import {
  clearLocalFirstSecret, ConfigError, getLocalFirstSecret, isLocalFirstSecret, newLocalFirstSecret, peekLocalFirstSecret,
  setLocalFirstSecret, type SecretStorage,
} from "../src/index.js";

function mapStorage(): SecretStorage & { map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) };
}

const decode = (s: string) => Buffer.from(s, "base64url");

afterEach(() => {
  delete (globalThis as { __jazzCore?: unknown }).__jazzCore;
});

describe("local-first secrets", () => {
  it("generates 43 base64url characters that decode to 32 random bytes", () => {
    const a = newLocalFirstSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(decode(a)).toHaveLength(32);
    expect(decode(a).toString("base64url")).toBe(a);
    expect(newLocalFirstSecret()).not.toBe(a);
  });

  it("uses the core's generator once the core is loaded", () => {
    (globalThis as { __jazzCore?: unknown }).__jazzCore = { newSecret: () => "c".repeat(43) };
    expect(newLocalFirstSecret()).toBe("c".repeat(43));
  });

  it("creates once, then returns the stored secret, namespaced by app", () => {
    const storage = mapStorage();
    const a = getLocalFirstSecret("app-a", { storage });
    expect(getLocalFirstSecret("app-a", { storage })).toBe(a);
    const b = getLocalFirstSecret("app-b", { storage });
    expect(b).not.toBe(a);
    expect([...storage.map.keys()].sort()).toEqual(["jazz-tools:local-first-secret:app-a", "jazz-tools:local-first-secret:app-b"]);
  });

  it("peeks without creating", () => {
    const storage = mapStorage();
    expect(peekLocalFirstSecret("x", { storage })).toBeNull();
    expect(storage.map.size).toBe(0);
  });

  it("sets (validated) and clears", () => {
    const storage = mapStorage();
    const s = newLocalFirstSecret();
    setLocalFirstSecret("x", s, { storage });
    expect(getLocalFirstSecret("x", { storage })).toBe(s);
    expect(() => setLocalFirstSecret("x", "short", { storage })).toThrow(ConfigError);
    clearLocalFirstSecret("x", { storage });
    expect(peekLocalFirstSecret("x", { storage })).toBeNull();
  });

  it("replaces a stored value that is not a secret", () => {
    const storage = mapStorage();
    storage.setItem("jazz-tools:local-first-secret:x", "garbage");
    expect(isLocalFirstSecret(getLocalFirstSecret("x", { storage }))).toBe(true);
  });

  it("falls back to memory without localStorage (Node) and when storage throws", () => {
    expect(typeof (globalThis as { localStorage?: unknown }).localStorage).toBe("undefined");
    const a = getLocalFirstSecret("mem");
    expect(getLocalFirstSecret("mem")).toBe(a);
    clearLocalFirstSecret("mem");
    expect(peekLocalFirstSecret("mem")).toBeNull();

    const broken: SecretStorage = {
      getItem: () => { throw new Error("SecurityError"); },
      setItem: () => { throw new Error("QuotaExceededError"); },
      removeItem: () => { throw new Error("SecurityError"); },
    };
    const s = getLocalFirstSecret("broken", { storage: broken });
    expect(getLocalFirstSecret("broken", { storage: broken })).toBe(s);
  });
});
