//! Hello Sessions: the smallest app on tauri-plugin-session-keeper. One session, `demo`, at the provider
//! named by `HELLO_SESSIONS_ISSUER` (a public client, id `HELLO_SESSIONS_CLIENT_ID` or `session-keeper`,
//! redirect URI `http://127.0.0.1/callback`). Everything else is the plugin's and the page's.

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use tauri_plugin_session_keeper::ProviderConfig;

fn main() {
    let Ok(issuer) = std::env::var("HELLO_SESSIONS_ISSUER") else {
        eprintln!("Set HELLO_SESSIONS_ISSUER to your OpenID provider's issuer URL, e.g. HELLO_SESSIONS_ISSUER=https://id.example.com");
        std::process::exit(2);
    };
    let client_id = std::env::var("HELLO_SESSIONS_CLIENT_ID").unwrap_or_else(|_| "session-keeper".into());
    tauri::Builder::default()
        .plugin(tauri_plugin_session_keeper::Builder::new().provider("demo", ProviderConfig::new(issuer, client_id)).build())
        .run(tauri::generate_context!())
        .expect("the app could not start");
}
