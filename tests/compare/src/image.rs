//! An application's image: which one to run, and building it locally from the static binary.
//!
//! For an application `app`, `CLEAVE_<APP>_IMAGE` names the image (`name:tag`, default
//! `ghcr.io/cleave-rs/<app>` with the workspace version as tag). `CLEAVE_<APP>_IMAGE_BUILD`
//! says where it comes from:
//! - `auto` (default): when the static binary exists, build the image from it unless the local
//!   image was built from exactly that binary (a label records the binary's size and mtime);
//!   without the binary, use the local image if there is one;
//! - `never`: run the image as named; testcontainers pulls it if the engine does not have it,
//!   which is what a user with a registry wants.
//!
//! `CLEAVE_<APP>_BINARY` overrides where the static binary is looked for (default
//! `target/x86_64-unknown-linux-gnu/release/<app>`, what `scripts/build-static.sh <app>`
//! builds).

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, bail};
use cleave::AppName;
use testcontainers::GenericBuildableImage;
use testcontainers::bollard::Docker;
use testcontainers::core::BuildImageOptions;
use testcontainers::runners::AsyncBuilder;

/// Where published images live, for users with a registry: `<DEFAULT_REPOSITORY>/<app>`.
pub const DEFAULT_REPOSITORY: &str = "ghcr.io/cleave-rs";
/// The Rust target of the static binary.
pub const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";
/// The Dockerfile, at the workspace root: any application's, the binary is named `app` in the
/// build context.
const DOCKERFILE: &str = include_str!("../../../Dockerfile");
/// The image label holding the identity of the binary it was built from.
const BUILD_LABEL: &str = "dev.cleave.build";

/// Where the image comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildPolicy {
    /// Build from the static binary when it changed; otherwise use the local image.
    Auto,
    /// Never build: run the named image (pulled by the engine if missing).
    Never,
}

/// Which image to run and how to get it.
#[derive(Debug, Clone)]
pub struct ImageSettings {
    /// The application the image runs.
    pub app: AppName,
    /// Repository name, e.g. `ghcr.io/cleave-rs/<app>`.
    pub name: String,
    /// Tag, e.g. `0.1.0`.
    pub tag: String,
    /// Where the image comes from.
    pub build: BuildPolicy,
    /// The application's statically linked binary the image is built from.
    pub binary: PathBuf,
}

/// The image that topologies run.
#[derive(Debug, Clone)]
pub struct AppImage {
    /// The application it runs.
    pub app: AppName,
    /// Repository name.
    pub name: String,
    /// Tag.
    pub tag: String,
    /// Size of the image as the engine reports it, in bytes (0 when unknown, e.g. not pulled yet).
    pub size_bytes: u64,
    /// Whether this run built it.
    pub built: bool,
}

impl AppImage {
    /// `name:tag`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.name, self.tag)
    }
}

/// The workspace's target directory (`CARGO_TARGET_DIR` when set).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// `CLEAVE_<APP>_<what>`, e.g. `CLEAVE_LIBRARY_IMAGE`.
pub fn env_var(app: AppName, what: &str) -> String {
    format!("CLEAVE_{}{what}", app.env_prefix())
}

impl ImageSettings {
    /// Settings of `app`'s image from `CLEAVE_<APP>_IMAGE`, `CLEAVE_<APP>_IMAGE_BUILD` and
    /// `CLEAVE_<APP>_BINARY`.
    pub fn from_env(app: AppName) -> anyhow::Result<ImageSettings> {
        let var = |what| env_var(app, what);
        let reference = std::env::var(var("IMAGE")).unwrap_or_else(|_| {
            format!("{DEFAULT_REPOSITORY}/{app}:{}", env!("CARGO_PKG_VERSION"))
        });
        let (name, tag) = split_reference(&reference);
        let build = match std::env::var(var("IMAGE_BUILD")).as_deref() {
            Err(_) | Ok("auto") | Ok("") => BuildPolicy::Auto,
            Ok("never") => BuildPolicy::Never,
            Ok(other) => bail!(
                "{} must be `auto` or `never`, not {other:?}",
                var("IMAGE_BUILD")
            ),
        };
        let binary = std::env::var_os(var("BINARY"))
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                target_dir()
                    .join(STATIC_TARGET)
                    .join("release")
                    .join(app.as_str())
            });
        Ok(ImageSettings {
            app,
            name,
            tag,
            build,
            binary,
        })
    }
}

/// `name[:tag]` split at the tag's colon (not a registry port's); the tag defaults to `latest`.
fn split_reference(reference: &str) -> (String, String) {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name.to_string(), tag.to_string()),
        _ => (reference.to_string(), "latest".to_string()),
    }
}

/// Identity of a binary: its size and modification time, enough to notice a rebuild.
fn build_id(binary: &Path) -> anyhow::Result<String> {
    let meta = std::fs::metadata(binary).with_context(|| format!("{}", binary.display()))?;
    let modified = meta.modified()?.duration_since(UNIX_EPOCH)?.as_nanos();
    Ok(format!("{}-{modified}", meta.len()))
}

/// Refuses a dynamically linked binary, which would fail in an empty root with a bare
/// "no such file or directory" from the engine.
fn check_static(binary: &Path) -> anyhow::Result<()> {
    use std::io::Read;
    let mut head = vec![0u8; 8192];
    let n = std::fs::File::open(binary)?.read(&mut head)?;
    let head = &head[..n];
    if !head.starts_with(b"\x7fELF") {
        bail!("{} is not an ELF executable", binary.display());
    }
    if head.windows(8).any(|w| w == b"ld-linux") {
        bail!(
            "{} is dynamically linked and cannot run in a FROM scratch image; build it with \
             scripts/build-static.sh (RUSTFLAGS='-C target-feature=+crt-static' --target {STATIC_TARGET})",
            binary.display()
        );
    }
    Ok(())
}

/// Labels and size of a local image, or `None` when the engine does not have it.
async fn local_image(
    docker: &Docker,
    reference: &str,
) -> anyhow::Result<Option<(Option<String>, u64)>> {
    match docker.inspect_image(reference).await {
        Ok(image) => {
            let label = image
                .config
                .and_then(|c| c.labels)
                .and_then(|labels| labels.get(BUILD_LABEL).cloned());
            Ok(Some((label, image.size.unwrap_or(0).max(0) as u64)))
        }
        Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }) => Ok(None),
        Err(e) => Err(e).with_context(|| format!("inspect image {reference}")),
    }
}

/// Makes sure the image can be run, building it from the static binary when needed.
pub async fn ensure(docker: &Docker, settings: &ImageSettings) -> anyhow::Result<AppImage> {
    let reference = format!("{}:{}", settings.name, settings.tag);
    let local = local_image(docker, &reference).await?;
    let image = |size_bytes, built| AppImage {
        app: settings.app,
        name: settings.name.clone(),
        tag: settings.tag.clone(),
        size_bytes,
        built,
    };
    if settings.build == BuildPolicy::Never {
        return Ok(image(local.map_or(0, |(_, size)| size), false));
    }
    if !settings.binary.exists() {
        return match local {
            Some((_, size)) => Ok(image(size, false)),
            None => bail!(
                "image {reference} is not in the engine and there is no static binary at {} \
                 to build it from: run scripts/build-static.sh {} (scripts/test.sh does), or \
                 set {}=never to pull {reference} from a registry",
                settings.binary.display(),
                settings.app,
                env_var(settings.app, "IMAGE_BUILD")
            ),
        };
    }
    check_static(&settings.binary)?;
    let id = build_id(&settings.binary)?;
    if let Some((Some(label), size)) = &local
        && *label == id
    {
        return Ok(image(*size, false));
    }
    let _image = GenericBuildableImage::new(settings.name.clone(), settings.tag.clone())
        .with_dockerfile_string(DOCKERFILE)
        .with_file(settings.binary.clone(), "app")
        .build_image_with(BuildImageOptions::new().with_build_arg("BUILD_ID", id.clone()))
        .await
        .with_context(|| format!("build image {reference}"))?;
    match local_image(docker, &reference).await? {
        Some((Some(label), size)) if label == id => Ok(image(size, true)),
        other => bail!("built {reference}, but the engine shows {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references_split_at_the_tag_not_the_registry_port() {
        let split = |r| split_reference(r);
        assert_eq!(split("app:1.2"), ("app".into(), "1.2".into()));
        assert_eq!(
            split("ghcr.io/x/app"),
            ("ghcr.io/x/app".into(), "latest".into())
        );
        assert_eq!(
            split("registry:5000/x/app"),
            ("registry:5000/x/app".into(), "latest".into())
        );
        assert_eq!(
            split("registry:5000/x/app:2"),
            ("registry:5000/x/app".into(), "2".into())
        );
    }
}
