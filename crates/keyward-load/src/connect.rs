//! The bearer token and the HTTP/2 connections the callers share.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};

use crate::error::Error;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A bearer token; `Debug` never shows it.
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([elided])")
    }
}

impl Token {
    /// The token from `--token-file`, else `$KEYWARD_TOKEN`, else `.keyward-dev/token`.
    pub fn load(file: Option<&Path>) -> Result<Self, Error> {
        let text = match (file, std::env::var("KEYWARD_TOKEN")) {
            (Some(p), _) => read("--token-file", p)?,
            (None, Ok(t)) => t,
            (None, Err(_)) => {
                let default = Path::new(keyward_proto::DEV_DIR).join("token");
                if !default.exists() {
                    return Err(Error::usage(
                        "--token-file",
                        "no token: pass --token-file, set KEYWARD_TOKEN, or run in keyward dev's directory",
                    ));
                }
                read("--token-file", &default)?
            }
        };
        Self::new(text.trim())
    }

    /// A token from its text.
    pub fn new(text: &str) -> Result<Self, Error> {
        if text.is_empty() {
            return Err(Error::usage("--token-file", "the token is empty"));
        }
        Ok(Self(text.to_owned()))
    }

    /// The `authorization` header value for the measured calls, marked sensitive (never
    /// indexed by HPACK, elided from `Debug`).
    pub fn header(&self) -> Result<http::HeaderValue, Error> {
        let mut value = http::HeaderValue::try_from(format!("Bearer {}", self.0))
            .map_err(|_| Error::usage("--token-file", "the token holds characters a header cannot carry"))?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// The `authorization` metadata for tonic's client (the rotation side task), marked sensitive.
    pub fn bearer(&self) -> Result<Bearer, Error> {
        let mut value: MetadataValue<Ascii> = format!("Bearer {}", self.0)
            .parse()
            .map_err(|_| Error::usage("--token-file", "the token holds characters a header cannot carry"))?;
        value.set_sensitive(true);
        Ok(Bearer(value))
    }
}

/// Reads a small text file named by `flag`.
pub fn read(flag: &'static str, path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::File { flag, path: PathBuf::from(path), source })
}

/// A tonic channel that adds the bearer token.
pub type Authed = tonic::service::interceptor::InterceptedService<Channel, Bearer>;

/// Adds `authorization: Bearer …` to every call.
#[derive(Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer([elided])")
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

/// Opens `count` separate HTTP/2 connections to `endpoint` for the measured callers.
pub async fn connections(endpoint: &str, count: usize) -> Result<Vec<crate::wire::Connection>, Error> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(crate::wire::connect(endpoint, CONNECT_TIMEOUT).await?);
    }
    Ok(out)
}

/// A tonic channel to `endpoint`, for the rotation side task.
pub async fn channel(endpoint: &str) -> Result<Channel, Error> {
    Endpoint::from_shared(endpoint.to_owned())
        .map_err(|e| Error::usage("--endpoint", format!("{endpoint:?}: {e}")))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| Error::Connect { endpoint: endpoint.to_owned(), cause: innermost(&e) })
}

fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_elides_the_token() {
        let token = Token::new("kwdev_sekrit").unwrap();
        assert!(!format!("{token:?}").contains("sekrit"));
        assert!(!format!("{:?}", token.bearer().unwrap()).contains("sekrit"));
        assert!(!format!("{:?}", token.header().unwrap()).contains("sekrit"));
    }

    #[test]
    fn empty_and_unprintable_tokens_are_usage_errors() {
        assert_eq!(Token::new("").unwrap_err().exit_code(), 64);
        assert_eq!(Token::new("a\nb").unwrap().bearer().unwrap_err().exit_code(), 64);
        assert_eq!(Token::new("a\nb").unwrap().header().unwrap_err().exit_code(), 64);
    }

    #[test]
    fn a_missing_token_file_is_a_usage_error() {
        let err = Token::load(Some(Path::new("/nonexistent/keyward-load/token"))).unwrap_err();
        assert_eq!(err.exit_code(), 64);
        assert!(err.to_string().starts_with("--token-file: cannot read"), "{err}");
    }
}
