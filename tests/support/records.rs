//! Builders for the store's records that tests write directly: a client rotation, a sealed key,
//! a connection rotation and a lease, each with sensible defaults, so that a field added to a
//! record is filled in one place.
#![allow(dead_code)]

use keyward::clock::Timestamp;
use keyward::seal::{self, Kek, KeyIdentity};
use keyward::store::{ConnectionRotationRecord, KeyRecord, KeyState, Lease, RotationRecord, RotationState};

use crate::support::{random_hex, rng};

/// A lease held by `owner` under claim `token` until `expires_at`.
pub fn lease(owner: &str, token: i64, expires_at: Timestamp) -> Lease {
    Lease { owner: Some(owner.into()), token, expires_at }
}

/// A PLANNED rotation of `tenant`/`client` with a fresh id: no request_id, no lease, created at
/// 1, asked for by `test`.
pub fn rotation(tenant: &str, client: &str) -> Builder<RotationRecord> {
    Builder(RotationRecord {
        rotation_id: format!("rot_{}", random_hex(8)),
        tenant: tenant.into(),
        client_id: client.into(),
        state: RotationState::Planned,
        request_id: None,
        request_hash: "h1".into(),
        params: r#"{"algorithm":"RS256"}"#.into(),
        new_key_id: None,
        old_key_id: None,
        new_credential_id: None,
        old_credential_id: None,
        retire_at: None,
        error: None,
        created_at: Timestamp::from_millis(1),
        updated_at: Timestamp::from_millis(1),
        version: 0,
        lease: Lease::default(),
        requested_by: "test".into(),
        removed: Vec::new(),
        old_departed: None,
    })
}

/// A PENDING RS256 key of `tenant`/`client` with fresh ids, `secret` sealed under `kek` as its
/// private key, and placeholder public material.
pub fn sealed_key(kek: &Kek, tenant: &str, client: &str, secret: &[u8]) -> KeyRecord {
    let key_id = format!("key_{}", random_hex(8));
    let sealed =
        seal::seal(kek, KeyIdentity { tenant, client_id: client, key_id: &key_id }, secret, &mut rng()).unwrap();
    KeyRecord {
        kid: format!("kid_{}", random_hex(8)),
        key_id,
        tenant: tenant.into(),
        client_id: client.into(),
        algorithm: "RS256".parse().unwrap(),
        key_bits: 2048,
        public_key_pem: "pub".into(),
        cert_pem: "cert".into(),
        pkcs: "pkcs".into(),
        fingerprint: "AA:BB".into(),
        thumbprint: "AABB".into(),
        thumbprint_sha256: "x".into(),
        subject_dn: "/CN=x".into(),
        sealed,
        credential_id: None,
        method: Default::default(),
        state: KeyState::Pending,
        created_at: Timestamp::from_millis(1),
        expires_at: None,
        activated_at: None,
        retire_at: None,
        last_signed_exp: None,
    }
}

/// A pending rotation of `tenant`'s connection `connection` with a fresh id: no request_id, no
/// lease, created at 1, asked for by `test`.
pub fn connection_rotation(tenant: &str, connection: &str) -> Builder<ConnectionRotationRecord> {
    Builder(ConnectionRotationRecord {
        id: format!("crot_{}", random_hex(8)),
        tenant: tenant.into(),
        connection_id: connection.into(),
        request_id: None,
        request_hash: "h".into(),
        result: r#"{"state":"pending","before":[]}"#.into(),
        verified: false,
        created_at: Timestamp::from_millis(1),
        requested_by: "test".into(),
        lease: Lease::default(),
    })
}

/// A record being built (a rotation of a client or of a connection); [`Builder::build`] returns it.
pub struct Builder<R>(R);

/// A record asked for under an idempotency key and driven under a lease: its request_id, its
/// lease, and its creation times (created, and for a client rotation, last updated).
pub trait Leased {
    fn parts(&mut self) -> (&mut Option<String>, &mut Lease, Vec<&mut Timestamp>);
}

impl<R: Leased> Builder<R> {
    /// Asked for with the idempotency key `request_id`.
    pub fn with_request_id(mut self, request_id: &str) -> Self {
        *self.0.parts().0 = Some(request_id.into());
        self
    }

    /// Driven under `lease`.
    pub fn with_lease(mut self, lease: Lease) -> Self {
        *self.0.parts().1 = lease;
        self
    }

    /// Created (and for a client rotation, last updated) at `at`.
    pub fn created_at(mut self, at: Timestamp) -> Self {
        for time in self.0.parts().2 {
            *time = at;
        }
        self
    }

    pub fn build(self) -> R {
        self.0
    }
}

impl Leased for RotationRecord {
    fn parts(&mut self) -> (&mut Option<String>, &mut Lease, Vec<&mut Timestamp>) {
        (&mut self.request_id, &mut self.lease, vec![&mut self.created_at, &mut self.updated_at])
    }
}

impl Leased for ConnectionRotationRecord {
    fn parts(&mut self) -> (&mut Option<String>, &mut Lease, Vec<&mut Timestamp>) {
        (&mut self.request_id, &mut self.lease, vec![&mut self.created_at])
    }
}
