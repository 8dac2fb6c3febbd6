//! Management API query strings: offset pagination (`page`, `per_page`, `include_totals`) and
//! field selection (`fields`, `include_fields`), refused in Auth0's `invalid_query_string` shape.

use axum::http::StatusCode;
use serde_json::{Map, Value};

use crate::envelope::ApiError;

/// `per_page` when none is sent, and its maximum (OAS `get_clients`).
pub(crate) const DEFAULT_PER_PAGE: usize = 50;
pub(crate) const MAX_PER_PAGE: usize = 100;

/// A parsed query string: its parameters in order, each name at most once.
pub(crate) struct Query(Vec<(String, String)>);

/// A 400 `Query validation error: '<detail>' on property <name>.`
pub(crate) fn invalid(detail: &str, property: &str) -> ApiError {
    let message = if property.is_empty() {
        format!("Query validation error: '{detail}'.")
    } else {
        format!("Query validation error: '{detail}' on property {property}.")
    };
    ApiError::new(StatusCode::BAD_REQUEST, message, Some("invalid_query_string"))
}

impl Query {
    /// Parses `raw`, refusing names outside `allowed` and repeated names.
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(raw.unwrap_or_default()).map_err(|_| invalid("Invalid query string", ""))?;
        let mut seen: Vec<&str> = Vec::new();
        for (name, _) in &pairs {
            if !allowed.contains(&name.as_str()) {
                return Err(invalid(&format!("Additional properties not allowed: {name}"), ""));
            }
            if seen.contains(&name.as_str()) {
                return Err(invalid("Expected type string but found type array", name));
            }
            seen.push(name);
        }
        Ok(Self(pairs))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// A non-negative integer at most `max`.
    pub fn integer(&self, name: &str, max: Option<usize>) -> Result<Option<usize>, ApiError> {
        let Some(v) = self.get(name) else { return Ok(None) };
        let n: i64 = v.parse().map_err(|_| invalid("Expected type integer but found type string", name))?;
        let n = usize::try_from(n).map_err(|_| invalid("Must be greater than or equal to 0", name))?;
        match max {
            Some(m) if n > m => Err(invalid(&format!("Must be less than or equal to {m}"), name)),
            _ => Ok(Some(n)),
        }
    }

    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(invalid("Expected type boolean but found type string", name)),
        }
    }

    /// `fields` and `include_fields`: which members of each object to keep.
    pub fn fields(&self) -> Result<Fields, ApiError> {
        let names: Vec<String> = self
            .get("fields")
            .map(|f| f.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        let include = self.boolean("include_fields")?.unwrap_or(true);
        Ok(Fields { names, include })
    }
}

/// Field selection: keep only `names` (`include`) or all but them; no names keeps everything.
pub(crate) struct Fields {
    names: Vec<String>,
    include: bool,
}

impl Fields {
    /// Filters the top-level members of `object` (fields the caller may not see stay absent).
    pub fn apply(&self, object: Value) -> Value {
        match object {
            Value::Object(o) if !self.names.is_empty() => {
                let kept: Map<String, Value> =
                    o.into_iter().filter(|(k, _)| self.names.contains(k) == self.include).collect();
                Value::Object(kept)
            }
            other => other,
        }
    }
}
