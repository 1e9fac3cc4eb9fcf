use super::*;

const NOW: i64 = 1_614_265_330;

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn kind(r: Result<Delivery, WebhookError>) -> Result<Delivery, &'static str> {
    r.map_err(|e| e.kind())
}

#[test]
fn hmac_signatures() {
    let secret = Secret::new("s3cret");
    let body = br#"{"a":1}"#;
    let good = format!("sha256={}", hmac_hex("s3cret", body));
    let auth = WebhookAuth::HmacSha256;
    let ok = verify_webhook(
        auth,
        &h(&[("X-Waymark-Signature", &good)]),
        body,
        &secret,
        NOW,
    );
    assert_eq!(ok.ok(), Some(Delivery::default()));
    let upper = format!("sha256={}", hmac_hex("s3cret", body).to_uppercase());
    let with_key = h(&[("x-waymark-signature", &upper), ("Idempotency-Key", "k1")]);
    let ok = verify_webhook(auth, &with_key, body, &secret, NOW).ok();
    assert_eq!(ok.and_then(|d| d.id).as_deref(), Some("k1"));
    for bad in [
        format!("sha256={}", hmac_hex("other", body)),
        hmac_hex("s3cret", body),
        "sha256=zz".to_string(),
    ] {
        let e = verify_webhook(
            auth,
            &h(&[("X-Waymark-Signature", &bad)]),
            body,
            &secret,
            NOW,
        );
        assert_eq!(kind(e), Err("unauthorized"), "{bad}");
    }
    let e = verify_webhook(
        auth,
        &h(&[("X-Waymark-Signature", &good)]),
        b"{}",
        &secret,
        NOW,
    );
    assert_eq!(e.map_err(|e| e.http_status()), Err(401));
    assert_eq!(
        kind(verify_webhook(auth, &[], body, &secret, NOW)),
        Err("unauthorized")
    );
    assert!(precheck_webhook(auth, &[], NOW).is_err());
    assert!(precheck_webhook(auth, &h(&[("X-Waymark-Signature", &good)]), NOW).is_ok());
}

#[test]
fn bearer_tokens() {
    let auth = WebhookAuth::Bearer;
    let secret = Secret::new("s3cret");
    let ok = |v: &str| verify_webhook(auth, &h(&[("Authorization", v)]), b"", &secret, NOW);
    assert!(ok("Bearer s3cret").is_ok());
    assert!(ok("bearer  s3cret ").is_ok());
    for bad in ["Bearer s3cre", "Basic s3cret", "s3cret", "Bearer "] {
        assert_eq!(kind(ok(bad)), Err("unauthorized"), "{bad}");
    }
    // A bearer trigger does not take a signature.
    let sig = format!("sha256={}", hmac_hex("s3cret", b""));
    let e = verify_webhook(
        auth,
        &h(&[("X-Waymark-Signature", &sig)]),
        b"",
        &secret,
        NOW,
    );
    assert!(e.is_err());
}

/// The Standard Webhooks reference vector (the same the reference libraries test with).
#[test]
fn standard_webhooks_signatures() {
    let auth = WebhookAuth::StandardWebhooks;
    let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let body = br#"{"test": 2432232314}"#;
    let sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let headers = |id: &str, ts: &str, sig: &str| {
        h(&[
            ("webhook-id", id),
            ("webhook-timestamp", ts),
            ("webhook-signature", sig),
        ])
    };
    let good = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", sig);
    let d = verify_webhook(auth, &good, body, &secret, NOW).expect("the reference vector");
    assert_eq!(d.id.as_deref(), Some("msg_p5jXN8AQM9LWM0D4loKWxJek"));
    // Without the prefix, and among other signatures (a rotation), it still matches.
    let bare = Secret::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert!(verify_webhook(auth, &good, body, &bare, NOW).is_ok());
    let listed = format!("v1,AAAA v1a,whatever {sig}");
    let rotated = headers("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", &listed);
    assert!(verify_webhook(auth, &rotated, body, &secret, NOW).is_ok());
    // The id and the timestamp are signed too.
    let other_id = headers("msg_other", "1614265330", sig);
    assert_eq!(
        kind(verify_webhook(auth, &other_id, body, &secret, NOW)),
        Err("unauthorized")
    );
    let body2 = br#"{"test": 2432232315}"#;
    assert!(verify_webhook(auth, &good, body2, &secret, NOW).is_err());
    // Five minutes either way, not more.
    assert!(verify_webhook(auth, &good, body, &secret, NOW + 300).is_ok());
    assert!(verify_webhook(auth, &good, body, &secret, NOW - 300).is_ok());
    for now in [NOW + 301, NOW - 301, i64::MAX, i64::MIN] {
        assert!(precheck_webhook(auth, &good, now).is_err(), "{now}");
        let e = verify_webhook(auth, &good, body, &secret, now);
        assert_eq!(e.map_err(|e| e.http_status()), Err(401));
    }
    assert!(precheck_webhook(auth, &good, NOW).is_ok());
    assert!(precheck_webhook(auth, &headers("m", "soon", sig), NOW).is_err());
    assert!(precheck_webhook(auth, &headers(" ", "1614265330", sig), NOW).is_err());
    assert!(precheck_webhook(auth, &h(&[("webhook-id", "m")]), NOW).is_err());
    // A secret that is not base64 signs nothing.
    let plain = Secret::new("whsec_not base64!");
    assert!(verify_webhook(auth, &good, body, &plain, NOW).is_err());
}

#[test]
fn github_signatures_and_events() {
    let auth = WebhookAuth::Github;
    let secret = Secret::new("gh-secret-0123456789");
    let body = br#"{"zen":"Keep it logically awesome."}"#;
    let sig = format!("sha256={}", hmac_hex("gh-secret-0123456789", body));
    let good = h(&[
        ("X-Hub-Signature-256", &sig),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("X-GitHub-Event", "ping"),
    ]);
    let d = verify_webhook(auth, &good, body, &secret, NOW).expect("signed");
    assert_eq!(d.event.as_deref(), Some("ping"));
    assert_eq!(
        d.id.as_deref(),
        Some("72d3162e-cc78-11e3-81ab-4c9367dc0958")
    );
    let wrong = format!("sha256={}", hmac_hex("other", body));
    let e = verify_webhook(
        auth,
        &h(&[("X-Hub-Signature-256", &wrong)]),
        body,
        &secret,
        NOW,
    );
    assert_eq!(kind(e), Err("unauthorized"));
    // GitHub's older SHA-1 header is not enough.
    let sha1 = h(&[("X-Hub-Signature", "sha1=00")]);
    assert!(precheck_webhook(auth, &sha1, NOW).is_err());
}

#[test]
fn generated_secrets_are_standard_and_distinct() {
    let a = generate_webhook_secret();
    let b = generate_webhook_secret();
    assert_ne!(a, b);
    assert!(a.expose().starts_with("whsec_"));
    assert_eq!(standard_key(&a).map(|k| k.len()).ok(), Some(32));
}

/// Timestamps at and past `i64`'s ends, signs and padding: refused, never a panic.
#[test]
fn standard_webhooks_timestamps_out_of_range() {
    let auth = WebhookAuth::StandardWebhooks;
    for ts in [
        "9223372036854775807",
        "-9223372036854775808",
        "99999999999999999999999999",
        "1614265330.0",
        "1e9",
        "",
        "1614265330\0",
    ] {
        let headers = h(&[
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", ts),
            ("webhook-signature", "v1,AAAA"),
        ]);
        assert_eq!(
            precheck_webhook(auth, &headers, NOW).map_err(|e| e.kind()),
            Err("unauthorized"),
            "{ts:?}"
        );
    }
}

/// A repeated header counts once, the first: a good signature after a bad one does not help.
#[test]
fn repeated_headers_use_the_first() {
    let auth = WebhookAuth::HmacSha256;
    let secret = Secret::new("s3cret");
    let body = b"x";
    let good = format!("sha256={}", hmac_hex("s3cret", body));
    let bad = format!("sha256={}", hmac_hex("other", body));
    let mut headers: Vec<(String, String)> = (0..1_000)
        .map(|_| ("X-Waymark-Signature".to_string(), bad.clone()))
        .collect();
    headers.push(("X-Waymark-Signature".to_string(), good.clone()));
    assert!(verify_webhook(auth, &headers, body, &secret, NOW).is_err());
    headers.insert(0, ("x-waymark-signature".to_string(), good));
    assert!(verify_webhook(auth, &headers, body, &secret, NOW).is_ok());
}

/// Very long or odd header values are refused (and cheaply), whatever they hold.
#[test]
fn long_and_odd_header_values_are_refused() {
    let secret = Secret::new("s3cret");
    let body = b"x";
    let long_hex = format!("sha256={}", "ab".repeat(100_000));
    let nul = format!("sha256={}\0", hmac_hex("s3cret", body));
    for value in [long_hex.as_str(), nul.as_str(), "sha256=", "\0"] {
        let headers = h(&[("X-Waymark-Signature", value)]);
        let e = verify_webhook(WebhookAuth::HmacSha256, &headers, body, &secret, NOW);
        assert_eq!(kind(e), Err("unauthorized"), "{} bytes", value.len());
    }
    let long_token = format!("Bearer {}", "s".repeat(1 << 20));
    let nul_token = "Bearer s3cret\0";
    for value in [long_token.as_str(), nul_token] {
        let headers = h(&[("Authorization", value)]);
        let e = verify_webhook(WebhookAuth::Bearer, &headers, body, &secret, NOW);
        assert_eq!(kind(e), Err("unauthorized"), "{} bytes", value.len());
    }
    // Thousands of listed Standard Webhooks signatures, none matching.
    let std_secret = generate_webhook_secret();
    let many = vec!["v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="; 10_000].join(" ");
    let headers = h(&[
        ("webhook-id", "msg_1"),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", &many),
    ]);
    let e = verify_webhook(
        WebhookAuth::StandardWebhooks,
        &headers,
        body,
        &std_secret,
        NOW,
    );
    assert_eq!(kind(e), Err("unauthorized"));
}
