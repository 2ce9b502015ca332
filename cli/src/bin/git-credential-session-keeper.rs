//! `git-credential-session-keeper get|store|erase`: git's credential helper for Session Keeper's
//! sessions (`git config credential.helper session-keeper`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(session_keeper_cli::git::run(&args, std::io::stdin().lock(), std::io::stdout().lock()));
}
