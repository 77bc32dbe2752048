// Opens the app's IndexedDB database while the core loads.
//
// The core names the database after the user, whom it derives from the
// config (a secret's key, a JWT's subject), so on its own it could open the
// database only once the wasm has loaded. The page instead remembers which
// database this app opened last (localStorage, one name per appId) and opens
// it while the wasm downloads and compiles. The core takes the connection
// if the name is the one it derives (wasm/idbstore OpenEarly); a wrong or
// stale guess costs one open, which is closed, and never creates a database.
const hintKey = (appId: string) => `jazz-tools:db:${appId}`;

/** A connection being opened for the core; the shape wasm/idbstore OpenEarly reads. */
export interface EarlyOpen {
  readonly name: string;
  /** Settles (never rejects) once the open has succeeded or failed. */
  readonly ready: Promise<void>;
  /** Hands the connection over, once; null if the open failed, or the connection closed, was taken or discarded. */
  take(): IDBDatabase | null;
  /** Closes the connection unless taken, now or when the open completes. Idempotent. */
  discard(): void;
}

/** Starts opening the database this app opened last, if any and if the config wants IndexedDB. */
export function openEarly(appId: string, storage?: string): EarlyOpen | undefined {
  if (storage === "memory" || typeof indexedDB === "undefined") return undefined;
  let name: string | null;
  try {
    name = localStorage.getItem(hintKey(appId));
  } catch {
    return undefined; // no localStorage (workers, some sandboxed frames)
  }
  if (!name) return undefined;
  let conn: IDBDatabase | null = null;
  let done = false; // taken or discarded
  let req: IDBOpenDBRequest;
  try {
    req = indexedDB.open(name);
  } catch {
    return undefined;
  }
  const ready = new Promise<void>((resolve) => {
    // The database is gone (cleared, deleted at sign-out): opening it would
    // create an empty one. Aborting the upgrade fails the open instead.
    req.onupgradeneeded = () => req.transaction?.abort();
    req.onsuccess = () => {
      const db = req.result;
      if (done) db.close();
      else {
        conn = db;
        // Until the core takes it, give way to another tab's upgrade.
        db.onversionchange = () => {
          db.close();
          conn = null;
        };
      }
      resolve();
    };
    req.onerror = (e) => {
      e.preventDefault(); // an expected failure, not the page's error
      resolve();
    };
  });
  return {
    name,
    ready,
    take() {
      const db = done ? null : conn;
      done = true;
      conn = null;
      if (db) db.onversionchange = null;
      return db;
    },
    discard() {
      if (done) return;
      done = true;
      conn?.close();
      conn = null;
    },
  };
}

/**
 * Remembers the database a Db of this app opened, for the next load's
 * openEarly. guessed is the name openEarly read (nothing to write when it
 * is the same: the usual reload reads localStorage once, not twice).
 */
export function rememberDb(appId: string, name: string, guessed?: string): void {
  if (!name || name === guessed) return;
  try {
    if (localStorage.getItem(hintKey(appId)) !== name) localStorage.setItem(hintKey(appId), name);
  } catch {
    // No localStorage, or it is full: the next load opens the database later.
  }
}
