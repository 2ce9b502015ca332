//! Building a provider: the HTTP client for its calls, its discovery document and signing keys, and
//! the `openidconnect` client made from them.

use super::*;

/// The HTTP client for provider calls: no redirects (as `openidconnect` advises, so that a token
/// request is never replayed elsewhere), bounded times, so a provider that stops answering becomes
/// an error instead of a hang, and HTTPS trusting what the desktop trusts ([`crate::tls`]).
pub fn http_client(request_timeout: Duration, clock: Arc<dyn Clock>) -> Result<ProviderHttp> {
    client(request_timeout, None).map(|client| ProviderHttp::new(client, clock).with_timeout(request_timeout))
}

/// A `reqwest` client with the rules above, trusting the system's store and `provider_ca` (PEM).
fn client(request_timeout: Duration, provider_ca: Option<&str>) -> Result<reqwest::Client> {
    super::proxy::route(reqwest::Client::builder())
        .use_preconfigured_tls(crate::tls::client_config(provider_ca)?)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(request_timeout.min(Duration::from_secs(10)))
        .timeout(request_timeout)
        .user_agent(concat!("session-keeper/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| Error::InvalidConfiguration(format!("cannot build the HTTP client: {err}")))
}

impl Provider {
    /// Fetches `/.well-known/openid-configuration` and the signing keys, checking that the provider's
    /// issuer is exactly the configured one.
    pub async fn discover(
        http: &ProviderHttp,
        config: &ProviderConfig,
        client_secret: Option<SecretString>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        config.validate()?;
        // A provider with CA certificates of its own has a client of its own: they are trusted for
        // its calls only. The others share the pool.
        let http = &match config.ca_certificates.as_deref() {
            Some(pem) => http.with_client(client(http.request_timeout(), Some(pem))?),
            None => http.for_provider(),
        };
        let issuer = IssuerUrl::new(config.issuer.to_string()).map_err(|_| {
            Error::InvalidConfiguration("The issuer URL is not valid: write it in full, like https://id.example.com.".into())
        })?;
        let discovery_url = format!("{}/.well-known/openid-configuration", config.issuer.trim_end_matches('/'));
        let metadata =
            Metadata::discover_async(issuer.clone(), http).await.map_err(|err| discovery_error(err, &config.issuer, &discovery_url))?;
        for (what, endpoint) in [
            ("authorization endpoint", Some(metadata.authorization_endpoint().as_str())),
            ("token endpoint", metadata.token_endpoint().map(|u| u.as_str())),
            ("revocation endpoint", metadata.additional_metadata().revocation_endpoint.as_deref()),
        ] {
            if let Some(endpoint) = endpoint {
                let url =
                    Url::parse(endpoint).map_err(|err| misbehaved(&discovery_url, &format!("its {what} is not a URL"), Some(&err)))?;
                require_secure(&url, what)?;
            }
        }
        let token_endpoint = metadata
            .token_endpoint()
            .map(|u| u.to_string())
            .ok_or_else(|| misbehaved(&discovery_url, "it announces no token endpoint", None))?;
        let extra = metadata.additional_metadata().clone();
        let redirect = RedirectUrl::new(config.redirect_uri.as_str().to_owned()).map_err(|_| {
            Error::InvalidConfiguration("The redirect URI is not valid: write it in full, like http://127.0.0.1/callback.".into())
        })?;
        let jwks_uri = metadata.jwks_uri().clone();
        let token_exchange =
            metadata.grant_types_supported().is_some_and(|grants| grants.iter().any(|grant| grant.as_ref() == TOKEN_EXCHANGE_GRANT));
        let client = OidcClient::from_provider_metadata(
            metadata,
            ClientId::new(config.client_id.to_string()),
            client_secret.as_ref().map(|s| ClientSecret::new(s.expose_secret().to_owned())),
        )
        .set_redirect_uri(redirect);
        Ok(Self {
            config: config.clone(),
            issuer,
            client,
            extra,
            token_endpoint,
            http: http.clone(),
            client_secret,
            clock,
            jwks_uri,
            token_exchange,
            refetched: std::sync::Mutex::new(RefetchedKeys::default()),
        })
    }

    /// The provider's clock minus ours, learnt from its answers.
    pub fn clock_offset(&self) -> TimeDelta {
        self.http.clock_offset()
    }

    /// The configuration this provider was discovered from.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }
}
