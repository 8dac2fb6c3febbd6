//! Lenient deserializers shared by the types of Auth0's answers.

use serde::Deserialize;

/// A status flag Auth0 may leave out or send as `null`: both read as `false`.
pub(crate) fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}
