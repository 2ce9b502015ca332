//! `session-keeper-token <session> [options]`: a fresh token from the running Session Keeper.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(session_keeper_cli::token::run(&args));
}
