//! Where segment files go: the [`SegmentSink`] trait and its file-system implementation.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Storage for segment files. A segment is created, appended to, then either finished (made
/// durable) or abandoned after an error.
pub trait SegmentSink {
    /// An open segment file.
    type Handle;
    /// Creates a new file called `name`; it must not exist already.
    fn create(&mut self, name: &str) -> std::io::Result<Self::Handle>;
    /// Appends bytes to the file.
    fn write(&mut self, handle: &mut Self::Handle, data: &[u8]) -> std::io::Result<()>;
    /// Makes the complete file durable.
    fn finish(&mut self, handle: Self::Handle) -> std::io::Result<()>;
    /// Gives up on the file after an error (best effort; errors are ignored).
    fn abandon(&mut self, handle: Self::Handle);
}

/// Segment files in one directory, created with moonfire-nvr's crash invariant: the file is
/// created with `O_EXCL` (never overwriting), written, `fsync`ed, then the directory is
/// `fsync`ed so that the new entry survives a crash before the caller records the segment in its
/// database. Abandoned files are removed.
#[derive(Debug, Clone)]
pub struct FsSink {
    dir: PathBuf,
}

/// An open file of an [`FsSink`].
#[derive(Debug)]
pub struct FsHandle {
    file: File,
    path: PathBuf,
}

impl FsSink {
    /// A sink writing into `dir` (which must exist).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FsSink { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl SegmentSink for FsSink {
    type Handle = FsHandle;

    fn create(&mut self, name: &str) -> std::io::Result<FsHandle> {
        let path = self.dir.join(name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(FsHandle { file, path })
    }

    fn write(&mut self, handle: &mut FsHandle, data: &[u8]) -> std::io::Result<()> {
        handle.file.write_all(data)
    }

    fn finish(&mut self, handle: FsHandle) -> std::io::Result<()> {
        handle.file.sync_all()?;
        drop(handle.file);
        File::open(&self.dir)?.sync_all()
    }

    fn abandon(&mut self, handle: FsHandle) {
        drop(handle.file);
        let _ = std::fs::remove_file(&handle.path);
    }
}
