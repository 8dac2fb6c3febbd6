//! `keyward dev`: the embedded default that needs nothing installed. SQLite, a generated KEK and
//! a bearer token under one directory, and the Auth0 emulator in-process on an ephemeral
//! loopback port with its tenant kept in the same directory, so a restart of the same directory
//! (after a crash, say) resumes against the same emulated Auth0.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64ct::{Base64UrlUnpadded, Encoding};
use keyward_auth0_emulator::{EmulatorConfig, Seed};
use keyward_crypto::Algorithm;
use secrecy::SecretString;
use tokio::net::TcpListener;
use zeroize::Zeroizing;

use crate::Error;
use crate::access::Access;
use crate::config::{
    Config, CustodyPolicy, Defaults, KekConfig, KekSource, ManagementAuth, Operations, Pkcs11Config, SignerConfig,
    SigningPolicy, TenantConfig,
};
use crate::custody::Custody;
use crate::files::{PUBLIC_FILE_MODE, SECRET_FILE_MODE, read_text, write_atomic};
use crate::seal::Kek;
use crate::service::Service;

/// The emulated tenant's fixed domain: restarts on a new port keep the issuer.
pub const DEV_DOMAIN: &str = "dev-tenant.keyward.local";
/// The tenant name callers use.
pub const DEV_TENANT: &str = "dev";
/// The dev tenant's signing-only client.
pub const DEV_SIGNER: &str = "demo-signer";
/// The default directory.
pub const DEFAULT_DIR: &str = keyward_proto::DEV_DIR;

const SEED: &str = include_str!("../crates/keyward-auth0-emulator/examples/seed.json");
const MANAGEMENT_CLIENT: &str = "keyward-management";

/// Where `keyward dev` keeps its state and what it listens on.
#[derive(Debug, Clone)]
pub struct DevOptions {
    /// The state directory.
    pub dir: PathBuf,
    /// The gRPC address (`127.0.0.1:0` picks a port; see `DIR/grpc-addr`).
    pub listen: SocketAddr,
    /// The admin HTTP address (`127.0.0.1:0` picks a port; see `DIR/admin-addr`).
    pub admin_listen: SocketAddr,
    /// A PKCS#11 token to keep the dev tenant's KEK (and keys) in, instead of the directory.
    pub pkcs11: Option<DevPkcs11>,
}

/// `keyward dev --pkcs11-*`: the token and what it keeps.
#[derive(Debug, Clone)]
pub struct DevPkcs11 {
    /// The module, the token and the PIN's variable, as `[kek] pkcs11` takes them.
    pub token: Pkcs11Config,
    /// What the token keeps.
    pub custody: DevCustody,
}

/// What `keyward dev --pkcs11-custody` puts in the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DevCustody {
    /// The KEK only: keys are sealed under a KEK that never leaves the token.
    Kek,
    /// Signing keys only (generated in the token, never extractable).
    Keys,
    /// Both.
    Both,
}

/// The label of the dev tenant's KEK inside a token.
pub const DEV_TOKEN_KEK: &str = "keyward-dev-kek";

/// The files of a dev directory.
#[derive(Debug, Clone)]
pub struct DevPaths {
    /// The KEK ring (0600).
    pub kek: PathBuf,
    /// The bearer token (0600).
    pub token: PathBuf,
    /// The SQLite store.
    pub db: PathBuf,
    /// The emulated tenant.
    pub emulator_state: PathBuf,
    /// The emulator's base URL, rewritten at every start.
    pub emulator_url: PathBuf,
    /// The bound gRPC address as `HOST:PORT`, rewritten at every start.
    pub grpc_addr: PathBuf,
    /// The bound admin HTTP address as `HOST:PORT`, rewritten at every start.
    pub admin_addr: PathBuf,
}

impl DevPaths {
    /// The files under `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            kek: dir.join("kek"),
            token: dir.join("token"),
            db: dir.join("keyward.db"),
            emulator_state: dir.join("emulator-state.json"),
            emulator_url: dir.join("emulator-url"),
            grpc_addr: dir.join("grpc-addr"),
            admin_addr: dir.join("admin-addr"),
        }
    }
}

/// Runs keyward dev until `shutdown`.
pub async fn run(opts: DevOptions, shutdown: impl Future<Output = ()> + Send) -> Result<(), Error> {
    create_private_dir(&opts.dir)?;
    // Held until this returns: a second `keyward dev` on the directory would restore a second
    // emulator from the same state file and overwrite this one's addresses.
    let _lock = lock_dir(&opts.dir)?;
    let paths = DevPaths::new(&opts.dir);
    let kek_in_token = opts.pkcs11.as_ref().filter(|p| p.custody != DevCustody::Keys);
    if let Some(p) = kek_in_token {
        // Created once; the token keeps it across restarts of the directory.
        let token = crate::kek::open_token(&p.token, 1)?;
        if !token.aes_key_exists(DEV_TOKEN_KEK).map_err(Error::Custody)? {
            token.create_aes_key(DEV_TOKEN_KEK).map_err(Error::Custody)?;
        }
    } else if !paths.kek.exists() {
        let kek = Kek::generate(&mut crate::rng::os_rng());
        write_atomic(&paths.kek, format!("{}\n", kek.to_text().as_str()).as_bytes(), SECRET_FILE_MODE)?;
    }
    let token = load_or_create_token(&paths.token)?;

    let seed = Seed::from_json(SEED).map_err(|e| Error::Config(vec![format!("dev seed: {e}")]))?;
    let emulator_listener = TcpListener::bind("127.0.0.1:0").await.map_err(Error::resource("emulator: bind"))?;
    let emulator = keyward_auth0_emulator::start(
        emulator_listener,
        EmulatorConfig {
            domain: Some(DEV_DOMAIN.into()),
            seed: seed.clone(),
            state_file: Some(paths.emulator_state.clone()),
            control: true,
            tls: None,
        },
    )
    .await
    .map_err(Error::resource("emulator"))?;
    write_atomic(&paths.emulator_url, format!("{}\n", emulator.base_url()).as_bytes(), PUBLIC_FILE_MODE)?;

    let mut config = dev_config(&opts, &paths, &seed, &emulator.base_url(), &token);
    let mut problems = Vec::new();
    let env: std::collections::HashMap<String, String> = std::env::vars().collect();
    config.signer = config.signer.with_env(&env, &mut problems);
    if !problems.is_empty() {
        return Err(Error::Config(problems));
    }
    let service = Service::open(&config).await?;
    let listener = TcpListener::bind(opts.listen)
        .await
        .map_err(|e| Error::arg("--listen", format!("cannot listen on {}: {e}", opts.listen)))?;
    let addr = listener.local_addr().map_err(Error::resource("gRPC listener"))?;
    let admin = TcpListener::bind(opts.admin_listen)
        .await
        .map_err(|e| Error::arg("--admin-listen", format!("cannot listen on {}: {e}", opts.admin_listen)))?;
    let admin_addr = admin.local_addr().map_err(Error::resource("admin listener"))?;
    write_atomic(&paths.grpc_addr, format!("{addr}\n").as_bytes(), PUBLIC_FILE_MODE)?;
    write_atomic(&paths.admin_addr, format!("{admin_addr}\n").as_bytes(), PUBLIC_FILE_MODE)?;
    banner(&opts, &paths, (addr, admin_addr), &emulator.base_url(), emulator.restored());

    let result = service.run_with_admin(listener, Some(admin), shutdown).await;
    emulator.shutdown().await;
    result
}

/// Spans go to the collector `OTEL_EXPORTER_OTLP_ENDPOINT` names, as `keyward-dev`.
pub fn telemetry() -> crate::telemetry::TelemetryConfig {
    crate::telemetry::TelemetryConfig {
        otlp_endpoint: std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok(),
        service_name: "keyward-dev".into(),
    }
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

/// Takes the directory's exclusive lock (`DIR/lock`, holding the owner's pid), or says which
/// process holds it (exit 64).
fn lock_dir(dir: &Path) -> Result<std::fs::File, Error> {
    use std::io::{Read, Seek, Write};
    let path = dir.join("lock");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut owner = String::new();
            let _ = file.read_to_string(&mut owner);
            let pid = owner.trim().chars().take(16).filter(char::is_ascii_digit).collect::<String>();
            let pid = if pid.is_empty() { "unknown".to_owned() } else { pid };
            return Err(Error::Config(vec![format!("another keyward dev (pid {pid}) is using {}", dir.display())]));
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
    }
    let wrote = file.set_len(0).and_then(|()| file.rewind()).and_then(|()| writeln!(file, "{}", std::process::id()));
    wrote.map_err(|e| Error::io(&path, e))?;
    Ok(file)
}

fn load_or_create_token(path: &Path) -> Result<Zeroizing<String>, Error> {
    if path.exists() {
        let token = Zeroizing::new(read_text(path)?.trim().to_owned());
        if !token.is_empty() {
            return Ok(token);
        }
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand_core::Rng::fill_bytes(&mut crate::rng::os_rng(), bytes.as_mut());
    let token = Zeroizing::new(format!("kwdev_{}", Base64UrlUnpadded::encode_string(bytes.as_ref())));
    write_atomic(path, format!("{}\n", token.as_str()).as_bytes(), SECRET_FILE_MODE)?;
    Ok(token)
}

fn dev_config(opts: &DevOptions, paths: &DevPaths, seed: &Seed, base_url: &str, token: &str) -> Config {
    let management = seed.clients.iter().find(|c| c.client_id == MANAGEMENT_CLIENT);
    let secret = management.and_then(|c| c.client_secret.clone()).unwrap_or_default();
    let tenant = TenantConfig {
        name: DEV_TENANT.into(),
        domain: DEV_DOMAIN.into(),
        base_url: Some(base_url.to_owned()),
        ca_file: None,
        management_client_id: MANAGEMENT_CLIENT.into(),
        management_auth: ManagementAuth::Secret(SecretString::from(secret)),
        clients: seed.clients.iter().map(|c| c.client_id.clone()).filter(|id| id != MANAGEMENT_CLIENT).collect(),
        connections: seed.connections.iter().map(|c| c.id.clone()).collect(),
        // A signing-only client for JWTs third parties verify (any algorithm, ES256 included).
        signing: SigningPolicy { local_clients: [DEV_SIGNER.to_owned()].into(), ..SigningPolicy::default() },
        // `--pkcs11-custody keys|both`: every new key of the dev tenant is made in the token.
        custody: CustodyPolicy {
            default: match &opts.pkcs11 {
                Some(p) if p.custody != DevCustody::Kek => Custody::Pkcs11,
                _ => Custody::Sealed,
            },
            clients: BTreeMap::new(),
        },
        signing_keys: Default::default(),
        inventory: Default::default(),
    };
    Config {
        listen: opts.listen,
        store_url: format!("sqlite://{}", paths.db.display()),
        kek: dev_kek(opts, paths),
        access: Access::all_access(&[crate::grpc::token_hash(token)]),
        tls: None,
        signer: SignerConfig::default(),
        limits: crate::config::Limits::default(),
        defaults: Defaults { grace_period: Duration::from_secs(600), algorithm: Algorithm::RS256, key_bits: 2048 },
        tenants: BTreeMap::from([(DEV_TENANT.to_owned(), tenant)]),
        operations: Operations {
            admin_listen: Some(opts.admin_listen),
            // One process per directory: a restart resumes its own rotations at once.
            replica_id: "dev".into(),
            telemetry: telemetry(),
            ..Operations::default()
        },
    }
}

/// The dev KEK: the directory's file, or with `--pkcs11-*` the token's key in front of the file
/// (whose KEK, from runs before the token, then only opens keys sealed back then).
fn dev_kek(opts: &DevOptions, paths: &DevPaths) -> KekConfig {
    let Some(p) = &opts.pkcs11 else { return KekConfig::file(paths.kek.clone()) };
    let in_token = p.custody != DevCustody::Keys;
    let key_label = in_token.then(|| DEV_TOKEN_KEK.to_owned());
    let ring = (!in_token || paths.kek.exists()).then(|| KekSource::File(paths.kek.clone()));
    KekConfig { ring, pkcs11: Some(Pkcs11Config { key_label, ..p.token.clone() }) }
}

/// Says where everything is: the facts as log lines (timestamped, on stderr with the rest of
/// the log), and the commands to try on stdout, plain, for copying.
fn banner(opts: &DevOptions, paths: &DevPaths, addrs: (SocketAddr, SocketAddr), emulator_url: &str, restored: bool) {
    use std::io::Write as _;
    let (addr, admin) = addrs;
    let mut flags = String::new();
    if addr.to_string() != keyward_proto::DEFAULT_ENDPOINT.trim_start_matches("http://") {
        flags.push_str(&format!(" --endpoint http://{addr}"));
    }
    if opts.dir != Path::new(DEFAULT_DIR) {
        flags.push_str(&format!(" --token-file {}", paths.token.display()));
    }
    let tenant_note = if restored { "restored from" } else { "kept in" };
    tracing::info!("serving keyward.v1 on {addr} (bearer token in {})", paths.token.display());
    tracing::info!(
        "emulated Auth0 tenant {DEV_TENANT:?} (https://{DEV_DOMAIN}/) at {emulator_url}, {tenant_note} {}",
        paths.emulator_state.display()
    );
    tracing::info!(
        "metrics and probes on http://{admin}/metrics /healthz /readyz (address in {})",
        paths.admin_addr.display()
    );
    let text = format!(
        "keyward dev is serving on {addr}; in another terminal:\n\
         \x20   keyward rotate client --tenant {DEV_TENANT} --client demo-app{flags}\n\
         \x20   keyward credentials list --tenant {DEV_TENANT} --client demo-app{flags}\n\
         \x20   keyward rotate connection --tenant {DEV_TENANT} --connection con_demooidc0000001{flags}\n\
         Ctrl-C drains and stops (a second Ctrl-C stops at once); state stays in {} for the next start.\n",
        opts.dir.display()
    );
    // A closed stdout (`keyward dev | head -1`) is no reason to stop serving.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}
