use secrecy::ExposeSecret;

use super::*;

fn granted() -> Vec<String> {
    ["openid", "email", "profile"].map(str::to_owned).to_vec()
}

fn request(scope: Option<&str>, audience: Option<&str>, id_token: bool) -> TokenRequest {
    TokenRequest { scope: scope.map(str::to_owned), audience: audience.map(str::to_owned), id_token, ..TokenRequest::default() }
}

#[test]
fn a_request_names_one_kind_of_token() {
    let kind = |scope, audience, id_token| token_kind("s", &request(scope, audience, id_token), &granted()).unwrap();
    assert_eq!(kind(None, None, false), TokenKind::Access);
    assert_eq!(kind(None, None, true), TokenKind::Id);
    assert_eq!(kind(Some("openid"), None, true), TokenKind::Id, "the ID token wins over a scope");
    assert_eq!(kind(None, Some("https://api"), false), TokenKind::Exchanged { audience: "https://api".into(), scope: None });
    assert_eq!(
        kind(Some("admin"), Some("https://api"), false),
        TokenKind::Exchanged { audience: "https://api".into(), scope: Some("admin".into()) },
        "an exchanged token's scope is the provider's to judge"
    );
    assert_eq!(kind(Some(" profile openid profile "), None, false), TokenKind::Narrowed { scope: "openid profile".into() });
}

#[test]
fn a_narrower_scope_takes_only_scopes_the_session_has() {
    let err = token_kind("work", &request(Some("openid admin"), None, false), &granted()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotOffered);
    assert!(err.to_string().contains("\"admin\"") && err.to_string().contains("openid email profile"), "{err}");
    let err = token_kind("work", &request(Some("  "), None, false), &granted()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfiguration);
}

fn secrets(id_token: Option<&str>) -> SessionSecrets {
    SessionSecrets { access_token: SecretString::from("at"), refresh_token: None, id_token: id_token.map(SecretString::from) }
}

#[test]
fn the_access_token_goes_with_its_expiry_and_an_exchange_starts_from_it() {
    let at = DateTime::from_timestamp(1_800_000_000, 0);
    let Ok(OwnToken::Ready(token, expires)) = own_token(&TokenKind::Access, secrets(None), at, TimeDelta::zero()) else { panic!() };
    assert_eq!((token.expose_secret(), expires), ("at", at));
    let kind = TokenKind::Exchanged { audience: "https://api".into(), scope: Some("read".into()) };
    let Ok(OwnToken::Exchange { access_token, audience, scope }) = own_token(&kind, secrets(None), at, TimeDelta::zero()) else { panic!() };
    assert_eq!((access_token.expose_secret(), audience.as_str(), scope.as_deref()), ("at", "https://api", Some("read")));
}

#[test]
fn the_id_token_goes_with_its_own_expiry_on_this_computers_clock_or_is_not_offered() {
    // {"exp":1800000600}
    let jwt = "eyJhbGciOiJub25lIn0.eyJleHAiOjE4MDAwMDA2MDB9.";
    let offset = TimeDelta::seconds(30);
    let Ok(OwnToken::Ready(token, expires)) = own_token(&TokenKind::Id, secrets(Some(jwt)), None, offset) else { panic!() };
    assert_eq!((token.expose_secret(), expires), (jwt, DateTime::from_timestamp(1_800_000_570, 0)));
    let err = own_token(&TokenKind::Id, secrets(None), None, offset).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotOffered);
}

#[test]
fn a_sign_out_says_why_the_provider_was_not_asked_to_revoke() {
    assert_eq!(not_asked_because(ErrorKind::ProviderUnavailable), "it could not be reached");
    assert_eq!(not_asked_because(ErrorKind::ProviderMisbehaved), "its answer could not be used");
    assert_eq!(not_asked_because(ErrorKind::IssuerMismatch), "its answer could not be used");
}
