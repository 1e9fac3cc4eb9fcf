//! Checking a webhook request against its trigger's secret, the four ways a spec's `auth`
//! names. Pure functions: the receiver decides what to load and when.
//!
//! [`precheck_webhook`] looks at the headers alone (present, well formed, timestamp fresh), so
//! a request that could never pass costs no secret read; [`verify_webhook`] then checks the
//! signature. Every comparison takes constant time; no message names the secret.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::WebhookError;
use crate::secret::Secret;
use crate::triggers::WebhookAuth;

/// `sha256=<hex of HMAC-SHA256(secret, body)>` (`auth = "hmac_sha256"`).
pub const SIGNATURE_HEADER: &str = "x-waymark-signature";
/// `Bearer <secret>` (`auth = "bearer"`).
pub const AUTHORIZATION_HEADER: &str = "authorization";
/// A sender's key for its request in the two older modes: the same key twice starts one run.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// The longest delivery id (`Idempotency-Key`, `webhook-id`, `X-GitHub-Delivery`) accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;
/// Standard Webhooks: the message id, signed; a repeat is the same delivery.
pub const WEBHOOK_ID_HEADER: &str = "webhook-id";
/// Standard Webhooks: seconds since the epoch, signed.
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Standard Webhooks: space-separated `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
pub const WEBHOOK_SIGNATURE_HEADER: &str = "webhook-signature";
/// GitHub: `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub const GITHUB_SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// GitHub: the delivery's id (a redelivery keeps it).
pub const GITHUB_DELIVERY_HEADER: &str = "x-github-delivery";
/// GitHub: the event's name (`ping` when the hook is created).
pub const GITHUB_EVENT_HEADER: &str = "x-github-event";
/// How far a Standard Webhooks timestamp may be from now, either way (the spec's five minutes).
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 5 * 60;

/// Standard base64, padding optional: senders' libraries differ (Python's adds it back).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);
const WHSEC_PREFIX: &str = "whsec_";

/// What a verified request says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// The sender's id for this delivery (`webhook-id`, `X-GitHub-Delivery`, or the
    /// `Idempotency-Key` of the older modes): a second delivery with it starts nothing.
    pub id: Option<String>,
    /// GitHub's event name.
    pub event: Option<String>,
}

/// The value of header `name` (any case); the first when repeated.
pub(crate) fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A new Standard Webhooks secret: `whsec_` and 32 random bytes in base64. Also fine as a
/// GitHub or `hmac_sha256` secret (those use the whole text as the key).
pub fn generate_webhook_secret() -> Secret {
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    Secret::new(format!(
        "{WHSEC_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    ))
}

/// The checks that need no secret: the headers `auth` signs with are there and well formed,
/// and a Standard Webhooks timestamp is within [`TIMESTAMP_TOLERANCE_SECS`] of `now_secs`.
pub fn precheck_webhook(
    auth: WebhookAuth,
    headers: &[(String, String)],
    now_secs: i64,
) -> Result<(), WebhookError> {
    match auth {
        WebhookAuth::HmacSha256 => hex_signature(headers, SIGNATURE_HEADER).map(drop),
        WebhookAuth::Github => hex_signature(headers, GITHUB_SIGNATURE_HEADER).map(drop),
        WebhookAuth::Bearer => bearer_token(headers).map(drop),
        WebhookAuth::StandardWebhooks => standard_parts(headers, now_secs).map(drop),
    }
}

/// Checks that the request proves it knows `secret`, the way `auth` asks, and returns what
/// it says about itself.
pub fn verify_webhook(
    auth: WebhookAuth,
    headers: &[(String, String)],
    body: &[u8],
    secret: &Secret,
    now_secs: i64,
) -> Result<Delivery, WebhookError> {
    if secret.expose().is_empty() {
        // An empty key would let anyone sign.
        return Err(WebhookError::Unauthorized("the trigger's secret is empty"));
    }
    let idempotency_key = || header(headers, IDEMPOTENCY_HEADER).map(str::to_string);
    match auth {
        WebhookAuth::HmacSha256 => {
            let sig = hex_signature(headers, SIGNATURE_HEADER)?;
            check_mac(secret.expose().as_bytes(), body, &sig)?;
            Ok(Delivery {
                id: idempotency_key(),
                event: None,
            })
        }
        WebhookAuth::Github => {
            let sig = hex_signature(headers, GITHUB_SIGNATURE_HEADER)?;
            check_mac(secret.expose().as_bytes(), body, &sig)?;
            Ok(Delivery {
                id: header(headers, GITHUB_DELIVERY_HEADER).map(str::to_string),
                event: header(headers, GITHUB_EVENT_HEADER).map(|e| e.trim().to_string()),
            })
        }
        WebhookAuth::Bearer => {
            let token = bearer_token(headers)?;
            // Digests first, so the comparison's time tells nothing of the secret's length.
            let given = Sha256::digest(token.as_bytes());
            let expected = Sha256::digest(secret.expose().as_bytes());
            if bool::from(given.ct_eq(&expected)) {
                Ok(Delivery {
                    id: idempotency_key(),
                    event: None,
                })
            } else {
                Err(WebhookError::Unauthorized(
                    "the bearer token does not match",
                ))
            }
        }
        WebhookAuth::StandardWebhooks => {
            let parts = standard_parts(headers, now_secs)?;
            let key = standard_key(secret)?;
            let mut mac = Hmac::<Sha256>::new_from_slice(&key)
                .map_err(|_| WebhookError::Unauthorized("the trigger's secret is unusable"))?;
            mac.update(parts.id.as_bytes());
            mac.update(b".");
            mac.update(parts.timestamp.as_bytes());
            mac.update(b".");
            mac.update(body);
            let expected = mac.finalize().into_bytes();
            // Any one of the listed signatures may match (a sender rotating its secret lists
            // both); the others may be of versions we do not know.
            let matched = parts
                .signatures
                .iter()
                .filter_map(|s| s.strip_prefix("v1,"))
                .filter_map(|b64| BASE64.decode(b64).ok())
                .fold(false, |found, sig| {
                    found | bool::from(sig.as_slice().ct_eq(expected.as_slice()))
                });
            if matched {
                Ok(Delivery {
                    id: Some(parts.id.to_string()),
                    event: None,
                })
            } else {
                Err(WebhookError::Unauthorized("the signature does not match"))
            }
        }
    }
}

/// A `sha256=<hex>` header's signature bytes.
fn hex_signature(headers: &[(String, String)], name: &str) -> Result<Vec<u8>, WebhookError> {
    let value = header(headers, name).ok_or(WebhookError::Unauthorized(
        "no signature header for this webhook's auth",
    ))?;
    value
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .filter(|sig| sig.len() == 32)
        .ok_or(WebhookError::Unauthorized(
            "the signature header must be sha256=<hex>",
        ))
}

fn bearer_token(headers: &[(String, String)]) -> Result<&str, WebhookError> {
    let value = header(headers, AUTHORIZATION_HEADER)
        .ok_or(WebhookError::Unauthorized("no Authorization header"))?;
    value
        .trim()
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
        .ok_or(WebhookError::Unauthorized(
            "Authorization must be Bearer <secret>",
        ))
}

/// HMAC-SHA256 of `body` under `key`, compared with `sig` in constant time.
fn check_mac(key: &[u8], body: &[u8], sig: &[u8]) -> Result<(), WebhookError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key)
        .map_err(|_| WebhookError::Unauthorized("the trigger's secret is unusable"))?;
    mac.update(body);
    mac.verify_slice(sig)
        .map_err(|_| WebhookError::Unauthorized("the signature does not match"))
}

struct StandardParts<'a> {
    id: &'a str,
    timestamp: &'a str,
    signatures: Vec<&'a str>,
}

fn standard_parts(
    headers: &[(String, String)],
    now_secs: i64,
) -> Result<StandardParts<'_>, WebhookError> {
    let missing = WebhookError::Unauthorized(
        "Standard Webhooks needs webhook-id, webhook-timestamp and webhook-signature",
    );
    let (Some(id), Some(timestamp), Some(signature)) = (
        header(headers, WEBHOOK_ID_HEADER),
        header(headers, WEBHOOK_TIMESTAMP_HEADER),
        header(headers, WEBHOOK_SIGNATURE_HEADER),
    ) else {
        return Err(missing);
    };
    let at: i64 = timestamp.trim().parse().map_err(|_| {
        WebhookError::Unauthorized("webhook-timestamp must be seconds since the epoch")
    })?;
    if now_secs.saturating_sub(at).saturating_abs() > TIMESTAMP_TOLERANCE_SECS {
        return Err(WebhookError::Unauthorized(
            "webhook-timestamp is more than 5 minutes from now",
        ));
    }
    if id.trim().is_empty() {
        return Err(missing);
    }
    Ok(StandardParts {
        id,
        timestamp,
        signatures: signature.split_whitespace().collect(),
    })
}

/// The HMAC key of a Standard Webhooks secret: the base64 after `whsec_` (which is optional,
/// as in the reference libraries).
fn standard_key(secret: &Secret) -> Result<Vec<u8>, WebhookError> {
    let text = secret.expose().trim();
    let b64 = text.strip_prefix(WHSEC_PREFIX).unwrap_or(text);
    BASE64
        .decode(b64)
        .ok()
        .filter(|k| !k.is_empty())
        .ok_or(WebhookError::Unauthorized(
            "the trigger's secret is not a whsec_<base64> secret",
        ))
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
