//! A validator for the OpenAPI 3.1 schema subset in `tests/data/oas_subset.json`: `$ref`, `type`
//! (one or a list, `null` included), `nullable`, `enum`, `const`, `properties`, `required`,
//! `additionalProperties`, `min/maxProperties`, `items`, `min/maxItems`, `min/maxLength`,
//! `minimum`/`maximum`, `oneOf`, `anyOf`, `allOf`, and the formats `date-time`, `ipv4`, `ipv6`,
//! `cidr`, `ipv6_cidr`. Other formats and `pattern` are annotations here (no response schema the
//! emulator answers with uses a pattern); any other keyword is reported as unsupported.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

/// The extracted schema subset, its operations and its patches.
pub struct Oas {
    doc: Value,
}

const SUBSET: &str = include_str!("../data/oas_subset.json");

/// Keywords that describe but do not constrain.
const ANNOTATIONS: [&str; 4] = ["format", "pattern", "title", "deprecated"];

impl Oas {
    pub fn load() -> Self {
        Self { doc: serde_json::from_str(SUBSET).expect("oas_subset.json parses") }
    }

    /// The patches applied to the OAS, each with its CONTRACT.md §10 (or recording) reference.
    pub fn patches(&self) -> &[Value] {
        self.doc["patches"].as_array().map(Vec::as_slice).unwrap_or_default()
    }

    /// A named component schema.
    pub fn component(&self, name: &str) -> &Value {
        let s = &self.doc["schemas"][name];
        assert!(s.is_object(), "no schema {name} in oas_subset.json");
        s
    }

    /// The schema of an operation's answer with `status`: `Some(None)` when the OAS documents the
    /// status without a body (a 204, or an error, which the OAS leaves without a schema), `None`
    /// when the status is not documented at all.
    pub fn response(&self, operation: &str, status: u16) -> Option<Option<&Value>> {
        let op = &self.doc["operations"][operation];
        assert!(op.is_object(), "no operation {operation} in oas_subset.json");
        let r = op["responses"].get(status.to_string())?;
        Some(if r.is_null() { None } else { Some(r) })
    }

    /// The request body schema of an operation.
    pub fn request(&self, operation: &str) -> &Value {
        &self.doc["operations"][operation]["request"]
    }

    /// Follows `$ref`s to the schema they name.
    pub fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => self.resolve(self.component(r.trim_start_matches("#/components/schemas/"))),
            None => schema,
        }
    }

    /// Every way `value` breaks `schema`, as `path: problem` lines (empty when it conforms).
    pub fn validate(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(schema, value, "$", &mut errors);
        errors
    }

    fn check(&self, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
        let Some(s) = schema.as_object() else {
            if schema == &Value::Bool(false) {
                errors.push(format!("{path}: no value is allowed here"));
            }
            return;
        };
        if s.get("nullable") == Some(&Value::Bool(true)) && value.is_null() {
            return;
        }
        for (keyword, arg) in s {
            match keyword.as_str() {
                "$ref" => {
                    let name = arg.as_str().unwrap_or_default().trim_start_matches("#/components/schemas/");
                    self.check(self.component(name), value, path, errors);
                }
                "type" => {
                    let types: Vec<&str> = match arg {
                        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                        other => other.as_str().into_iter().collect(),
                    };
                    if !types.iter().any(|t| is_type(t, value)) {
                        errors.push(format!("{path}: expected {}, found {}", types.join(" or "), type_of(value)));
                    }
                }
                "enum" => {
                    if !arg.as_array().is_some_and(|a| a.contains(value)) {
                        errors.push(format!("{path}: {value} is not one of {arg}"));
                    }
                }
                "const" => {
                    if arg != value {
                        errors.push(format!("{path}: {value} is not {arg}"));
                    }
                }
                "properties" | "additionalProperties" | "required" | "minProperties" | "maxProperties" => {
                    if let Some(o) = value.as_object() {
                        self.object_keyword(keyword, arg, s, o, path, errors);
                    }
                }
                "items" => {
                    for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                        self.check(arg, item, &format!("{path}[{i}]"), errors);
                    }
                }
                "minItems" | "maxItems" => {
                    if let (Some(a), Some(n)) = (value.as_array(), arg.as_u64()) {
                        let len = a.len() as u64;
                        if (keyword == "minItems" && len < n) || (keyword == "maxItems" && len > n) {
                            errors.push(format!("{path}: {len} items breaks {keyword} {n}"));
                        }
                    }
                }
                "minLength" | "maxLength" => {
                    if let (Some(text), Some(n)) = (value.as_str(), arg.as_u64()) {
                        let len = text.chars().count() as u64;
                        if (keyword == "minLength" && len < n) || (keyword == "maxLength" && len > n) {
                            errors.push(format!("{path}: length {len} breaks {keyword} {n}"));
                        }
                    }
                }
                "minimum" | "maximum" => {
                    if let (Some(x), Some(n)) = (value.as_f64(), arg.as_f64())
                        && ((keyword == "minimum" && x < n) || (keyword == "maximum" && x > n))
                    {
                        errors.push(format!("{path}: {x} breaks {keyword} {n}"));
                    }
                }
                "oneOf" | "anyOf" | "allOf" => self.combinator(keyword, arg, value, path, errors),
                "format" => {
                    if let (Some(text), Some(format)) = (value.as_str(), arg.as_str())
                        && !format_ok(format, text)
                    {
                        errors.push(format!("{path}: {text:?} is not a {format}"));
                    }
                }
                "nullable" => {}
                k if ANNOTATIONS.contains(&k) => {}
                other => errors.push(format!("{path}: unsupported schema keyword {other}")),
            }
        }
    }

    fn object_keyword(
        &self,
        keyword: &str,
        arg: &Value,
        schema: &Map<String, Value>,
        o: &Map<String, Value>,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        match keyword {
            "properties" => {
                for (k, sub) in arg.as_object().into_iter().flatten() {
                    if let Some(v) = o.get(k) {
                        self.check(sub, v, &format!("{path}.{k}"), errors);
                    }
                }
            }
            "additionalProperties" => {
                let known = schema.get("properties").and_then(Value::as_object);
                for (k, v) in o.iter().filter(|(k, _)| !known.is_some_and(|p| p.contains_key(*k))) {
                    match arg {
                        Value::Bool(false) => errors.push(format!("{path}: additional property {k} is not allowed")),
                        Value::Bool(true) => {}
                        sub => self.check(sub, v, &format!("{path}.{k}"), errors),
                    }
                }
            }
            "required" => {
                for k in arg.as_array().into_iter().flatten().filter_map(Value::as_str) {
                    if !o.contains_key(k) {
                        errors.push(format!("{path}: required property {k} is missing"));
                    }
                }
            }
            _ => {
                let n = arg.as_u64().unwrap_or_default();
                let len = o.len() as u64;
                if (keyword == "minProperties" && len < n) || (keyword == "maxProperties" && len > n) {
                    errors.push(format!("{path}: {len} properties break {keyword} {n}"));
                }
            }
        }
    }

    fn combinator(&self, keyword: &str, arg: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
        let results: Vec<Vec<String>> =
            arg.as_array().into_iter().flatten().map(|sub| self.validate(sub, value)).collect();
        let passing = results.iter().filter(|r| r.is_empty()).count();
        let ok = match keyword {
            "oneOf" => passing == 1,
            "anyOf" => passing >= 1,
            _ => passing == results.len(),
        };
        if !ok {
            let detail: Vec<String> = results.into_iter().flatten().collect();
            errors.push(format!("{path}: {passing} of the {keyword} branches match ({})", detail.join("; ")));
        }
    }
}

/// Whether `v` is of the schema type `t`.
pub fn is_type(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        _ => false,
    }
}

/// The JSON type of a value, in the schema's words.
pub fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn format_ok(format: &str, text: &str) -> bool {
    let cidr = |text: &str, max: u8, ip: fn(&str) -> bool| {
        text.split_once('/').is_some_and(|(a, n)| ip(a) && n.parse::<u8>().is_ok_and(|n| n <= max))
    };
    match format {
        "date-time" => time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).is_ok(),
        "ipv4" => text.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => text.parse::<Ipv6Addr>().is_ok(),
        "cidr" => cidr(text, 32, |a| a.parse::<Ipv4Addr>().is_ok()),
        "ipv6_cidr" => cidr(text, 128, |a| a.parse::<Ipv6Addr>().is_ok()),
        _ => true,
    }
}
