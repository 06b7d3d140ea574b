//! deploy/kubernetes: the StatefulSet, the Service and the kustomization that makes the
//! ConfigMaps, read together with the config they mount, and the pod's layout run in a
//! stand-in container through a ConfigMap update.

use std::collections::BTreeMap;
use std::path::PathBuf;

use yaml_rust2::Yaml;

use super::container::{Container, Exercise};
use super::{
    LANE_GRACE_SECS, Root, config, deploy, example_module, is_under, listen, modules, read,
    resolve, setting, text, tool, yaml,
};
use crate::guests;
use crate::support::file_hash;

/// The manifests, parsed, and the config the kustomization puts in its ConfigMap.
struct Manifests {
    statefulset: Yaml,
    service: Yaml,
    kustomization: Yaml,
    config: toml::Table,
}

impl Manifests {
    fn load() -> Self {
        let one = |file: &str| {
            let mut docs = yaml(&deploy(&format!("kubernetes/{file}")));
            assert_eq!(docs.len(), 1, "{file}: one document");
            docs.remove(0)
        };
        let manifests = Self {
            statefulset: one("statefulset.yaml"),
            service: one("service.yaml"),
            kustomization: one("kustomization.yaml"),
            config: config(&deploy("kubernetes/switchyard.toml")),
        };
        assert_eq!(manifests.statefulset["kind"].as_str(), Some("StatefulSet"));
        assert_eq!(manifests.service["kind"].as_str(), Some("Service"));
        manifests
    }

    fn pod(&self) -> &Yaml {
        &self.statefulset["spec"]["template"]["spec"]
    }

    fn container(&self) -> &Yaml {
        let containers = self.pod()["containers"].as_vec().unwrap();
        assert_eq!(containers.len(), 1, "one container");
        &containers[0]
    }

    /// The file keys of the generated ConfigMap `name` (kustomize names a key after the
    /// file, or `key=file`).
    fn configmap_keys(&self, name: &str) -> BTreeMap<String, String> {
        let generators = self.kustomization["configMapGenerator"].as_vec().unwrap();
        let generator = generators
            .iter()
            .find(|g| g["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("kustomization.yaml generates no ConfigMap {name}"));
        generator["files"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|f| {
                let f = text(f, "a configMapGenerator file");
                let (key, file) = f
                    .split_once('=')
                    .unwrap_or((f.rsplit('/').next().unwrap(), f));
                (key.to_owned(), file.to_owned())
            })
            .collect()
    }

    /// The mount path of the volume that holds ConfigMap `name`.
    fn configmap_mount(&self, name: &str) -> String {
        let volumes = self.pod()["volumes"].as_vec().unwrap();
        let volume = volumes
            .iter()
            .find(|v| v["configMap"]["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no volume holds the ConfigMap {name}"));
        self.mount_of(text(&volume["name"], "a volume's name"))
    }

    /// The mount path of volume (or claim template) `volume` in the container.
    fn mount_of(&self, volume: &str) -> String {
        let mounts = self.container()["volumeMounts"].as_vec().unwrap();
        let mount = mounts
            .iter()
            .find(|m| m["name"].as_str() == Some(volume))
            .unwrap_or_else(|| panic!("the container does not mount {volume}"));
        text(&mount["mountPath"], "mountPath").to_owned()
    }

    /// The config file the container's arguments name.
    fn config_path(&self) -> String {
        let args: Vec<&str> = self.container()["args"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|a| text(a, "an argument"))
            .collect();
        assert!(
            args.contains(&"run"),
            "the container runs the gateway: {args:?}"
        );
        let at = args
            .iter()
            .position(|a| *a == "--config")
            .expect("--config");
        args[at + 1].to_owned()
    }

    /// A port reference (a name or a number) as a container port number.
    fn container_port(&self, reference: &Yaml) -> u16 {
        let ports = self.container()["ports"].as_vec().unwrap();
        let port = ports
            .iter()
            .find(|p| match reference {
                Yaml::String(name) => p["name"].as_str() == Some(name),
                Yaml::Integer(n) => p["containerPort"].as_i64() == Some(*n),
                _ => false,
            })
            .unwrap_or_else(|| panic!("no container port {reference:?}"));
        port["containerPort"].as_i64().unwrap() as u16
    }
}

#[test]
fn the_manifests_are_valid_kubernetes_objects() {
    // 1.30 is the oldest Kubernetes with the preStop `sleep` action on by default; the
    // newest is what kubernetes-validate knows.
    let files = ["statefulset.yaml", "service.yaml"].map(|f| deploy(&format!("kubernetes/{f}")));
    let files: Vec<&str> = files.iter().map(|f| f.to_str().unwrap()).collect();
    for version in [&["-k", "1.30.0"][..], &[]] {
        let mut args = vec!["--strict"];
        args.extend_from_slice(version);
        args.extend_from_slice(&files);
        tool("kubernetes-validate", &args);
    }
}

#[test]
fn the_probes_and_the_service_reach_the_public_listener_and_never_the_admin_one() {
    let m = Manifests::load();
    let (public, _) = listen(&m.config, "server");
    let (admin, admin_on_loopback) = listen(&m.config, "admin");
    let container = m.container();
    for (probe, path) in [
        ("startupProbe", "/healthz"),
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/readyz"),
    ] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"].as_str(), Some(path), "{probe}");
        assert_eq!(m.container_port(&get["port"]), public, "{probe} port");
    }
    let ports = m.service["spec"]["ports"].as_vec().unwrap();
    assert_eq!(
        ports.len(),
        1,
        "the Service exposes the public listener only"
    );
    assert_eq!(m.container_port(&ports[0]["targetPort"]), public);
    assert_eq!(
        m.service["spec"]["selector"], m.statefulset["spec"]["template"]["metadata"]["labels"],
        "the Service selects the StatefulSet's pods"
    );
    assert!(
        admin_on_loopback,
        "the admin listener stays on the pod's loopback"
    );
    for port in container["ports"].as_vec().unwrap() {
        assert_ne!(
            port["containerPort"].as_i64(),
            Some(admin as i64),
            "the admin port is declared"
        );
    }
}

#[test]
fn the_config_filters_and_queue_are_mounted_where_the_config_says() {
    let m = Manifests::load();
    let config_path = m.config_path();
    let config_keys = m.configmap_keys("switchyard-config");
    let config_mount = m.configmap_mount("switchyard-config");
    assert_eq!(
        config_keys.keys().collect::<Vec<_>>(),
        ["switchyard.toml"],
        "the config ConfigMap holds the config"
    );
    assert_eq!(config_path, format!("{config_mount}/switchyard.toml"));

    // Every module the config names is a file of the filters ConfigMap, where it is
    // mounted, and every file there is used.
    let filter_keys = m.configmap_keys("switchyard-filters");
    let filters_mount = m.configmap_mount("switchyard-filters");
    let mut modules: Vec<String> = modules(&m.config)
        .iter()
        .map(|module| resolve(&config_path, module))
        .collect();
    modules.sort();
    let provided: Vec<String> = filter_keys
        .keys()
        .map(|key| format!("{filters_mount}/{key}"))
        .collect();
    assert_eq!(modules, provided);

    // What the gateway writes is on the claim: the root file system is read-only.
    let claims = m.statefulset["spec"]["volumeClaimTemplates"]
        .as_vec()
        .unwrap();
    assert_eq!(claims.len(), 1);
    let data = m.mount_of(text(&claims[0]["metadata"]["name"], "the claim's name"));
    for (table, key) in [("queue", "dir"), ("filters", "cache_dir")] {
        let path = setting(&m.config, table, key);
        assert!(
            is_under(path, &data),
            "{table}.{key} {path} is not on the claim at {data}"
        );
    }
    assert_eq!(
        m.container()["securityContext"]["readOnlyRootFilesystem"].as_bool(),
        Some(true)
    );

    // A subPath mount is a copy taken at start: ConfigMap updates would never arrive.
    for mount in m.container()["volumeMounts"].as_vec().unwrap() {
        assert!(mount["subPath"].is_badvalue(), "subPath in {mount:?}");
    }
    assert_eq!(
        m.kustomization["generatorOptions"]["disableNameSuffixHash"].as_bool(),
        Some(true),
        "fixed ConfigMap names, so an update reaches the running pod"
    );
}

#[test]
fn the_config_passes_check_where_the_pod_has_it() {
    let m = Manifests::load();
    // The kustomization reads the filters from filters/, where docs/deploy.md has them
    // built; here they are built from the examples.
    for file in m.configmap_keys("switchyard-filters").values() {
        assert!(file.starts_with("filters/"), "{file}");
    }
    Root::new().check_installed(&m.config_path(), &m.config);
}

#[test]
fn the_pod_outlives_the_drain_and_runs_as_the_image_user() {
    let m = Manifests::load();
    let pod = m.pod();
    let grace = pod["terminationGracePeriodSeconds"].as_i64().unwrap() as u64;
    let pre_stop = m.container()["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_i64()
        .expect("a preStop sleep") as u64;
    assert!(pre_stop > 0);
    assert!(
        grace > pre_stop + LANE_GRACE_SECS,
        "terminationGracePeriodSeconds {grace} leaves no room after preStop {pre_stop} s and the {LANE_GRACE_SECS} s drain"
    );
    let dockerfile = super::docker::Dockerfile::load();
    assert_eq!(
        pod["securityContext"]["runAsUser"]
            .as_i64()
            .map(|u| u.to_string()),
        Some(dockerfile.user_id()),
        "the pod runs as the image's user"
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(
        m.statefulset["spec"]["replicas"].as_i64(),
        Some(1),
        "the embedded queue belongs to one gateway"
    );
}

/// A directory laid out as the kubelet writes a ConfigMap volume: each key a symlink to
/// `..data/<key>`, `..data` a symlink to a timestamped directory holding the files.
struct ConfigMapVolume {
    dir: PathBuf,
    version: usize,
}

impl ConfigMapVolume {
    fn new(dir: PathBuf, files: &[(String, Vec<u8>)]) -> Self {
        let mut volume = Self { dir, version: 0 };
        volume.update(files);
        for (key, _) in files {
            std::os::unix::fs::symlink(format!("..data/{key}"), volume.dir.join(key)).unwrap();
        }
        volume
    }

    /// The kubelet's update: the files in a new directory, `..data` pointed at it by one
    /// rename, the old directory removed.
    fn update(&mut self, files: &[(String, Vec<u8>)]) {
        self.version += 1;
        let version = format!("..2026_12_01_00_00_0{}.000000000", self.version);
        std::fs::create_dir(self.dir.join(&version)).unwrap();
        for (key, bytes) in files {
            std::fs::write(self.dir.join(&version).join(key), bytes).unwrap();
        }
        std::os::unix::fs::symlink(&version, self.dir.join("..data_tmp")).unwrap();
        std::fs::rename(self.dir.join("..data_tmp"), self.dir.join("..data")).unwrap();
        if self.version > 1 {
            let old = format!("..2026_12_01_00_00_0{}.000000000", self.version - 1);
            std::fs::remove_dir_all(self.dir.join(old)).unwrap();
        }
    }
}

/// The pod, stood in for by a container made with systemd-nspawn (see [`Container`]; no
/// kubelet here): the ConfigMaps in the kubelet's layout and the claim mounted where the
/// StatefulSet mounts them, nothing else writable (`readOnlyRootFilesystem`), the image's
/// entrypoint with the container's arguments as `runAsUser`, the config unchanged (its `0.0.0.0` listener inside a network
/// namespace that has only loopback). While it serves, the filters ConfigMap is updated as
/// the kubelet does it, and the gateway must load the new module.
#[test]
fn the_pod_serves_writing_only_its_claim_and_reloads_an_updated_filters_configmap() {
    let m = Manifests::load();
    let pod = m.pod();
    let user = pod["securityContext"]["runAsUser"].as_i64().unwrap() as u32;
    let mut container = Container::new(true);
    let config_file = read(&deploy("kubernetes/switchyard.toml"));
    let config_files = vec![("switchyard.toml".to_owned(), config_file.into_bytes())];
    let config_volume = ConfigMapVolume::new(container.dir("configmap-config"), &config_files);
    container.bind(
        &config_volume.dir,
        &m.configmap_mount("switchyard-config"),
        true,
    );
    let keys: Vec<String> = m.configmap_keys("switchyard-filters").into_keys().collect();
    let filters = |module: &dyn Fn(&str) -> PathBuf| -> Vec<(String, Vec<u8>)> {
        let file = |key: &String| (key.clone(), std::fs::read(module(key)).unwrap());
        keys.iter().map(file).collect()
    };
    let mut filters_volume = ConfigMapVolume::new(
        container.dir("configmap-filters"),
        &filters(&|key| example_module(key)),
    );
    container.bind(
        &filters_volume.dir,
        &m.configmap_mount("switchyard-filters"),
        true,
    );
    let claims = m.statefulset["spec"]["volumeClaimTemplates"]
        .as_vec()
        .unwrap();
    let data = m.mount_of(text(&claims[0]["metadata"]["name"], "the claim's name"));
    container.volume(&data, user);

    let probe = &m.container()["livenessProbe"]["httpGet"];
    let steps = Exercise {
        user,
        public_port: m.container_port(&probe["port"]),
        health_path: text(&probe["path"], "the liveness path").to_owned(),
        admin_port: listen(&m.config, "admin").0,
        config: m.config_path(),
        data,
        configmap_update: true,
    };
    let mut entrypoint = super::docker::Dockerfile::load().runtime_exec("ENTRYPOINT");
    let args = m.container()["args"].as_vec().unwrap();
    entrypoint.extend(args.iter().map(|a| text(a, "an argument").to_owned()));
    let command = container.exercise(&steps, &entrypoint);
    let running = container.start(false, &command);

    running.wait_for("ready_for_update");
    let noop = guests::wasm("filter-noop");
    filters_volume.update(&filters(&|_| noop.clone()));
    running.tell("updated");
    let results = running.finish();
    results.assert_served_and_drained(&steps, &m.config);
    let first = example_module(&keys[0]);
    assert_eq!(results.ok("hash_before").trim(), file_hash(&first));
    assert_eq!(
        results.ok("hash_after").trim(),
        file_hash(&noop),
        "the updated ConfigMap's module is not the one running; logs:\n{}",
        results.logs()
    );
}
