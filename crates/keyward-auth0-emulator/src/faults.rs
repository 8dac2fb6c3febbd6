//! Scripted failures for matching requests (`POST /__emulator/faults`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One scripted fault: for the next `times` requests whose method is `method` (any when absent)
/// and whose path starts with `path_prefix`, do `action`.
///
/// ```json
/// {"method": "POST", "path_prefix": "/api/v2/clients/app/credentials", "times": 1,
///  "action": {"kind": "drop_after"}}
/// ```
///
/// Actions (`kind`):
/// - `status`: answer `status` (e.g. 500, 503, 429) with optional `headers` and `body` (JSON;
///   Auth0's envelope for the status when absent), without processing the request;
/// - `delay`: wait `delay_ms`, then process normally;
/// - `drop_before`: close the connection without processing or answering;
/// - `drop_after`: process the request (it takes effect), then close the connection without
///   answering;
/// - `tamper`: process normally, then replace the string `field` of the response object (or of
///   every object in a response array) with a corrupted value, e.g. a connection key's
///   `fingerprint`, `kid` or `cert`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// HTTP method to match; any when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Path prefix to match.
    pub path_prefix: String,
    /// How many matching requests it applies to (default 1).
    #[serde(default = "one")]
    pub times: u32,
    /// What to do.
    pub action: FaultAction,
}

fn one() -> u32 {
    1
}

/// What a fault does.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultAction {
    /// Answer with this status instead of processing.
    Status {
        /// The HTTP status.
        status: u16,
        /// Extra headers, e.g. `retry-after` or `x-ratelimit-reset`.
        #[serde(default)]
        headers: std::collections::BTreeMap<String, String>,
        /// The body; Auth0's envelope for `status` when absent.
        #[serde(default)]
        body: Option<Value>,
    },
    /// Wait, then process normally.
    Delay {
        /// Milliseconds to wait.
        delay_ms: u64,
    },
    /// Close the connection before processing.
    DropBefore,
    /// Process, then close the connection without answering.
    DropAfter,
    /// Process, then corrupt one string field of the JSON response.
    Tamper {
        /// The field to corrupt.
        field: String,
    },
}

/// The active faults.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    list: Vec<Fault>,
}

impl Faults {
    pub fn add(&mut self, fault: Fault) {
        if fault.times > 0 {
            self.list.push(fault);
        }
    }

    pub fn clear(&mut self) {
        self.list.clear();
    }

    /// The action for this request, consuming one use of the first matching fault.
    pub fn take(&mut self, method: &str, path: &str) -> Option<FaultAction> {
        let i = self.list.iter().position(|f| {
            f.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method)) && path.starts_with(&f.path_prefix)
        })?;
        let fault = &mut self.list[i];
        fault.times -= 1;
        let action = fault.action.clone();
        if fault.times == 0 {
            self.list.remove(i);
        }
        Some(action)
    }
}

/// Corrupts `field` in a JSON object or in every object of an array: the string is changed in
/// one character (so it keeps its shape but no longer matches).
pub(crate) fn tamper(value: &mut Value, field: &str) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| tamper(v, field)),
        Value::Object(o) => {
            if let Some(Value::String(s)) = o.get_mut(field) {
                *s = corrupt(s);
            }
        }
        _ => {}
    }
}

fn corrupt(s: &str) -> String {
    // Change a character in the middle: the base64 body of a PEM, a hex digit, a kid character.
    let mut chars: Vec<char> = s.chars().collect();
    let mid = chars.len() / 2;
    let pos = (mid..chars.len()).chain(0..mid).find(|&i| chars[i].is_ascii_alphanumeric());
    if let Some(i) = pos {
        chars[i] = match chars[i] {
            'A' => 'B',
            '0' => '1',
            c if c.is_ascii_digit() => '0',
            c if c.is_ascii_uppercase() => 'A',
            _ => 'a',
        };
        if chars.iter().collect::<String>() == s {
            chars[i] = 'Z';
        }
    }
    chars.into_iter().collect()
}
