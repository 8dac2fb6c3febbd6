//! Connection key rotation: ask Auth0 to rotate, read the key set back, verify every key with
//! our own crypto (certificate, kid, fingerprint, thumbprint, PKCS#7, algorithm), record the
//! history. A request_id is recorded before Auth0 is asked, so a retry never rotates twice.

use keyward_auth0::{ConnectionKey, Error as Auth0Error};
use keyward_crypto::{Algorithm, Certificate, PemBlock, certificates_from_pkcs7, fingerprint, thumbprint};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Engine, uuid_v4};
use crate::Error;
use crate::store::{AuditEvent, AuditKind, ConnectionKeyRecord, ConnectionRotationRecord};

/// A connection key as Auth0 returned it, with keyward's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedKey {
    /// The key as returned.
    pub kid: String,
    /// Certificate PEM.
    pub cert: String,
    /// SHA-1 fingerprint, as Auth0 reported it.
    pub fingerprint: String,
    /// SHA-1 thumbprint, as Auth0 reported it.
    pub thumbprint: String,
    /// PKCS#7 PEM.
    pub pkcs: String,
    /// Status flags.
    pub current: bool,
    /// Status flags.
    pub next: bool,
    /// Status flags.
    pub previous: bool,
    /// JWS algorithm.
    pub algorithm: String,
    /// `signing`.
    pub key_use: String,
    /// `/CN=…`.
    pub subject_dn: String,
    /// When it became current, as Auth0 reported it.
    pub current_since: Option<String>,
    /// What failed verification; empty when the key verified.
    pub problems: Vec<String>,
}

/// The outcome of a connection key rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRotated {
    /// The new next key.
    pub key: VerifiedKey,
    /// The whole set after rotation.
    pub keys: Vec<VerifiedKey>,
    /// Whether every key verified.
    pub verified: bool,
}

/// Checks one key against its own certificate.
pub fn verify_key(k: &ConnectionKey) -> VerifiedKey {
    let mut problems = Vec::new();
    let cert = Certificate::from_pem(&k.cert);
    if let Ok(cert) = &cert {
        let der = cert.der();
        match cert.public_key().and_then(|p| p.thumbprint()) {
            Ok(t) if t == k.kid => {}
            Ok(_) => problems.push("kid is not the RFC 7638 thumbprint of the certificate's key".to_owned()),
            Err(e) => problems.push(format!("certificate key: {e}")),
        }
        if k.fingerprint.as_deref().is_some_and(|f| f != fingerprint(der)) {
            problems.push("fingerprint is not the SHA-1 of the certificate".to_owned());
        }
        if k.thumbprint.as_deref().is_some_and(|t| t != thumbprint(der)) {
            problems.push("thumbprint is not the SHA-1 of the certificate".to_owned());
        }
        match k.pkcs.as_deref().map(|p| PemBlock::find(p, &["PKCS7"]).and_then(|b| certificates_from_pkcs7(&b.der))) {
            Some(Ok(certs)) if certs == [der.to_vec()] => {}
            Some(Ok(_)) => problems.push("pkcs does not hold exactly the certificate".to_owned()),
            Some(Err(e)) => problems.push(format!("pkcs: {e}")),
            None => {}
        }
        if let Some(alg) = &k.algorithm {
            match (alg.parse::<Algorithm>(), cert.public_key()) {
                (Ok(a), Ok(p)) if a.fits(p.kind()) => {}
                (Ok(a), Ok(p)) => {
                    problems.push(format!("algorithm {a} does not fit the certificate's {} key", p.kind()))
                }
                _ => problems.push(format!("algorithm {alg:?} is not supported")),
            }
        }
        if k.subject_dn.as_deref().is_some_and(|dn| dn != cert.subject_dn()) {
            problems.push("subject_dn does not match the certificate".to_owned());
        }
        if let Err(e) = cert.verify_self_signed() {
            problems.push(format!("certificate signature: {e}"));
        }
    } else if let Err(e) = &cert {
        problems.push(format!("cert: {e}"));
    }
    VerifiedKey {
        kid: k.kid.clone(),
        cert: k.cert.clone(),
        fingerprint: k.fingerprint.clone().unwrap_or_default(),
        thumbprint: k.thumbprint.clone().unwrap_or_default(),
        pkcs: k.pkcs.clone().unwrap_or_default(),
        current: k.current,
        next: k.next,
        previous: k.previous,
        algorithm: k.algorithm.clone().unwrap_or_default(),
        key_use: k.key_use.clone().unwrap_or_default(),
        subject_dn: k.subject_dn.clone().unwrap_or_default(),
        current_since: k.current_since.clone(),
        problems,
    }
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
enum Recorded {
    Pending { before: Vec<String> },
    Done(Box<ConnectionRotated>),
}

/// The hash a retried connection rotation is compared by.
pub(super) fn request_hash(tenant: &str, connection_id: &str, alg: Option<Algorithm>) -> String {
    super::hex(&Sha256::digest(format!("{tenant}\0{connection_id}\0{alg:?}")))
}

/// The key set (kids) a recorded rotation saw before Auth0 was asked, while it is pending;
/// `None` once it is done.
pub(super) fn pending_before(result: &str) -> Result<Option<Vec<String>>, serde_json::Error> {
    Ok(match serde_json::from_str(result)? {
        Recorded::Pending { before } => Some(before),
        Recorded::Done(_) => None,
    })
}

impl Engine {
    /// A connection's keys as Auth0 holds them, each checked as a rotation checks them; reads
    /// only.
    pub async fn connection_keys(&self, tenant: &str, connection_id: &str) -> Result<Vec<VerifiedKey>, Error> {
        let t = self.tenants.managed_connection(tenant, connection_id)?;
        let keys = self.bounded("get_connection_keys", t.auth0.get_connection_keys(connection_id)).await?;
        Ok(keys.iter().map(verify_key).collect())
    }

    /// Rotates a connection's keys, verifies every key Auth0 returns and records the history.
    pub async fn rotate_connection(
        &self,
        tenant: &str,
        connection_id: &str,
        alg: Option<Algorithm>,
        request_id: Option<&str>,
        requested_by: &str,
    ) -> Result<ConnectionRotated, Error> {
        let t = self.tenants.managed_connection(tenant, connection_id)?;
        let auth0 = &t.auth0;
        let hash = request_hash(tenant, connection_id, alg);
        let kids = |keys: &[ConnectionKey]| keys.iter().map(|k| k.kid.clone()).collect::<Vec<_>>();

        let mut record_id = format!("crot_{}", uuid_v4());
        let mut requested_by = super::requester(requested_by);
        let mut rotate = true;
        let now = self.clock.now();
        let mut lease =
            crate::store::Lease { owner: Some(self.owner.clone()), token: 1, expires_at: self.lease_until(now) };
        if let Some(req) = request_id
            && let Some(existing) = self.store.connection_rotation(tenant, req).await?
        {
            if existing.request_hash != hash || existing.connection_id != connection_id {
                return Err(Error::arg("request_id", "was already used for a different request"));
            }
            match serde_json::from_str(&existing.result) {
                Ok(Recorded::Done(done)) => return Ok(*done),
                Ok(Recorded::Pending { before }) => {
                    // Asked before: take the work over (unless a live replica drives it), then
                    // rotate only if the key set is still what it was then.
                    lease = self.claim_connection(&existing, tenant, connection_id).await?;
                    let now = self.bounded("get_connection_keys", auth0.get_connection_keys(connection_id)).await?;
                    rotate = kids(&now) == before;
                    record_id = existing.id;
                    requested_by = existing.requested_by;
                }
                Err(e) => return Err(Error::Corrupt(format!("connection rotation {}: {e}", existing.id))),
            }
        } else {
            let before = kids(&self.bounded("get_connection_keys", auth0.get_connection_keys(connection_id)).await?);
            let pending =
                serde_json::to_string(&Recorded::Pending { before }).map_err(Error::encode("a connection rotation"))?;
            let record = ConnectionRotationRecord {
                id: record_id.clone(),
                tenant: tenant.to_owned(),
                connection_id: connection_id.to_owned(),
                request_id: request_id.map(str::to_owned),
                request_hash: hash,
                result: pending,
                verified: false,
                created_at: now,
                lease: lease.clone(),
                requested_by: requested_by.clone(),
            };
            if !self.store.insert_connection_rotation(&record).await? {
                return Err(Error::Aborted("the same request_id is being processed".into()));
            }
        }

        let before = kids(&self.bounded("get_connection_keys", auth0.get_connection_keys(connection_id)).await?);
        let answer = if rotate {
            // Auth0 rotates only while this replica still holds the request.
            self.fault.stall_at("connection").await;
            lease = match self.store.renew_connection_lease(&record_id, &lease).await {
                Ok(l) => l,
                Err(e) => return Err(self.connection_abandoned(&record_id, tenant, connection_id, e)),
            };
            let call = auth0.rotate_connection_keys(connection_id, alg);
            match self.bounded("rotate_connection_keys", call).await {
                Ok(k) => Some(k),
                Err(Auth0Error::UnknownOutcome { .. }) => None,
                Err(e) => return Err(e.into()),
            }
        } else {
            None
        };
        let keys = self.bounded("get_connection_keys", auth0.get_connection_keys(connection_id)).await?;
        if answer.is_none() && rotate && kids(&keys) == before {
            return Err(Error::Unavailable("the rotation's outcome is unknown; retry with the same request_id".into()));
        }
        let mut verified_keys: Vec<VerifiedKey> = keys.iter().map(verify_key).collect();
        // The rotate answer is a key Auth0 returned too: it must verify and be the listed key with
        // its kid. A mismatch is reported on the listed next key, never retried into a second
        // rotation.
        let mut new_kid = None;
        if let Some(answer) = &answer {
            let checked = verify_key(answer);
            let mut problems: Vec<String> = checked.problems.iter().map(|p| format!("rotate response: {p}")).collect();
            let listed = match verified_keys.iter().position(|k| k.kid == answer.kid) {
                Some(i) => {
                    if verified_keys[i].cert != checked.cert {
                        problems.push("rotate response: cert differs from the listed key's".to_owned());
                    }
                    new_kid = Some(answer.kid.clone());
                    Some(i)
                }
                None => {
                    problems.push(format!("rotate response: kid {:?} is not in the key set", answer.kid));
                    verified_keys.iter().position(|k| k.next)
                }
            };
            if let Some(i) = listed {
                verified_keys[i].problems.extend(problems);
            }
        }
        let key = match &new_kid {
            Some(kid) => verified_keys.iter().find(|k| &k.kid == kid),
            None => verified_keys.iter().find(|k| k.next),
        }
        .cloned()
        .ok_or_else(|| Error::Unavailable("Auth0 did not list the new key".into()))?;
        let verified = verified_keys.iter().all(|k| k.problems.is_empty());
        let now = self.clock.now();
        for k in &verified_keys {
            if !k.problems.is_empty() {
                tracing::warn!(tenant, connection_id, kid = %k.kid, problems = ?k.problems, "connection key failed verification");
            }
            let status = if k.current {
                "current"
            } else if k.next {
                "next"
            } else {
                "previous"
            };
            self.store
                .record_connection_key(&ConnectionKeyRecord {
                    tenant: tenant.to_owned(),
                    connection_id: connection_id.to_owned(),
                    kid: k.kid.clone(),
                    algorithm: k.algorithm.clone(),
                    subject_dn: k.subject_dn.clone(),
                    cert: k.cert.clone(),
                    fingerprint: k.fingerprint.clone(),
                    thumbprint: k.thumbprint.clone(),
                    pkcs: k.pkcs.clone(),
                    status: status.to_owned(),
                    verified: k.problems.is_empty(),
                    seen_at: now,
                })
                .await?;
        }
        let done = ConnectionRotated { key, keys: verified_keys, verified };
        let json = serde_json::to_string(&Recorded::Done(Box::new(done.clone())))
            .map_err(Error::encode("a connection rotation"))?;
        if let Err(e) = self.store.finish_connection_rotation(&record_id, &lease, &json, verified).await {
            return Err(self.connection_abandoned(&record_id, tenant, connection_id, e));
        }
        crate::telemetry::metrics::metrics().rotation("connection", if verified { "completed" } else { "failed" });
        let problems: Vec<String> =
            done.keys.iter().flat_map(|k| k.problems.iter().map(move |p| format!("{}: {p}", k.kid))).collect();
        let kind = if verified { AuditKind::ConnectionRotated } else { AuditKind::ConnectionUnverified };
        let detail = serde_json::json!({ "new_kid": done.key.kid, "problems": problems }).to_string();
        let event = AuditEvent::new(kind, requested_by, tenant, connection_id, detail);
        if let Err(e) = self.store.append_audit(&event).await {
            tracing::error!(tenant, connection = connection_id, error = %e, "audit event {kind} not recorded");
        }
        Ok(done)
    }

    /// Takes over a pending connection rotation (a retried request) unless a live replica
    /// drives it: ABORTED then, naming that replica.
    async fn claim_connection(
        &self,
        existing: &ConnectionRotationRecord,
        tenant: &str,
        connection_id: &str,
    ) -> Result<crate::store::Lease, Error> {
        let now = self.clock.now();
        let Some(lease) =
            self.store.claim_connection_rotation(&existing.id, &self.owner, now, self.lease_until(now)).await?
        else {
            return Err(Error::Aborted(format!(
                "connection rotation {} is being driven by replica {}; retry later",
                existing.id,
                existing.lease.owner.as_deref().unwrap_or("?")
            )));
        };
        if let Some(from) = existing.lease.owner.as_deref().filter(|o| *o != self.owner) {
            let mut detail =
                self.taken_over("connection", &existing.id, (tenant, connection_id), "pending", from, lease.token);
            detail["rotation_id"] = existing.id.clone().into();
            let event =
                AuditEvent::new(AuditKind::ConnectionTakenOver, "keyward", tenant, connection_id, detail.to_string());
            if let Err(e) = self.store.append_audit(&event).await {
                tracing::error!(tenant, connection = connection_id, error = %e, "audit event connection.taken_over not recorded");
            }
        }
        Ok(lease)
    }

    /// A connection rotation step that found its lease gone: logged, counted, passed on.
    fn connection_abandoned(&self, id: &str, tenant: &str, connection_id: &str, e: Error) -> Error {
        if matches!(e, Error::LeaseLost { .. }) {
            self.step_abandoned("connection", id, "pending", tenant, connection_id);
        }
        e
    }
}
