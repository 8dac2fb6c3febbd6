//! Identifiers and their text: lower-case hex and random UUIDs (the suffix of every rotation,
//! revocation, key and replica id). Imports nothing of keyward but its RNG.

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random UUID v4 from the OS RNG, without hyphens.
pub(crate) fn uuid_v4() -> String {
    let mut bytes = [0u8; 16];
    rand_core::Rng::fill_bytes(&mut crate::rng::os_rng(), &mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid().simple().to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_and_uuids() {
        assert_eq!(super::hex(&[0, 0xab, 0x10]), "00ab10");
        let (a, b) = (super::uuid_v4(), super::uuid_v4());
        assert_ne!(a, b);
        assert!(a.len() == 32 && a.chars().all(|c| c.is_ascii_hexdigit()), "{a}");
    }
}
