//! What one stack of layers changes over another, as one layer: the
//! filesystem of a build's image squashed (`build --squash`, `--squash-all`).

use std::io::Write;

use crate::{ChainId, Result, Store};

impl Store {
    /// A layer tar of what the image of `top` (bottom to top) changes over
    /// the image of `base` (empty: everything in it). Both are mounted
    /// read-only as views while their trees are compared.
    pub fn diff_between(&self, base: &[ChainId], top: &[ChainId], out: &mut dyn Write) -> Result<()> {
        let old = self.image_view(base)?;
        let new = self.image_view(top)?;
        crate::changes::write(old.path(), new.path(), out)
    }
}
