//! What a shard's gRPC failure means to the write and read paths: the storage error
//! classes that the HTTP layers turn into statuses (4xx for the caller's faults, 429 for
//! limits, 5xx for ours so that senders retry).

use pyrite_storage::{AppendError, StorageError};
use tonic::{Code, Status};

/// A failed push of one shard's part of a write.
pub fn append_error(s: Status) -> AppendError {
    match s.code() {
        // The ingester could not read the command we built: our fault, not the sender's.
        Code::InvalidArgument | Code::Internal => AppendError::Internal(s.message().to_string()),
        Code::ResourceExhausted => AppendError::Limit(s.message().to_string()),
        _ => AppendError::Unavailable(s.message().to_string()),
    }
}

/// What the shards' answers to the parts of one write come to: the outcomes merged
/// (each made by `outcome`), or the worst failure.
pub fn gather<T>(
    results: Vec<Result<T, Status>>,
    outcome: impl Fn(T) -> pyrite_storage::AppendOutcome,
) -> Result<pyrite_storage::AppendOutcome, AppendError> {
    let mut merged = pyrite_storage::AppendOutcome::default();
    let mut failure = None;
    for r in results {
        match r {
            Ok(answer) => merged.merge(outcome(answer)),
            Err(s) => failure = worst(failure, append_error(s)),
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(merged),
    }
}

/// A failed read of one shard.
pub fn storage_error(s: Status) -> StorageError {
    match s.code() {
        Code::InvalidArgument => StorageError::BadRequest(s.message().to_string()),
        Code::ResourceExhausted => StorageError::LimitExceeded(s.message().to_string()),
        Code::Cancelled => StorageError::Canceled,
        Code::Unavailable | Code::DeadlineExceeded | Code::FailedPrecondition | Code::NotFound => {
            StorageError::Unavailable(s.message().to_string())
        }
        _ => StorageError::Internal(s.message().to_string()),
    }
}

/// Folds the failures of a write's parts into one: a fault of ours or a limit outranks
/// unavailability, since retrying cannot fix those.
pub fn worst(failure: Option<AppendError>, next: AppendError) -> Option<AppendError> {
    match (&failure, &next) {
        (Some(AppendError::Internal(_) | AppendError::Limit(_)), AppendError::Unavailable(_)) => failure,
        _ => Some(next),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_storage_classes() {
        assert!(matches!(
            append_error(Status::unavailable("x")),
            AppendError::Unavailable(_)
        ));
        assert!(matches!(
            append_error(Status::resource_exhausted("x")),
            AppendError::Limit(_)
        ));
        assert!(matches!(
            append_error(Status::invalid_argument("x")),
            AppendError::Internal(_)
        ));
        assert!(matches!(
            storage_error(Status::invalid_argument("x")),
            StorageError::BadRequest(_)
        ));
        assert!(matches!(
            storage_error(Status::not_found("x")),
            StorageError::Unavailable(_)
        ));
        assert_eq!(storage_error(Status::cancelled("x")), StorageError::Canceled);
        let limit = worst(None, AppendError::Limit("l".into()));
        assert_eq!(worst(limit.clone(), AppendError::Unavailable("u".into())), limit);
    }
}
