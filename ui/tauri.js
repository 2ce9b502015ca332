// @ts-check
// The shell's side: its commands, its events, and its errors made readable.

/** @typedef {import("./types.js").CommandError} CommandError */

export const { invoke } = window.__TAURI__.core;
export const { listen } = window.__TAURI__.event;

/**
 * A command's refusal as `{ kind, message }`: the shell's errors are that already; anything else
 * (a bug, a lost IPC channel) gets a sentence of ours.
 * @param {unknown} error
 * @returns {CommandError}
 */
export function readable(error) {
  if (error && typeof error === "object" && "message" in error && typeof error.message === "string") {
    return /** @type {CommandError} */ (error);
  }
  return { kind: "unexpected", message: `Something went wrong: ${String(error)}` };
}
