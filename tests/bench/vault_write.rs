//! A sealed-vault write beside a keychain write. (Being written.)
fn main() {}
