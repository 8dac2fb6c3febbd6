//! Which rotations a listing asks for: optional tenant, client and state, newest first, a page
//! at a time after a cursor.

use super::RotationState;
use crate::clock::Timestamp;

/// A page of `Store::list_rotations`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationFilter {
    /// Only this tenant's.
    pub tenant: Option<String>,
    /// Only this client's.
    pub client_id: Option<String>,
    /// Only rotations in this state.
    pub state: Option<RotationState>,
    /// Only rotations whose id starts with this.
    pub id_prefix: Option<String>,
    /// Only rotations older than this one (its `created_at` and id): the previous page's last.
    pub before: Option<(Timestamp, String)>,
}
