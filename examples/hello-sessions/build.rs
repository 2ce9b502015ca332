fn main() {
    // The page's script (ui/main.js) is built by esbuild after a clean clone (scripts/setup.sh); a new
    // file in ui/ must rebuild the embedded assets too, not only a changed one.
    println!("cargo:rerun-if-changed=ui");
    tauri_build::build();
}
