//! End-to-end: networks as people have them (HTTPS behind a private CA, a provider's own CA,
//! proxies), in the real window. (Being written.)
