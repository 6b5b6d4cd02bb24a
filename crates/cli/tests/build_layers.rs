//! The layers `berth build` makes: on overlay a step's layer is its build
//! container's upper dir, adopted where it is (`Store::adopt_container_layer`)
//! rather than unpacked from its tar; it must hold what that tar unpacks
//! to, whiteouts and opaque directories included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use common::*;

/// A tree as a layer holds it: type, owner, mode, content or target,
/// xattrs; mtimes in seconds (a tar keeps no more).
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(dir: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for e in std::fs::read_dir(dir.join(rel)).unwrap() {
            let r = rel.join(e.unwrap().file_name());
            let p = dir.join(&r);
            let md = std::fs::symlink_metadata(&p).unwrap();
            let ft = md.file_type();
            let what = if ft.is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if ft.is_file() {
                format!("file {:?} mtime {}", std::fs::read(&p).unwrap().len(), md.mtime())
            } else if ft.is_char_device() {
                format!("char {}", md.rdev())
            } else {
                "dir".into()
            };
            let mut names = vec![0u8; 4096];
            let n = rustix::fs::llistxattr(&p, &mut names[..]).unwrap();
            let mut x: Vec<String> = names[..n]
                .split(|b| *b == 0)
                .filter(|k| !k.is_empty())
                .map(|k| String::from_utf8_lossy(k).into())
                .collect();
            x.sort();
            out.insert(r.clone(), format!("{what} {}:{} {:o} {x:?}", md.uid(), md.gid(), md.mode() & 0o7777));
            if ft.is_dir() {
                walk(dir, &r, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, Path::new(""), &mut out);
    out
}

fn top_layer_dir(env: &Env) -> impl Fn(&str) -> PathBuf + '_ {
    move |chain: &str| env.path("root").join("overlay/layers").join(chain).join("diff")
}

/// The layers of a build that removes a base file and replaces a base
/// directory (RUN) and copies files (COPY) are what their blobs unpack to
/// in another store; the image runs with the changes; no build container
/// or staging leftover stays; a rebuild comes from the cache.
#[test]
fn build_step_layers_are_what_their_tars_unpack_to() {
    let (env, _) = Env::with_busybox();
    let base = context(
        &env,
        "FROM localhost/bb\n\
         RUN mkdir -p /base/dir/sub && echo keep > /base/keep && echo gone > /base/gone && echo old > /base/dir/sub/old\n",
        &[],
    );
    build(&env, &["-q", "-t", "base"], &base);
    let ctx = context(
        &env,
        "FROM localhost/base\n\
         RUN rm /base/gone && rm -rf /base/dir && mkdir /base/dir && echo new > /base/dir/new && chmod 600 /base/keep\n\
         COPY f.txt /copied/f.txt\n\
         RUN ln -s /copied/f.txt /base/link && ln /copied/f.txt /base/hard\n",
        &[("f.txt", "copied\n")],
    );
    build(&env, &["-q", "-t", "built"], &ctx);
    assert_eq!(env.ok(&["ps", "-a", "-q"]).trim(), "", "build containers are removed");
    let staging = env.path("root").join("overlay/staging");
    assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0, "nothing left in {}", staging.display());

    let seen = env.ok(&[
        "run",
        "--rm",
        "built",
        "sh",
        "-c",
        "ls -A /base; echo --; ls -A /base/dir; cat /copied/f.txt /base/link /base/hard; stat -c %a /base/keep",
    ]);
    assert_eq!(seen, "dir\nhard\nkeep\nlink\n--\nnew\ncopied\ncopied\ncopied\n600\n");

    // Another store gets the image from an archive: its layers are
    // unpacked from the blobs. Each layer the build made holds the same.
    let archive = env.path("built.tar");
    env.ok(&["save", "-q", "-o", archive.to_str().unwrap(), "built"]);
    let other = Env::new();
    other.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
    let ours = top_layer_dir(&env);
    let theirs = top_layer_dir(&other);
    let built = env.layer_dirs();
    let loaded = other.layer_dirs();
    let made: Vec<&String> = loaded.iter().filter(|l| built.contains(l)).collect();
    assert_eq!(made.len(), loaded.len(), "the same chain IDs: {built:?} {loaded:?}");
    let mut whiteouts = 0;
    let mut opaque = 0;
    for chain in made {
        let (a, b) = (tree(&ours(chain)), tree(&theirs(chain)));
        assert_eq!(a, b, "layer {chain}");
        whiteouts += a.values().filter(|v| v.starts_with("char 0 ")).count();
        opaque += a.values().filter(|v| v.contains("trusted.overlay.opaque")).count();
    }
    assert!(whiteouts >= 1 && opaque >= 1, "the RUN's whiteout and opaque directory are there");

    let again = build(&env, &["-t", "built"], &ctx);
    assert_eq!(again.matches("Using cache").count(), 3, "{again}");
}
