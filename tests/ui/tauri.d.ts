// What the page uses of Tauri's global API (`app.withGlobalTauri` in tauri.conf.json): the page has
// no bundler, so it reads `window.__TAURI__` instead of importing @tauri-apps/api, and this says what
// that object holds for `tsc` (tsconfig.json beside this file).

interface Window {
  __TAURI__: {
    core: {
      /** Calls a command of the shell; resolves to its answer, rejects with its error. */
      invoke<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T>;
    };
    event: {
      /** Listens to an event the shell emits; resolves to a function that stops listening. */
      listen<T = unknown>(event: string, handler: (event: { event: string; id: number; payload: T }) => void): Promise<() => void>;
    };
  };
}
