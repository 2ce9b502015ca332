// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    session_core::limit_allocator_arenas();
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `session-keeper token <session>` talks to the running app and never starts one (the lean
    // `session-keeper-token` does the same without loading the GUI libraries first).
    if args.first().map(String::as_str) == Some("token") {
        std::process::exit(session_keeper_cli::token::run(&args[1..]));
    }
    // `session-keeper git-credential get` is git's credential helper, also a client of the running app.
    if args.first().map(String::as_str) == Some("git-credential") {
        std::process::exit(session_keeper_cli::git::run(&args[1..], std::io::stdin().lock(), std::io::stdout().lock()));
    }
    session_keeper::run();
}
