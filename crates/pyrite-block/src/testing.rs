//! A bucket whose faults a test switches on and off, for the components that must keep
//! going while object storage misbehaves (the gateways, the ingesters' cutting). Built
//! with the `test-support` feature; nothing in a release uses it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use futures::stream::{BoxStream, StreamExt};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult,
};
use parking_lot::Mutex;

/// An in-memory bucket that can be cut off (every call fails, as an unreachable object
/// store's do) or refuse writes under one prefix (a tenant's directory, say).
#[derive(Debug, Default)]
pub struct FaultyBucket {
    inner: InMemory,
    down: AtomicBool,
    refuse_writes_under: Mutex<Option<String>>,
    refused: AtomicUsize,
}

impl std::fmt::Display for FaultyBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaultyBucket")
    }
}

impl FaultyBucket {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every call fails while `down`.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Writes to paths starting with `prefix` fail (none do after `None`).
    pub fn refuse_writes_under(&self, prefix: Option<&str>) {
        *self.refuse_writes_under.lock() = prefix.map(str::to_string);
    }

    /// How many calls have failed so far.
    pub fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }

    fn check(&self, write: Option<&Path>) -> object_store::Result<()> {
        let refused_prefix = write.is_some_and(|p| {
            self.refuse_writes_under
                .lock()
                .as_deref()
                .is_some_and(|prefix| p.as_ref().starts_with(prefix))
        });
        if self.down.load(Ordering::SeqCst) || refused_prefix {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(object_store::Error::Generic {
                store: "FaultyBucket",
                source: "connection refused".into(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl ObjectStore for FaultyBucket {
    async fn put_opts(&self, l: &Path, p: PutPayload, o: PutOptions) -> object_store::Result<PutResult> {
        self.check(Some(l))?;
        self.inner.put_opts(l, p, o).await
    }
    async fn put_multipart_opts(
        &self,
        l: &Path,
        o: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.check(Some(l))?;
        self.inner.put_multipart_opts(l, o).await
    }
    async fn get_opts(&self, l: &Path, o: GetOptions) -> object_store::Result<GetResult> {
        self.check(None)?;
        self.inner.get_opts(l, o).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        match self.check(None) {
            Ok(()) => self.inner.list(prefix),
            Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
        }
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.check(None)?;
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(&self, from: &Path, to: &Path, o: CopyOptions) -> object_store::Result<()> {
        self.check(Some(to))?;
        self.inner.copy_opts(from, to, o).await
    }
}
