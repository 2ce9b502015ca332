//! The HTTP layer's repairs of what a provider says, case by case and as properties.

use super::*;

fn token_response(body: Value, content_type: &str) -> HttpResponse {
    http::Response::builder().status(200).header("content-type", content_type).body(serde_json::to_vec(&body).unwrap()).unwrap()
}

fn repaired(body: Value) -> Value {
    let mut response = token_response(body, "application/json");
    repair_token_response(&mut response, DateTime::from_timestamp(1_800_000_000, 0).unwrap());
    serde_json::from_slice(response.body()).unwrap()
}

#[test]
fn a_lifetime_the_provider_gets_wrong_is_bounded_and_said() {
    let base = serde_json::json!({ "access_token": "at", "token_type": "Bearer" });
    let with = |expires_in: Value| {
        let mut body = base.clone();
        body["expires_in"] = expires_in;
        repaired(body)
    };
    for (said, taken) in [
        (serde_json::json!(0), 1),
        (serde_json::json!(-5), 1),
        (serde_json::json!("300"), 300),
        (serde_json::json!(299.7), 299),
        (serde_json::json!(1_000_000_000_000u64), 86_400),
    ] {
        let out = with(said.clone());
        assert_eq!(out["expires_in"], serde_json::json!(taken), "{said}");
        assert!(out[ADJUSTED_FIELD].as_str().unwrap().contains("lifetime"), "{said}: {out}");
    }
    let out = with(serde_json::json!(3600));
    assert_eq!((out["expires_in"].clone(), out.get(ADJUSTED_FIELD)), (serde_json::json!(3600), None), "a sound value is left alone");
    let out = with(serde_json::json!("soon"));
    assert!(out.get("expires_in").is_none(), "{out}");
    assert!(repaired(base.clone()).get(ADJUSTED_FIELD).is_none(), "a missing lifetime is not a defect");
}

#[test]
fn a_jwt_access_token_informs_a_lifetime_that_is_not_a_number() {
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":1800000600}"#);
    let body = serde_json::json!({ "access_token": format!("e30.{payload}.sig"), "token_type": "Bearer", "expires_in": "later" });
    assert_eq!(repaired(body)["expires_in"], serde_json::json!(600));
}

#[test]
fn a_json_token_answer_with_a_wrong_content_type_is_read_as_json() {
    let mut response = token_response(serde_json::json!({ "access_token": "at", "token_type": "Bearer", "expires_in": 60 }), "text/plain");
    repair_token_response(&mut response, Utc::now());
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    assert!(body[ADJUSTED_FIELD].as_str().unwrap().contains("not labelled as JSON"));
}

#[test]
fn errors_and_other_documents_are_left_alone() {
    let mut error = http::Response::builder().status(400).body(br#"{"error":"invalid_grant","expires_in":0}"#.to_vec()).unwrap();
    repair_token_response(&mut error, Utc::now());
    assert_eq!(error.body(), br#"{"error":"invalid_grant","expires_in":0}"#);
    let mut metadata = token_response(serde_json::json!({ "issuer": "https://id.example.com" }), "text/html");
    repair_token_response(&mut metadata, Utc::now());
    assert_eq!(metadata.headers()["content-type"], "text/html");
}

// Property tests (proptest): whatever a provider puts in a token answer, the repair never panics,
// and an `expires_in` it leaves is a whole number of seconds in the believed range. Cases per run:
// proptest's default (256), or PROPTEST_CASES for a longer run by hand.
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,40}".prop_map(Value::from),
            "-?[0-9]{0,25}(\\.[0-9]{0,5})?(e[0-9]{1,3})?".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(".{0,8}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_expires_in_ends_in_range_or_absent(expires_in in any_json(), access_token in ".{0,60}", content_type in ".{0,30}") {
            let body = serde_json::json!({ "access_token": access_token, "token_type": "Bearer", "expires_in": expires_in });
            let mut response = token_response(body, "application/json");
            if let Ok(value) = http::HeaderValue::from_str(&content_type) {
                response.headers_mut().insert(http::header::CONTENT_TYPE, value);
            }
            repair_token_response(&mut response, DateTime::from_timestamp(1_800_000_000, 0).unwrap());
            let repaired: Value = serde_json::from_slice(response.body()).unwrap();
            if let Some(lifetime) = repaired.get("expires_in") {
                let seconds = lifetime.as_u64();
                prop_assert!(
                    seconds.is_some_and(|s| (MIN_ACCESS_LIFETIME.as_secs()..=MAX_ACCESS_LIFETIME.as_secs()).contains(&s)),
                    "left {lifetime}"
                );
            }
        }

        #[test]
        fn any_body_is_left_to_the_parser_without_a_panic(body in prop::collection::vec(any::<u8>(), 0..512), status in 100u16..600) {
            let mut response = http::Response::builder().status(status).body(body).unwrap();
            repair_token_response(&mut response, DateTime::from_timestamp(1_800_000_000, 0).unwrap());
        }
    }
}
