use super::*;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn image_manifest(media_type: Option<&str>, config_mt: &str, layer_mt: &str) -> String {
    let mt = media_type.map(|m| format!("\"mediaType\": \"{m}\",")).unwrap_or_default();
    format!(
        r#"{{"schemaVersion": 2, {mt}
            "config": {{"mediaType": "{config_mt}", "digest": "{D1}", "size": 10}},
            "layers": [{{"mediaType": "{layer_mt}", "digest": "{D2}", "size": 20}}]}}"#
    )
}

fn index(media_type: &str, entry_mt: &str, platforms: &[(&str, &str, Option<&str>)]) -> String {
    let entries: Vec<String> = platforms
        .iter()
        .enumerate()
        .map(|(i, (os, arch, variant))| {
            let v = variant.map(|v| format!(",\"variant\":\"{v}\"")).unwrap_or_default();
            format!(
                r#"{{"mediaType":"{entry_mt}","digest":"sha256:{:064x}","size":1,
                    "platform":{{"os":"{os}","architecture":"{arch}"{v}}}}}"#,
                i + 1
            )
        })
        .collect();
    format!(r#"{{"schemaVersion":2,"mediaType":"{media_type}","manifests":[{}]}}"#, entries.join(","))
}

#[test]
fn classifies_by_media_type() {
    let oci = image_manifest(Some(mt::OCI_MANIFEST), mt::OCI_CONFIG, mt::OCI_LAYER_GZIP);
    assert_eq!(Manifest::parse(oci.as_bytes(), None).unwrap().kind(), ManifestKind::OciManifest);
    let docker = image_manifest(Some(mt::DOCKER_MANIFEST), mt::DOCKER_CONFIG, mt::DOCKER_LAYER_GZIP);
    let m = Manifest::parse(docker.as_bytes(), None).unwrap();
    assert_eq!(m.kind(), ManifestKind::DockerManifest);
    assert_eq!(m.media_type(), mt::DOCKER_MANIFEST);
    assert_eq!(m.references().len(), 2);
    let Manifest::Image(_, im) = &m else { panic!("not an image") };
    assert!(is_config_media_type(im.config().media_type()));
    assert_eq!(layer_compression(im.layers()[0].media_type()).unwrap(), Compression::Gzip);
    assert_eq!(descriptor_digest(&im.layers()[0]).unwrap().to_string(), D2);

    let oci_idx = index(mt::OCI_INDEX, mt::OCI_MANIFEST, &[("linux", "amd64", None)]);
    assert_eq!(Manifest::parse(oci_idx.as_bytes(), None).unwrap().kind(), ManifestKind::OciIndex);
    let list = index(mt::DOCKER_MANIFEST_LIST, mt::DOCKER_MANIFEST, &[("linux", "amd64", None)]);
    let m = Manifest::parse(list.as_bytes(), None).unwrap();
    assert_eq!(m.kind(), ManifestKind::DockerManifestList);
    assert!(m.kind().is_index());
}

#[test]
fn missing_media_type_uses_hint_or_shape() {
    let bare = image_manifest(None, mt::OCI_CONFIG, mt::OCI_LAYER);
    assert_eq!(Manifest::parse(bare.as_bytes(), None).unwrap().kind(), ManifestKind::OciManifest);
    let m = Manifest::parse(bare.as_bytes(), Some(mt::DOCKER_MANIFEST)).unwrap();
    assert_eq!(m.kind(), ManifestKind::DockerManifest);
    let idx = r#"{"schemaVersion":2,"manifests":[]}"#;
    assert_eq!(Manifest::parse(idx.as_bytes(), None).unwrap().kind(), ManifestKind::OciIndex);
}

#[test]
fn rejects_unknown_and_broken() {
    let weird = image_manifest(Some("application/vnd.example+json"), mt::OCI_CONFIG, mt::OCI_LAYER);
    match Manifest::parse(weird.as_bytes(), None) {
        Err(Error::UnsupportedMediaType(m)) => assert_eq!(m, "application/vnd.example+json"),
        other => panic!("{other:?}"),
    }
    let v1 = r#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
    assert!(matches!(Manifest::parse(v1.as_bytes(), None), Err(Error::UnsupportedMediaType(_))));
    assert!(matches!(Manifest::parse(b"{", None), Err(Error::InvalidManifest(_))));
    let no_layers = format!(r#"{{"schemaVersion":2,"mediaType":"{}","config":{{}}}}"#, mt::OCI_MANIFEST);
    let e = Manifest::parse(no_layers.as_bytes(), None).unwrap_err();
    assert!(matches!(e, Error::InvalidManifest(_)), "{e}");
    assert!(!e.to_string().contains('\n'));
    assert!(layer_compression(&MediaType::ImageConfig).is_err());
}

#[test]
fn media_type_mapping() {
    let m = |s: &str| MediaType::from(s);
    assert_eq!(to_oci_media_type(&m(mt::DOCKER_LAYER_GZIP)), MediaType::ImageLayerGzip);
    assert_eq!(to_oci_media_type(&m(mt::DOCKER_CONFIG)), MediaType::ImageConfig);
    assert_eq!(to_oci_media_type(&m(mt::DOCKER_MANIFEST_LIST)), MediaType::ImageIndex);
    assert_eq!(to_oci_media_type(&m(mt::OCI_LAYER)), MediaType::ImageLayer);
    assert_eq!(layer_compression(&m(mt::DOCKER_FOREIGN_LAYER_GZIP)).unwrap(), Compression::Gzip);
    assert_eq!(layer_compression(&MediaType::ImageLayerZstd).unwrap(), Compression::Zstd);
}

fn selected(list: &str, want: &PlatformSpec) -> Result<String> {
    let Manifest::Index(_, idx) = Manifest::parse(list.as_bytes(), None).unwrap() else { panic!("not an index") };
    select(&idx, want).map(|d| d.digest().to_string()[70..].to_string())
}

#[test]
fn platform_selection() {
    let list = index(
        mt::DOCKER_MANIFEST_LIST,
        mt::DOCKER_MANIFEST,
        &[
            ("linux", "arm", Some("v6")),
            ("linux", "arm", Some("v7")),
            ("linux", "arm64", Some("v8")),
            ("linux", "amd64", None),
            ("unknown", "unknown", None),
        ],
    );
    let p = PlatformSpec::parse;
    assert_eq!(selected(&list, &p("linux/amd64").unwrap()).unwrap(), "4");
    assert_eq!(selected(&list, &p("linux/arm64").unwrap()).unwrap(), "3");
    assert_eq!(selected(&list, &p("linux/arm64/v8").unwrap()).unwrap(), "3");
    assert_eq!(selected(&list, &p("linux/aarch64").unwrap()).unwrap(), "3");
    assert_eq!(selected(&list, &p("linux/arm").unwrap()).unwrap(), "2", "arm defaults to v7");
    assert_eq!(selected(&list, &p("linux/arm/v6").unwrap()).unwrap(), "1");
    let e = selected(&list, &p("linux/s390x").unwrap()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::NoMatchingPlatform(_)));
    assert!(msg.contains("linux/s390x") && msg.contains("linux/arm/v6") && msg.contains("linux/amd64"), "{msg}");
    assert!(selected(&list, &p("windows/amd64").unwrap()).is_err());
    // An arm64 entry without variant matches a v8 request and vice versa.
    let plain = index(mt::OCI_INDEX, mt::OCI_MANIFEST, &[("linux", "arm64", None)]);
    assert_eq!(selected(&plain, &p("linux/arm64/v8").unwrap()).unwrap(), "1");
    assert!(p("linux").is_err() && p("a/b/c/d").is_err() && p("linux//v7").is_err());
}

#[test]
fn host_platform_uses_goarch_names() {
    let h = PlatformSpec::host();
    assert_eq!(h.os, "linux");
    #[cfg(target_arch = "x86_64")]
    assert_eq!(h.to_string(), "linux/amd64");
    #[cfg(target_arch = "aarch64")]
    assert_eq!(h.to_string(), "linux/arm64");
}

#[test]
fn parses_docker_and_oci_configs() {
    let docker = r#"{
        "architecture": "amd64", "os": "linux", "docker_version": "24.0.0",
        "container_config": {"Hostname": "x"},
        "config": {
            "Env": ["PATH=/usr/bin", "A=b"], "Cmd": ["sh"], "Entrypoint": null,
            "WorkingDir": "/w", "User": "1000:1000",
            "ExposedPorts": {"80/tcp": {}}, "Labels": {"k": "v"}, "Volumes": {"/data": {}}
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:1111111111111111111111111111111111111111111111111111111111111111"]},
        "history": [{"created_by": "/bin/sh -c #(nop) ADD file", "empty_layer": false}]
    }"#;
    let c = parse_config(docker.as_bytes()).unwrap();
    let cfg = c.config().as_ref().unwrap();
    assert_eq!(cfg.env().as_deref(), Some(&["PATH=/usr/bin".to_string(), "A=b".to_string()][..]));
    assert_eq!(cfg.cmd().as_deref(), Some(&["sh".to_string()][..]));
    assert_eq!(cfg.entrypoint(), &None);
    assert_eq!(cfg.working_dir().as_deref(), Some("/w"));
    assert_eq!(cfg.user().as_deref(), Some("1000:1000"));
    assert_eq!(cfg.exposed_ports().as_deref(), Some(&["80/tcp".to_string()][..]));
    assert_eq!(cfg.volumes().as_deref(), Some(&["/data".to_string()][..]));
    assert_eq!(cfg.labels().as_ref().unwrap()["k"], "v");
    assert_eq!(diff_ids(&c).unwrap()[0].to_string(), D1);
    assert_eq!(c.history().as_ref().unwrap().len(), 1);
    assert_eq!(c.architecture().to_string(), "amd64");

    let minimal = r#"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let c = parse_config(minimal.as_bytes()).unwrap();
    assert!(c.config().is_none());
    assert!(diff_ids(&c).unwrap().is_empty());
    let bad = r#"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":["md5:x"]}}"#;
    assert!(matches!(diff_ids(&parse_config(bad.as_bytes()).unwrap()), Err(Error::InvalidConfig(_))));
    assert!(matches!(parse_config(b"[]"), Err(Error::InvalidConfig(_))));
}
