//! Which proxy a provider call takes: the desktop's answer, so the core and the sign-in window take
//! the same route. (Placeholder: the environment's variables, as reqwest reads them.)

/// Sets `builder`'s proxy rule for provider calls.
pub(crate) fn route(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder
}

/// The error for a transport failure that the proxy caused (it asks for credentials, 407), if
/// `err` is one; `None` leaves the failure to the other classifications.
pub(crate) fn refused(endpoint: &str, err: &(dyn std::error::Error + 'static)) -> Option<crate::error::Error> {
    let _ = (endpoint, err);
    None
}
