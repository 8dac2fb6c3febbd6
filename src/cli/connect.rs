//! How a client command reaches its server: the client flags, resolved in one place (flag after
//! the command > flag before it > environment > default), the bearer token, and the channel.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use zeroize::Zeroizing;

use super::CliError;
use crate::grpc::proto::{self, key_rotation_client::KeyRotationClient};

/// The environment variable naming the endpoint when `--endpoint` is not given.
pub const ENDPOINT_ENV: &str = "KEYWARD_ENDPOINT";

/// Where the server is and how to prove who we are: the flags of the commands that talk to a
/// server, accepted after the command (`keyward credentials list --endpoint …`).
#[derive(Debug, Clone, Default, Args)]
pub(super) struct ClientFlags {
    /// keyward's gRPC endpoint, http:// or https:// [env: KEYWARD_ENDPOINT] [default: http://127.0.0.1:50051]
    #[arg(long, global = true, value_name = "URL")]
    endpoint: Option<String>,
    /// A file holding the bearer token (default: $KEYWARD_TOKEN, else .keyward-dev/token).
    #[arg(long, global = true, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Print JSON instead of tables: absent values are null, lists arrays, times RFC 3339 (each
    /// command's --help gives its shape).
    #[arg(long, global = true)]
    json: bool,
    /// Tables: print long ids, kids and fingerprints whole instead of shortened, cutting nothing.
    #[arg(long, global = true)]
    wide: bool,
}

/// The same flags before the command (`keyward --endpoint … credentials list`), kept working
/// but out of the top-level help: they only mean something to a client command.
#[derive(Debug, Clone, Default, Args)]
pub(super) struct EarlyFlags {
    #[arg(long, hide = true)]
    endpoint: Option<String>,
    #[arg(long, hide = true)]
    token_file: Option<PathBuf>,
    #[arg(long, hide = true)]
    pub(super) json: bool,
    #[arg(long, hide = true)]
    pub(super) wide: bool,
}

impl EarlyFlags {
    /// The first client flag given, if any (refused before a command that is not a client).
    pub(super) fn client_flag(&self) -> Option<&'static str> {
        if self.endpoint.is_some() {
            Some("--endpoint")
        } else if self.token_file.is_some() {
            Some("--token-file")
        } else if self.wide {
            Some("--wide")
        } else {
            None
        }
    }
}

/// A client command with the flags that say where its server is.
#[derive(Debug, Args)]
pub(super) struct WithClient<C: Subcommand> {
    #[command(flatten)]
    pub(super) flags: ClientFlags,
    #[command(subcommand)]
    pub(super) command: C,
}

/// A client command that takes arguments, not subcommands, with the flags that say where its
/// server is.
#[derive(Debug, Args)]
pub(super) struct WithClientArgs<A: Args> {
    #[command(flatten)]
    pub(super) flags: ClientFlags,
    #[command(flatten)]
    pub(super) args: A,
}

/// Where a client command goes and how it proves who it is, resolved: flag after the command >
/// flag before it > environment > default.
#[derive(Debug, Clone)]
pub(super) struct ClientOptions {
    /// The endpoint, with its scheme.
    pub(super) endpoint: String,
    token_file: Option<PathBuf>,
    /// Print JSON instead of tables.
    pub(super) json: bool,
    /// Print long ids whole in tables.
    pub(super) wide: bool,
}

impl ClientOptions {
    /// Decides every client setting in one place; `env` reads the environment.
    pub(super) fn resolve(
        after: ClientFlags,
        before: EarlyFlags,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, CliError> {
        let (endpoint, source) = match (after.endpoint, before.endpoint, env(ENDPOINT_ENV)) {
            (Some(e), _, _) | (None, Some(e), _) => (e, "--endpoint"),
            (None, None, Some(e)) if !e.trim().is_empty() => (e, ENDPOINT_ENV),
            _ => (super::DEFAULT_ENDPOINT.to_owned(), "--endpoint"),
        };
        let endpoint = endpoint.trim().to_owned();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(CliError::usage(
                source,
                format!("{endpoint:?} has no scheme; add http:// or https:// (e.g. http://{endpoint})"),
            ));
        }
        Ok(ClientOptions {
            endpoint,
            token_file: after.token_file.or(before.token_file),
            json: after.json || before.json,
            wide: after.wide || before.wide,
        })
    }

    /// How to print the answer.
    pub(super) fn style(&self) -> super::render::Style {
        super::render::Style { json: self.json, wide: self.wide }
    }
}

pub(super) type Client = KeyRotationClient<InterceptedService<Channel, Bearer>>;

/// Adds `authorization: Bearer …` to every call.
#[derive(Clone)]
pub(super) struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert("authorization", self.0.clone());
        Ok(req)
    }
}

fn token(opts: &ClientOptions) -> Result<Zeroizing<String>, CliError> {
    let from_file = |p: &Path| -> Result<Zeroizing<String>, CliError> {
        let text =
            crate::files::read_text(p).map_err(|e| CliError::usage("--token-file", format!("cannot read {e}")))?;
        let token = Zeroizing::new(text.trim().to_owned());
        if token.is_empty() {
            return Err(CliError::usage("--token-file", format!("{} is empty", p.display())));
        }
        Ok(token)
    };
    let token = match (&opts.token_file, std::env::var("KEYWARD_TOKEN")) {
        (Some(p), _) => from_file(p)?,
        (None, Ok(t)) => Zeroizing::new(t.trim().to_owned()),
        (None, Err(_)) => {
            let default = Path::new(proto::DEV_DIR).join("token");
            if !default.exists() {
                return Err(CliError::usage(
                    "--token-file",
                    "no token: pass --token-file, set KEYWARD_TOKEN, or run `keyward dev` in this directory",
                ));
            }
            from_file(&default)?
        }
    };
    if token.is_empty() {
        return Err(CliError::usage("KEYWARD_TOKEN", "is empty"));
    }
    Ok(token)
}

pub(super) async fn connect(opts: &ClientOptions) -> Result<Client, CliError> {
    let (channel, bearer) = channel(opts).await?;
    Ok(KeyRotationClient::with_interceptor(channel, bearer))
}

pub(super) async fn channel(opts: &ClientOptions) -> Result<(Channel, Bearer), CliError> {
    let token = token(opts)?;
    let header: MetadataValue<_> = format!("Bearer {}", token.as_str())
        .parse()
        .map_err(|_| CliError::usage("--token-file", "the token holds characters a header cannot carry"))?;
    let endpoint = Endpoint::from_shared(opts.endpoint.clone())
        .map_err(|e| CliError::usage("--endpoint", format!("{:?}: {e}", opts.endpoint)))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(300));
    let channel =
        endpoint.connect().await.map_err(|source| CliError::Unreachable { endpoint: opts.endpoint.clone(), source })?;
    Ok((channel, Bearer(header)))
}

pub(super) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::Runtime)
}

pub(super) fn pb_duration(d: Option<Duration>) -> Option<prost_types::Duration> {
    d.map(|d| prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(endpoint: Option<&str>) -> ClientFlags {
        ClientFlags { endpoint: endpoint.map(str::to_owned), ..ClientFlags::default() }
    }

    fn early(endpoint: Option<&str>) -> EarlyFlags {
        EarlyFlags { endpoint: endpoint.map(str::to_owned), ..EarlyFlags::default() }
    }

    fn endpoint(after: Option<&str>, before: Option<&str>, env: Option<&str>) -> Result<String, CliError> {
        let env = env.map(str::to_owned);
        ClientOptions::resolve(flags(after), early(before), move |k| if k == ENDPOINT_ENV { env.clone() } else { None })
            .map(|o| o.endpoint)
    }

    #[test]
    fn endpoint_flag_over_earlier_flag_over_env_over_default() {
        let (a, b, e) = (Some("http://a:1"), Some("http://b:1"), Some("https://e:1"));
        assert_eq!(endpoint(a, b, e).unwrap(), "http://a:1");
        assert_eq!(endpoint(None, b, e).unwrap(), "http://b:1");
        assert_eq!(endpoint(None, None, e).unwrap(), "https://e:1");
        assert_eq!(endpoint(None, None, None).unwrap(), crate::cli::DEFAULT_ENDPOINT);
        assert_eq!(endpoint(None, None, Some(" ")).unwrap(), crate::cli::DEFAULT_ENDPOINT, "a blank variable is unset");
    }

    #[test]
    fn wide_and_json_before_or_after_the_command_set_the_style() {
        let resolve = |after: ClientFlags, before: EarlyFlags| ClientOptions::resolve(after, before, |_| None).unwrap();
        let style = resolve(ClientFlags { wide: true, ..ClientFlags::default() }, EarlyFlags::default()).style();
        assert!(style.wide && !style.json);
        let style =
            resolve(ClientFlags::default(), EarlyFlags { wide: true, json: true, ..EarlyFlags::default() }).style();
        assert!(style.wide && style.json);
        assert_eq!(EarlyFlags { wide: true, ..EarlyFlags::default() }.client_flag(), Some("--wide"));
        let style = resolve(ClientFlags::default(), EarlyFlags::default()).style();
        assert!(!style.wide && !style.json, "tables, ids shortened, by default");
    }

    #[test]
    fn an_endpoint_needs_a_scheme() {
        let e = endpoint(Some("127.0.0.1:50051"), None, None).unwrap_err();
        assert_eq!(e.exit_code(), 64);
        assert!(e.to_string().starts_with("--endpoint: ") && e.to_string().contains("add http:// or https://"), "{e}");
        let e = endpoint(None, None, Some("keyward:50051")).unwrap_err();
        assert!(e.to_string().starts_with("KEYWARD_ENDPOINT: "), "{e}");
    }
}
