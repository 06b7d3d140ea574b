//! Compiled modules on disk, so a restart with many filters does not compile them again.
//!
//! An entry is named by the module's content hash and a hash of the engine's compile
//! settings (which covers the wasmtime version), and holds a SHA-256 of the artifact followed
//! by the artifact. An entry is used only when its checksum matches and wasmtime recognises
//! it; anything else is a miss, and the module is compiled and the entry rewritten.
//!
//! The checksum catches damage (a torn write, a full disk), not tampering: whoever can write
//! the cache directory can put native code there that the gateway will run. The directory
//! must be writable only by the gateway's user.

use std::hash::{Hash, Hasher};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

use super::error::describe;
use super::{FilterError, ModuleHash};

const CHECKSUM_LEN: usize = 32;

/// A directory of compiled components.
#[derive(Debug)]
pub(crate) struct DiskCache {
    dir: PathBuf,
    engine_key: String,
}

impl DiskCache {
    pub(crate) fn open(dir: &Path, engine: &Engine) -> Result<Self, FilterError> {
        std::fs::create_dir_all(dir).map_err(|error| FilterError::CacheDir {
            path: dir.to_owned(),
            error,
        })?;
        // `DefaultHasher::new()` has fixed keys: the same settings give the same name.
        let mut hasher = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(Self {
            dir: dir.to_owned(),
            engine_key: format!("{:016x}", hasher.finish()),
        })
    }

    fn path(&self, hash: &ModuleHash) -> PathBuf {
        self.dir.join(format!("{hash}.{}.cwasm", self.engine_key))
    }

    /// The cached component for `hash`, if there is a sound entry.
    pub(crate) fn load(&self, engine: &Engine, hash: &ModuleHash) -> Option<Component> {
        let path = self.path(hash);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read cached module; compiling");
                return None;
            }
        };
        let verified = bytes
            .split_at_checked(CHECKSUM_LEN)
            .filter(|(sum, artifact)| {
                Sha256::digest(artifact).as_slice() == *sum
                    && Engine::detect_precompiled(artifact) == Some(Precompiled::Component)
            });
        let Some((_, artifact)) = verified else {
            tracing::warn!(path = %path.display(), "corrupt cached module; compiling it again");
            return None;
        };
        // SAFETY: the artifact was written by `store`, in this process or an earlier one (its
        // checksum matches), for an engine with the same settings (the file name says so, and
        // `deserialize` checks it again). That it is what `store` wrote rests on the directory
        // being writable only by the gateway's user: the checksum detects damage, not
        // tampering.
        match unsafe { Component::deserialize(engine, artifact) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %describe(&e), "unusable cached module; compiling");
                None
            }
        }
    }

    /// Writes the entry for `hash`; a failure only costs a compile at the next start.
    pub(crate) fn store(&self, hash: &ModuleHash, component: &Component) {
        let path = self.path(hash);
        if let Err(e) = self.write(&path, component) {
            tracing::warn!(path = %path.display(), error = %e, "cannot cache compiled module");
        }
    }

    fn write(&self, path: &Path, component: &Component) -> std::io::Result<()> {
        let artifact = component
            .serialize()
            .map_err(|e| std::io::Error::other(describe(&e)))?;
        // Written aside and renamed, so no reader (another process) sees half an entry. One
        // process writes an entry once (the runtime compiles a module once), so the pid
        // makes the name unique.
        let partial = path.with_extension(format!("{}.tmp", std::process::id()));
        let written = std::fs::File::create(&partial).and_then(|mut file| {
            file.write_all(&Sha256::digest(&artifact))?;
            file.write_all(&artifact)?;
            file.sync_all()
        });
        let renamed = written.and_then(|()| std::fs::rename(&partial, path));
        if renamed.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        renamed
    }
}
