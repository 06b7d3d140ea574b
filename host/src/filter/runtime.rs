//! The filter runtime: compiles modules (once per content), and loads filters from specs.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, component::HasSelf};

use super::bindings::{self, FilterPre};
use super::cache::DiskCache;
use super::engine::{EpochTicker, build_engine};
use super::error::describe;
use super::loaded::{LoadTimes, LoadedFilter};
use super::pool::{Module, Pool};
use super::sandbox::State;
use super::{FilterError, FilterSettings, FilterSpec};

/// The SHA-256 of a module file: what identifies a module in memory and on disk.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ModuleHash([u8; 32]);

impl ModuleHash {
    fn of(bytes: &[u8]) -> Self {
        Self(Sha256::digest(bytes).into())
    }
}

impl fmt::Display for ModuleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for ModuleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModuleHash({self})")
    }
}

/// Where a loaded filter's compiled module came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleOrigin {
    /// Compiled by this load.
    Compiled,
    /// Read from the disk cache.
    DiskCache,
    /// Already compiled in this runtime (another filter or an earlier config uses it).
    Memory,
}

/// What every instance of every filter of a runtime shares.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) settings: FilterSettings,
    /// `settings.call_timeout` in epoch ticks.
    pub(crate) deadline_ticks: u64,
    /// Kept alive as long as any filter may still run.
    _ticker: EpochTicker,
}

/// Loads filters. Cheap to clone; clones share compiled modules and instance pools.
///
/// Modules are kept by content hash and pools by (filter name, module, params, memory cap)
/// for as long as a loaded filter uses them, so loading an unchanged config again (a reload)
/// reuses both: no compile, no new instances, and stateful filters keep their state.
#[derive(Clone)]
pub struct FilterRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    linker: Linker<State>,
    cache: Option<DiskCache>,
    modules: Mutex<HashMap<ModuleHash, Weak<Module>>>,
    pools: tokio::sync::Mutex<HashMap<PoolKey, Weak<Pool>>>,
}

#[derive(PartialEq, Eq, Hash)]
struct PoolKey {
    filter: String,
    module: ModuleHash,
    params: String,
    memory_limit: usize,
}

impl FilterRuntime {
    /// Builds the engine, starts its epoch ticker and opens the disk cache, if any.
    pub fn new(settings: FilterSettings) -> Result<Self, FilterError> {
        let engine = build_engine()?;
        let ticker = EpochTicker::start(&engine, settings.call_timeout)?;
        let cache = match &settings.cache_dir {
            Some(dir) => Some(DiskCache::open(dir, &engine)?),
            None => None,
        };
        let mut linker = Linker::new(&engine);
        let linked = wasmtime_wasi::p2::add_to_linker_async(&mut linker).and_then(|()| {
            bindings::Filter::add_to_linker::<State, HasSelf<State>>(&mut linker, |s| s)
        });
        linked.map_err(|e| FilterError::Engine(describe(&e)))?;
        let shared = Shared {
            deadline_ticks: ticker.ticks_for(settings.call_timeout),
            engine,
            settings,
            _ticker: ticker,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                shared: Arc::new(shared),
                linker,
                cache,
                modules: Mutex::default(),
                pools: tokio::sync::Mutex::default(),
            }),
        })
    }

    /// The settings this runtime was built with.
    pub fn settings(&self) -> &FilterSettings {
        &self.inner.shared.settings
    }

    /// Loads a filter: reads its module, compiles it (or takes it from memory or the disk
    /// cache), instantiates it and runs `init` with its params. Errors name the filter and
    /// say why: missing file, not a component, wrong world, `init`'s message.
    pub async fn load(&self, spec: &FilterSpec) -> Result<Arc<LoadedFilter>, FilterError> {
        let started = Instant::now();
        // Reading and compiling block for up to seconds: on a blocking thread.
        let (runtime, read_spec) = (self.clone(), spec.clone());
        let (module, origin) = tokio::task::spawn_blocking(move || runtime.module(&read_spec))
            .await
            .map_err(|e| FilterError::Engine(format!("loading a module failed: {e}")))??;
        let module_duration = started.elapsed();
        let pool = self.pool(spec, module).await?;
        let loaded = LoadedFilter::new(
            spec,
            pool,
            origin,
            SystemTime::now(),
            LoadTimes {
                module: module_duration,
                total: started.elapsed(),
            },
        );
        Ok(Arc::new(loaded))
    }

    /// The compiled module of `spec`'s file, compiling it only if no one has.
    fn module(&self, spec: &FilterSpec) -> Result<(Arc<Module>, ModuleOrigin), FilterError> {
        let bytes = std::fs::read(&spec.module).map_err(|error| FilterError::ReadModule {
            filter: spec.name.clone(),
            path: spec.module.clone(),
            error,
        })?;
        let bytes = &bytes[..];
        let hash = ModuleHash::of(bytes);
        // Held while compiling: two loads of one new module compile it once.
        let mut modules = self
            .inner
            .modules
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(module) = modules.get(&hash).and_then(Weak::upgrade) {
            return Ok((module, ModuleOrigin::Memory));
        }
        let engine = &self.inner.shared.engine;
        let cached = self
            .inner
            .cache
            .as_ref()
            .and_then(|cache| cache.load(engine, &hash));
        let (component, origin) = match cached {
            Some(component) => (component, ModuleOrigin::DiskCache),
            None => (self.compile(spec, bytes, &hash)?, ModuleOrigin::Compiled),
        };
        let wrong_world = |e: wasmtime::Error| FilterError::WrongWorld {
            filter: spec.name.clone(),
            path: spec.module.clone(),
            reason: describe(&e),
        };
        let pre = self
            .inner
            .linker
            .instantiate_pre(&component)
            .map_err(wrong_world)?;
        let pre = FilterPre::new(pre).map_err(wrong_world)?;
        let module = Arc::new(Module { hash, pre });
        modules.retain(|_, module| module.strong_count() > 0);
        modules.insert(hash, Arc::downgrade(&module));
        Ok((module, origin))
    }

    fn compile(
        &self,
        spec: &FilterSpec,
        bytes: &[u8],
        hash: &ModuleHash,
    ) -> Result<Component, FilterError> {
        let not_a_component = |reason: String| FilterError::NotAComponent {
            filter: spec.name.clone(),
            path: spec.module.clone(),
            reason,
        };
        // Precompiled artifacts are native code: only the runtime's own cache may hand it one.
        if Engine::detect_precompiled(bytes).is_some() {
            return Err(not_a_component(
                "it is a precompiled artifact; give the .wasm file".into(),
            ));
        }
        let started = Instant::now();
        let component = Component::new(&self.inner.shared.engine, bytes)
            .map_err(|e| not_a_component(describe(&e)))?;
        tracing::info!(filter = %spec.name, module = %hash, ms = millis(started.elapsed()), "compiled filter module");
        if let Some(cache) = &self.inner.cache {
            cache.store(hash, &component);
        }
        Ok(component)
    }

    /// The instance pool for this filter, module and params: a live one, or a new one
    /// (whose first instance runs `init`).
    async fn pool(&self, spec: &FilterSpec, module: Arc<Module>) -> Result<Arc<Pool>, FilterError> {
        let key = PoolKey {
            filter: spec.name.clone(),
            module: module.hash,
            params: spec.params.to_string(),
            memory_limit: (spec.memory_limit_bytes)
                .unwrap_or(self.inner.shared.settings.memory_limit_bytes),
        };
        // Held while the first instance starts: two loads of one new filter start one pool.
        let mut pools = self.inner.pools.lock().await;
        if let Some(pool) = pools.get(&key).and_then(Weak::upgrade) {
            return Ok(pool);
        }
        let pool = Pool::start(
            self.inner.shared.clone(),
            module,
            &spec.name,
            key.params.clone(),
            key.memory_limit,
        );
        let pool = Arc::new(pool.await?);
        pools.retain(|_, pool| pool.strong_count() > 0);
        pools.insert(key, Arc::downgrade(&pool));
        Ok(pool)
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

impl fmt::Debug for FilterRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilterRuntime")
            .field("settings", &self.inner.shared.settings)
            .finish_non_exhaustive()
    }
}
