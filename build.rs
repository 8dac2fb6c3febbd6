//! Sets `KEYWARD_GIT_COMMIT` (shown by `keyward --version`): the variable itself when the build
//! is given one (an image build without `.git`), else `git rev-parse --short=12 HEAD`, else
//! "unknown" when git or a repository is missing. Never fails the build.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    // A commit on the same branch moves the branch's ref, not HEAD.
    let head = std::fs::read_to_string(".git/HEAD").unwrap_or_default();
    for file in
        head.strip_prefix("ref: ").map(|r| format!(".git/{}", r.trim())).into_iter().chain([".git/packed-refs".into()])
    {
        if std::path::Path::new(&file).exists() {
            println!("cargo:rerun-if-changed={file}");
        }
    }
    println!("cargo:rerun-if-env-changed=KEYWARD_GIT_COMMIT");
    let given = std::env::var("KEYWARD_GIT_COMMIT").ok().filter(|c| !c.trim().is_empty());
    let commit = given
        .or_else(|| {
            Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .and_then(|o| String::from_utf8(o.stdout).ok())
        })
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=KEYWARD_GIT_COMMIT={commit}");
}
