fn main() {
    // The page is embedded into the binary: rebuild when it changes.
    println!("cargo:rerun-if-changed=../ui");
    // The config lives at the top of the repository, beside ui/ and icons/. The app's own commands
    // are declared here so that they are denied unless a capability grants them: only the main
    // window's capability does, so the sign-in window (remote content) can call nothing.
    let commands = &[
        "get_app_state",
        "window_ready",
        "add_provider",
        "remove_session",
        "save_settings",
        "set_session_notifications",
        "set_launch_at_login",
        "answer_consent",
        "forget_program",
        "set_git_hosts",
        "unlock_vault",
        "change_passphrase",
        "quit",
    ];
    tauri_build::try_build(
        tauri_build::Attributes::new().config_path("../tauri.conf.json").app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("failed to run tauri-build");
}
