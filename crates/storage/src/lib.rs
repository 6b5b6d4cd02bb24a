//! Layer store and container root filesystems (in progress).
