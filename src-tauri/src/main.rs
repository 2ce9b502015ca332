// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `session-keeper token <session>` talks to the running app and never starts one.
    if args.first().map(String::as_str) == Some("token") {
        std::process::exit(session_keeper::helper::run_cli(&args[1..]));
    }
    session_keeper::run();
}
