//! Warnings a store adds to an answer it could give only in part (object storage
//! unreachable, so the blocks were left out): a side channel beside [`Queryable`]'s
//! results, so no method of the trait changes shape.
//!
//! A reader that wants them wraps its store in [`Collecting`] for one request; every
//! store the request reaches through it, however deeply nested ([`Fanout`](crate::Fanout),
//! [`QueryShards`](crate::QueryShards), a bucket store), may call [`warn`] while it is
//! polled, and the reader takes the warnings from its [`Warnings`] afterwards. A store
//! polled outside such a scope warns into nothing. The invariant: a warning is added
//! only where the answer is still correct for what it holds; a store that cannot answer
//! at all returns an error instead.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::Mutex;
use pyrite_model::Matcher;

use crate::{Queryable, SelectHints, Series, StorageError};

tokio::task_local! {
    static CURRENT: Warnings;
}

/// The warnings of one request, deduplicated, in the order they were first added.
#[derive(Clone, Default)]
pub struct Warnings(Arc<Mutex<Vec<String>>>);

impl Warnings {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&self, msg: String) {
        let mut all = self.0.lock();
        if !all.contains(&msg) {
            all.push(msg);
        }
    }

    /// The warnings so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock())
    }

    /// Runs `fut` with this collector as the one [`warn`] adds to.
    pub async fn scope<F: Future>(&self, fut: F) -> F::Output {
        CURRENT.scope(self.clone(), fut).await
    }
}

/// Adds a warning to the answer being computed (nothing outside a [`Warnings::scope`]).
pub fn warn(msg: impl Into<String>) {
    let msg = msg.into();
    let _ = CURRENT.try_with(|w| w.add(msg));
}

/// A store whose every call collects the warnings of the stores beneath it into one
/// [`Warnings`]: what a reader wraps its store in for one request.
pub struct Collecting {
    inner: Arc<dyn Queryable>,
    warnings: Warnings,
}

impl Collecting {
    pub fn new(inner: Arc<dyn Queryable>) -> Self {
        Self {
            inner,
            warnings: Warnings::new(),
        }
    }

    pub fn warnings(&self) -> &Warnings {
        &self.warnings
    }
}

#[async_trait]
impl Queryable for Collecting {
    async fn select(
        &self,
        tenant: &str,
        hints: SelectHints,
        matchers: &[Matcher],
    ) -> Result<Vec<Series>, StorageError> {
        self.warnings.scope(self.inner.select(tenant, hints, matchers)).await
    }

    async fn series(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<pyrite_model::Labels>, StorageError> {
        self.warnings
            .scope(self.inner.series(tenant, start, end, matchers))
            .await
    }

    async fn label_names(
        &self,
        tenant: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        self.warnings
            .scope(self.inner.label_names(tenant, start, end, matchers))
            .await
    }

    async fn label_values(
        &self,
        tenant: &str,
        name: &str,
        start: i64,
        end: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        self.warnings
            .scope(self.inner.label_values(tenant, name, start, end, matchers))
            .await
    }
}
