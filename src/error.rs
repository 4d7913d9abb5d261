//! The crate's error type: every failure says what failed and, where it helps, what to do.

use std::fmt;

/// The underlying error of a [`Error::Storage`] or [`Error::Omero`], kept for `source()`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result alias used across omeflow.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in omeflow, typed so callers can react to the kind of failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL or path could not be understood.
    #[error("invalid location {location:?}: {reason}")]
    InvalidUrl { location: String, reason: String },

    /// Nothing exists at the location (HTTP 404, missing path, missing S3 key).
    #[error("no OME-Zarr image at {location}: {detail}")]
    NotFound { location: String, detail: String },

    /// Something exists, but it is not an OME-Zarr image.
    #[error("{location} is not an OME-Zarr image: {found}")]
    NotAnImage { location: String, found: String },

    /// Metadata exists but could not be understood.
    #[error("invalid metadata in {location}: {reason}")]
    InvalidMetadata { location: String, reason: String },

    /// The data uses a codec, data type or layout that omeflow does not read.
    #[error("unsupported {what} in {location}: {name}")]
    Unsupported {
        what: &'static str,
        name: String,
        location: String,
    },

    /// A chunk could not be decoded: it is corrupt or truncated.
    #[error("corrupt chunk {key} in {location}: {reason}")]
    CorruptChunk {
        location: String,
        key: String,
        reason: String,
    },

    /// The storage backend failed (network, permissions, server errors after retries).
    #[error("reading {location} failed: {reason}")]
    Storage {
        location: String,
        reason: String,
        /// The backend's own error (object_store's), when there is one.
        #[source]
        source: Option<BoxError>,
    },

    /// A read would exceed the memory budget.
    #[error(
        "reading {what} needs {needed_bytes} bytes, more than the memory budget of {budget_bytes} bytes; \
         read it plane by plane with `plane(t, c, z)` or a smaller `region`, or raise the budget with \
         `with_memory_budget`"
    )]
    MemoryBudget {
        what: String,
        needed_bytes: u64,
        budget_bytes: u64,
    },

    /// Keeping every result of a `compute` would not fit in memory: found from the first
    /// result's size, before the other tasks ran. The message says how to stream them instead.
    #[error("{0}")]
    ResultsTooLarge(String),

    /// An index or region outside the image.
    #[error("out of bounds: {0}")]
    OutOfBounds(String),

    /// The requested element type does not match the array's.
    #[error("type mismatch: the array holds {actual}, {requested} was requested; use `plane()` for the native type or `plane_f64()`/`plane_f32()` to convert")]
    TypeMismatch {
        actual: crate::ngff::DType,
        requested: crate::ngff::DType,
    },

    /// Writing failed.
    #[error("writing {location} failed: {reason}")]
    Write { location: String, reason: String },

    /// Invalid arguments to a call.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// An OMERO server could not be reached, is not an OMERO.web server, refused a call or failed
    /// after retries. `call` names the request (e.g. `GET /api/v0/m/images/1/`).
    #[error("OMERO {call} on {host} failed: {reason}")]
    Omero {
        host: String,
        call: String,
        reason: String,
        /// The HTTP client's own error (without its URL), when there is one.
        #[source]
        source: Option<BoxError>,
    },

    /// The server refused the user name or password (HTTP 403 on login). Never holds the password.
    #[error("login to {host} as {user:?} failed: {reason}; check the user name and password (for public data, connect with an empty user or public/public)")]
    LoginFailed {
        host: String,
        user: String,
        reason: String,
    },

    /// No such image or dataset (HTTP 404, or not in the local catalogue).
    #[error("{what} {id} not found on {host}: check the id, and that your user can see it")]
    OmeroNotFound {
        host: String,
        what: &'static str,
        id: u64,
    },

    /// The server answered a call with JSON that is not what OMERO.web sends.
    #[error("OMERO {call} on {host} answered malformed JSON: {reason}")]
    OmeroMalformed {
        host: String,
        call: String,
        reason: String,
    },
    /// An ilastik project (.ilp) that cannot be read or used: not HDF5, another workflow or
    /// version, or a missing or malformed part.
    #[error("ilastik project {path}: {reason}")]
    Project { path: String, reason: String },

    /// Pixel classification failed (features or prediction), e.g. an image too small for the
    /// project's largest filter, or a worker that panicked.
    #[error("classification failed: {0}")]
    Classify(String),

    /// A run or an output that did not do all its work: some planes were not processed, or an
    /// output was interrupted before it was committed. Never reported as success.
    #[error("incomplete: {0}")]
    Incomplete(String),

    /// The user stopped a run (Ctrl-C); what it finished is recorded, and a rerun goes on.
    #[error("interrupted: {0}")]
    Interrupted(String),

    /// A task panicked; the panic was caught and the other tasks went on. `task` names it
    /// (`t:3, c:0, z:17`, `planes 0..8, y 0..64, x 0..64`, `reading planes`).
    #[error("{task} panicked: {message}")]
    Panicked { task: String, message: String },

    /// Slurm refused or lost a job: a command failed, or an array element failed for good.
    #[error("Slurm: {0}")]
    Slurm(String),

    /// A task's own error that is not an omeflow error (a closure in a notebook that returned
    /// another error type), by its message.
    #[error("{0}")]
    Task(String),

    /// omeflow broke one of its own rules: a bug to report, not something the caller did.
    #[error("internal error (a bug in omeflow; please report it with this text): {0}")]
    Internal(String),

    /// Local I/O failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The error for a caught panic of `task`.
    pub(crate) fn panicked(
        task: impl Into<String>,
        payload: Box<dyn std::any::Any + Send>,
    ) -> Self {
        Error::Panicked {
            task: task.into(),
            message: crate::runtime::panic_message(payload),
        }
    }

    pub(crate) fn io(context: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }
}
