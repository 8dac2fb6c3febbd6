//! Auth0-shaped identifiers and timestamps, and the emulator's RNG.

use std::time::{SystemTime, UNIX_EPOCH};

use rand_core::Rng as _;
use time::OffsetDateTime;

/// The OS RNG.
pub(crate) fn rng() -> rand_core::UnwrapErr<getrandom::SysRng> {
    rand_core::UnwrapErr(getrandom::SysRng)
}

/// `prefix` + `len` Base58 characters, as Auth0's `cred_…` ids.
pub(crate) fn base58_id(prefix: &str, len: usize) -> String {
    let mut out = String::from(prefix);
    let mut r = rng();
    while out.len() < prefix.len() + len {
        let mut bytes = [0u8; 32];
        r.fill_bytes(&mut bytes);
        let encoded = bs58::encode(bytes).into_string();
        let need = prefix.len() + len - out.len();
        out.extend(encoded.chars().skip(1).take(need));
    }
    out
}

/// Seconds since the epoch.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// `2023-05-16T08:57:30.562Z`: UTC, milliseconds, `Z`.
pub(crate) fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// The current time as an Auth0 timestamp.
pub(crate) fn now_timestamp() -> String {
    timestamp(OffsetDateTime::now_utc())
}

/// Parses an RFC 3339 date-time (any offset) into Auth0's UTC millisecond form.
pub(crate) fn normalise_timestamp(s: &str) -> Option<String> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok().map(timestamp)
}

/// Whether an Auth0 timestamp lies in the past.
pub(crate) fn is_past(ts: &str) -> bool {
    OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .map(|t| t < OffsetDateTime::now_utc())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_timestamps_have_auth0s_shape() {
        let id = base58_id("cred_", 22);
        assert_eq!(id.len(), 27);
        assert!(id[5..].chars().all(|c| c.is_ascii_alphanumeric() && !"0OIl".contains(c)), "{id}");
        assert_eq!(
            normalise_timestamp("2023-05-16T11:07:30.535694+02:00").as_deref(),
            Some("2023-05-16T09:07:30.535Z")
        );
        assert_eq!(normalise_timestamp("2096-05-13T09:33:13Z").as_deref(), Some("2096-05-13T09:33:13.000Z"));
        assert!(normalise_timestamp("yesterday").is_none());
    }
}
