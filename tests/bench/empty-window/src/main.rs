//! An empty window of the app's Tauri release: the baseline that `tests/bench/idle.rs` measures the
//! app against (idle CPU, anonymous memory of the process tree, cold start). Same window size, same
//! features, same profile; a page with nothing on it.

fn main() {
    tauri::Builder::default().run(tauri::generate_context!()).expect("the empty window runs");
}
