//! Copying a tree with everything kept (owners, modes, xattrs, times,
//! hardlinks, devices): stream a full layer tar of the source straight into
//! an apply of the destination. One well-tested code path instead of two.

use std::fs::File;
use std::path::Path;

use image::layer::{self, Mode, Source};

use crate::error::{Context, Result};

pub(crate) fn copy_tree(src: &Path, dst: &Path) -> Result<()> {
    let (rd, wr) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).context(|| "pipe".into())?;
    let (reader, writer) = (File::from(rd), File::from(wr));
    std::thread::scope(|s| {
        let producer = s.spawn(move || layer::create(src, Source::Full, writer).map(drop));
        let applied = layer::apply(reader, dst, Mode::Flatten);
        let produced = producer.join();
        // A producer failure shows up in the consumer as a truncated tar, and a
        // consumer failure in the producer as a broken pipe: report the cause.
        match (produced, applied) {
            (Ok(Ok(())), Ok(_)) => copy_root_meta(src, dst),
            (Ok(Err(p)), Err(image::Error::InvalidLayer(_))) => Err(p.into()),
            (_, Err(c)) => Err(c.into()),
            (Ok(Err(p)), Ok(_)) => Err(p.into()),
            (Err(_), Ok(_)) => Err(crate::Error::Io {
                context: format!("copy {}", src.display()),
                source: std::io::Error::other("tar writer panicked"),
            }),
        }
    })
}

/// Give `dst` the owner and mode of `src`: applying a tar leaves the
/// target's own root as it is (see `layer::apply`).
fn copy_root_meta(src: &Path, dst: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let md = std::fs::symlink_metadata(src).context(|| format!("stat {}", src.display()))?;
    std::os::unix::fs::lchown(dst, Some(md.uid()), Some(md.gid())).context(|| format!("chown {}", dst.display()))?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(md.mode() & 0o7777))
        .context(|| format!("chmod {}", dst.display()))
}
