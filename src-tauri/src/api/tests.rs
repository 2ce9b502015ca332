use super::*;

fn form() -> NewProvider {
    serde_json::from_value(serde_json::json!({
        "name": " work ",
        "displayName": "",
        "issuer": " https://id.example.com ",
        "clientId": " desktop ",
        "scopes": "",
        "clientSecret": "  ",
    }))
    .unwrap()
}

#[test]
fn the_form_becomes_a_provider_with_defaults_for_what_is_left_empty() {
    let provider = form();
    assert!(provider.client_secret().is_none(), "a blank secret is none");
    let (name, config) = provider.into_config().unwrap();
    assert_eq!(name, "work");
    assert_eq!(config.client_id.as_str(), "desktop");
    assert_eq!(config.scopes, ProviderConfig::new("https://id.example.com", "desktop").scopes, "the default scopes");
    assert_eq!(config.post_logout_redirect_uri, None);
    let mut wrong = form();
    wrong.redirect_uri = "not a uri".into();
    assert_eq!(wrong.into_config().unwrap_err().kind(), session_core::ErrorKind::InvalidConfiguration);
}

#[test]
fn the_form_carries_whether_consent_goes_with_offline_access_and_follows_the_spec_when_silent() {
    let (_, config) = form().into_config().unwrap();
    assert!(config.consent_for_offline_access, "a form that does not say follows OIDC Core 11");
    let preset: NewProvider = serde_json::from_value(serde_json::json!({
        "name": "okta", "displayName": "Okta", "issuer": "https://dev-1.okta.com", "clientId": "desktop", "scopes": "",
        "consentForOfflineAccess": false,
    }))
    .unwrap();
    let (_, config) = preset.into_config().unwrap();
    assert!(!config.consent_for_offline_access, "the preset's word is kept");
    assert_eq!(config.authorization_params().get("prompt"), None);
}
