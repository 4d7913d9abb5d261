//! Every read through omeflow's stores is bounded in size and, for remote stores, retried when
//! the connection drops in the middle of a body.
//!
//! object_store retries a request that fails before its answer, but reads the body afterwards
//! without retrying, and sizes its buffer from the server's `Content-Length`: a dropped
//! connection fails the whole read at once, and a header that claims 100 GiB aborts the
//! process. This wrapper reads each body itself: it refuses an answer larger than the store's
//! bound before allocating, and tries again (with backoff) when the body breaks off.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// What one store may read at once, and how it retries broken bodies.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bounds {
    /// The most bytes one read may return.
    pub max_bytes: u64,
    /// Retries after a body that broke off (remote stores; 0 for local ones).
    pub retries: usize,
    /// First wait between them; doubles each time.
    pub backoff: Duration,
}

/// An object store whose reads are bounded and whose broken bodies are retried.
#[derive(Debug)]
pub(crate) struct BoundedStore {
    inner: Arc<dyn ObjectStore>,
    bounds: Bounds,
    /// The folder of a local store, whose plain reads are done here and now.
    local: Option<std::path::PathBuf>,
}

/// Local writes up to this size (a label chunk, a metadata document) are done on the calling
/// thread, as `LocalFileSystem` would do them on its blocking pool: the hand-off to that pool
/// and back cost more than the write of a small file (a tenth of a whole-image run with
/// labels). Larger ones go to the pool.
const INLINE_WRITE_BYTES: u64 = 256 << 10;

/// Local reads longer than this go to the inner store's blocking pool: a level-0 chunk of
/// several MB, or a shard, would hold an I/O thread (and the reads queued behind it) for the
/// length of the read.
const INLINE_BYTES: u64 = 1 << 20;

impl BoundedStore {
    pub(crate) fn new(inner: Arc<dyn ObjectStore>, bounds: Bounds) -> Self {
        Self {
            inner,
            bounds,
            local: None,
        }
    }

    /// Reads of whole files and byte ranges below `root` (the inner store's own folder), and
    /// small writes there, are done on the calling thread: `LocalFileSystem` sends each read to
    /// tokio's blocking pool twice (open, then read) and each write once, and for the small
    /// chunk files of an image level those hand-offs cost more than the reads and writes.
    pub(crate) fn with_local_root(mut self, root: std::path::PathBuf) -> Self {
        self.local = Some(root);
        self
    }

    /// The file of `location` when a read of it may be done here: a local store, and a key of
    /// plain segments (what Zarr keys are; anything else goes to the inner store).
    fn local_file(&self, location: &Path) -> Option<std::path::PathBuf> {
        let root = self.local.as_ref()?;
        let key = location.as_ref();
        let plain = !key.is_empty()
            && key
                .split('/')
                .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'));
        plain.then(|| root.join(key))
    }

    /// A whole file, or `range` of it, read on this thread; `NotFound` when it is missing or
    /// not a file (a folder); `None` when the read is too long to hold this thread for, or
    /// must wait on the disk and this thread is not one that waits anyway
    /// ([`crate::runtime::blocking_here`]): the inner store does it on its blocking pool. A
    /// link is followed, as
    /// `LocalFileSystem` follows it, and a range past the end is cut at the end, as there.
    fn read_local(
        &self,
        location: &Path,
        file: &std::path::Path,
        range: Option<Range<u64>>,
    ) -> object_store::Result<Option<GetResult>> {
        let io = |e: std::io::Error| {
            if e.kind() == std::io::ErrorKind::NotFound {
                object_store::Error::NotFound {
                    path: location.to_string(),
                    source: e.into(),
                }
            } else {
                object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: format!("{}: {e}", file.display()).into(),
                }
            }
        };
        let f = std::fs::File::open(file).map_err(io)?;
        let meta = f.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(object_store::Error::NotFound {
                path: location.to_string(),
                source: "not a file".into(),
            });
        }
        let size = meta.len();
        let range = range.unwrap_or(0..size);
        if range.start > size || (range.start == size && range.end > range.start) {
            return Err(object_store::Error::Generic {
                store: "LocalFileSystem",
                source: format!(
                    "{}: bytes {}..{} asked of a file of {size} bytes",
                    file.display(),
                    range.start,
                    range.end
                )
                .into(),
            });
        }
        let range = range.start..range.end.min(size);
        let len = range.end - range.start;
        if len > self.bounds.max_bytes {
            return Err(self.too_large(location, len));
        }
        if len > INLINE_BYTES {
            return Ok(None);
        }
        #[cfg(target_os = "linux")]
        let buf = match read_cached(&f, range.start, len as usize) {
            Some(buf) => buf,
            // A thread that waits for this read anyway (`run_here`) reads it itself.
            None if crate::runtime::blocking_here() => {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0u8; len as usize];
                f.read_exact_at(&mut buf, range.start).map_err(io)?;
                buf
            }
            None => return Ok(None),
        };
        #[cfg(not(target_os = "linux"))]
        let buf = {
            use std::io::{Read, Seek, SeekFrom};
            let mut buf = vec![0u8; len as usize];
            let mut f = f;
            f.seek(SeekFrom::Start(range.start)).map_err(io)?;
            f.read_exact(&mut buf).map_err(io)?;
            buf
        };
        let body = Bytes::from(buf);
        Ok(Some(GetResult {
            payload: GetResultPayload::Stream(
                futures::stream::once(async move { Ok(body) }).boxed(),
            ),
            meta: ObjectMeta {
                location: location.clone(),
                // Nothing of ours reads it (zarrs neither); the epoch says "not known".
                last_modified: Default::default(),
                size,
                e_tag: None,
                version: None,
            },
            range,
            attributes: Default::default(),
            extensions: Default::default(),
        }))
    }

    fn too_large(&self, location: &Path, len: u64) -> object_store::Error {
        object_store::Error::Generic {
            store: "omeflow",
            source: format!(
                "{location}: the answer is {len} bytes, more than the {} bytes one read may take; \
                 the data is corrupt, or raise StoreOptions::max_object_bytes",
                self.bounds.max_bytes
            )
            .into(),
        }
    }

    /// Read a whole body, bounded by the answer's declared length (itself bounded).
    async fn collect(&self, location: &Path, result: GetResult) -> Result<GetResult, Body> {
        let len = result.range.end.saturating_sub(result.range.start);
        if len > self.bounds.max_bytes {
            return Err(Body::Refused(self.too_large(location, len)));
        }
        let GetResult {
            payload,
            meta,
            range,
            attributes,
            extensions,
        } = result;
        let payload = match payload {
            GetResultPayload::Stream(mut stream) => {
                // `len` is bounded above; a body longer than it declared is refused too.
                let mut buf = Vec::with_capacity(len as usize);
                while let Some(part) = stream.try_next().await.map_err(Body::Broken)? {
                    if (buf.len() + part.len()) as u64 > len {
                        let got = (buf.len() + part.len()) as u64;
                        return Err(Body::Refused(self.too_large(location, got)));
                    }
                    buf.extend_from_slice(&part);
                }
                if (buf.len() as u64) < len {
                    return Err(Body::Broken(object_store::Error::Generic {
                        store: "omeflow",
                        source: format!(
                            "{location}: the body ended after {} of {len} bytes",
                            buf.len()
                        )
                        .into(),
                    }));
                }
                let body = Bytes::from(buf);
                GetResultPayload::Stream(futures::stream::once(async move { Ok(body) }).boxed())
            }
            file => file,
        };
        Ok(GetResult {
            payload,
            meta,
            range,
            attributes,
            extensions,
        })
    }
}

/// `len` bytes of `file` from `offset`, only from the page cache (`preadv2` with `RWF_NOWAIT`):
/// `None` when some of it would have to come from the disk (or the file system cannot say),
/// and the read then goes to the inner store's blocking pool. An image too big for the page
/// cache (a whole image at level 4 is a million chunk files) otherwise had its reads wait on
/// the disk one per I/O thread, with the cores idle: 3x slower than from the pool.
#[cfg(target_os = "linux")]
fn read_cached(file: &std::fs::File, offset: u64, len: usize) -> Option<Vec<u8>> {
    use std::os::fd::AsRawFd;
    // Not zero-filled first: the kernel writes every byte kept.
    let mut buf: Vec<u8> = Vec::with_capacity(len);
    while buf.len() < len {
        let at = libc::off_t::try_from(offset + buf.len() as u64).ok()?;
        let want = len - buf.len();
        let rest = &mut buf.spare_capacity_mut()[..want];
        let iov = libc::iovec {
            iov_base: rest.as_mut_ptr().cast(),
            iov_len: rest.len(),
        };
        // SAFETY: one iovec over the vector's spare capacity, valid for writes of its length
        // for the whole call; the descriptor is open for as long as `file` lives.
        let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, at, libc::RWF_NOWAIT) };
        if n <= 0 {
            // EAGAIN: not cached; EOPNOTSUPP: no RWF_NOWAIT here; 0: the file shrank.
            return None;
        }
        let n = (n as usize).min(rest.len());
        // SAFETY: the kernel wrote the first `n` bytes of the spare capacity.
        unsafe { buf.set_len(buf.len() + n) };
    }
    Some(buf)
}

/// Write `payload` to `file` as `LocalFileSystem::put` does: into a staging file beside it
/// (`<name>#<n>`, created new, the folders above made when missing), then renamed over it, so a
/// reader sees the old object or the new one, never part of one. A link is followed, as there.
fn write_local(
    location: &Path,
    file: &std::path::Path,
    payload: &PutPayload,
) -> object_store::Result<PutResult> {
    use std::io::Write;
    let fail = |what: &str, at: &std::path::Path, e: std::io::Error| object_store::Error::Generic {
        store: "LocalFileSystem",
        source: format!("{location}: {what} {}: {e}", at.display()).into(),
    };
    let (mut n, mut made_folders) = (1u32, false);
    let (mut out, staging) = loop {
        let mut staging = file.as_os_str().to_owned();
        staging.push(format!("#{n}"));
        let staging = std::path::PathBuf::from(staging);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&staging)
        {
            Ok(f) => break (f, staging),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !made_folders => {
                let Some(dir) = file.parent() else {
                    return Err(fail("creating", &staging, e));
                };
                std::fs::create_dir_all(dir).map_err(|e| fail("creating the folder", dir, e))?;
                made_folders = true;
            }
            Err(e) => return Err(fail("creating", &staging, e)),
        }
    };
    let written = payload
        .iter()
        .try_for_each(|part| out.write_all(part))
        .map_err(|e| fail("writing", &staging, e))
        .and_then(|()| {
            drop(out);
            std::fs::rename(&staging, file).map_err(|e| fail("renaming to", file, e))
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&staging);
        return Err(e);
    }
    Ok(PutResult {
        e_tag: None,
        version: None,
        extensions: Default::default(),
    })
}

fn inverted(location: &Path, r: &Range<u64>) -> object_store::Error {
    object_store::Error::Generic {
        store: "omeflow",
        source: format!(
            "{location}: asked for bytes {}..{}, a range that ends before it starts; the data \
             (e.g. a shard index) is corrupt",
            r.start, r.end
        )
        .into(),
    }
}

impl fmt::Display for BoundedStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bounded({})", self.inner)
    }
}

/// Why a body could not be read: an answer that is refused (larger than it may be), or a body
/// that broke off or ended short, which another attempt may read whole.
enum Body {
    Refused(object_store::Error),
    Broken(object_store::Error),
}

#[async_trait::async_trait]
impl ObjectStore for BoundedStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let plain = matches!(opts.mode, object_store::PutMode::Overwrite)
            && opts.attributes.is_empty()
            && payload.content_length() as u64 <= INLINE_WRITE_BYTES;
        if plain {
            if let Some(file) = self.local_file(location) {
                return write_local(location, &file, &payload);
            }
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        if let Some(object_store::GetRange::Bounded(r)) = &options.range {
            if r.end < r.start {
                return Err(inverted(location, r));
            }
            if r.end - r.start > self.bounds.max_bytes {
                return Err(self.too_large(location, r.end - r.start));
            }
        }
        let plain = options.if_match.is_none()
            && options.if_none_match.is_none()
            && options.if_modified_since.is_none()
            && options.if_unmodified_since.is_none()
            && options.version.is_none()
            && !options.head;
        if plain {
            if let Some(file) = self.local_file(location) {
                match &options.range {
                    None => {
                        if let Some(got) = self.read_local(location, &file, None)? {
                            return Ok(got);
                        }
                    }
                    Some(object_store::GetRange::Bounded(r)) => {
                        if let Some(got) = self.read_local(location, &file, Some(r.clone()))? {
                            return Ok(got);
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        let mut wait = self.bounds.backoff;
        let mut attempt = 0;
        loop {
            // A request that failed before its answer was already retried by object_store;
            // only a body that broke off afterwards is tried again here.
            let answer = self.inner.get_opts(location, options.clone()).await?;
            match self.collect(location, answer).await {
                Ok(got) => return Ok(got),
                Err(Body::Broken(_)) if attempt < self.bounds.retries => {
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
                Err(Body::Broken(e) | Body::Refused(e)) => return Err(e),
            }
        }
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        // The ranges come from data (a shard's index): bound them before asking. An inverted
        // range is an offset near 2^64 that wrapped around: the stores compute its length as
        // `end - start`, which wraps again to an allocation that aborts the process.
        if let Some(r) = ranges.iter().find(|r| r.end < r.start) {
            return Err(inverted(location, r));
        }
        let total = ranges
            .iter()
            .try_fold(0u64, |n, r| n.checked_add(r.end - r.start));
        match total {
            Some(n) if n <= self.bounds.max_bytes => {}
            _ => return Err(self.too_large(location, total.unwrap_or(u64::MAX))),
        }
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    fn store() -> BoundedStore {
        let inner: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        BoundedStore::new(
            inner,
            Bounds {
                max_bytes: 1 << 20,
                retries: 0,
                backoff: Duration::from_millis(1),
            },
        )
    }

    /// A `LocalFileSystem` at `dir`, and the bounded store over it that reads and writes there.
    fn local_store(dir: &std::path::Path) -> (Arc<dyn ObjectStore>, BoundedStore) {
        let fs: Arc<dyn ObjectStore> =
            Arc::new(object_store::local::LocalFileSystem::new_with_prefix(dir).unwrap());
        let ours = BoundedStore::new(
            fs.clone(),
            Bounds {
                max_bytes: 8 << 20,
                retries: 0,
                backoff: Duration::from_millis(1),
            },
        )
        .with_local_root(dir.to_path_buf());
        (fs, ours)
    }

    /// tests/fuzz.rs found this: a shard index entry near 2^64 makes zarrs ask for a range whose
    /// end wrapped below its start, and `LocalFileSystem` allocated `end - start` (wrapped again,
    /// 6.7e18 bytes) and aborted the process.
    #[tokio::test]
    async fn inverted_ranges_are_refused_before_the_store_sees_them() {
        let s = store();
        let path = Path::from("shard");
        s.put(&path, PutPayload::from_static(&[7u8; 64]))
            .await
            .unwrap();
        // An offset of 2^64 - 8 and a length of 48: the end wraps to 40.
        let start = u64::MAX - 7;
        let wrapped = start..start.wrapping_add(48);
        let e = s
            .get_ranges(&path, &[0..8, wrapped.clone()])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("ends before it starts"), "{e}");
        let options = GetOptions {
            range: Some(object_store::GetRange::Bounded(wrapped)),
            ..Default::default()
        };
        let e = s.get_opts(&path, options).await.unwrap_err();
        assert!(e.to_string().contains("ends before it starts"), "{e}");
        let got = s.get_ranges(&path, &[0..8, 8..16]).await.unwrap();
        assert_eq!(got.len(), 2);
    }

    /// Reads done here give what `LocalFileSystem` gives: small files inline, a file past
    /// `INLINE_BYTES` through the inner store, a range past the end cut at the end.
    /// A file in the page cache (just written) is read whole without waiting; a read past
    /// its end says no, so the inner store gives the error.
    #[cfg(target_os = "linux")]
    #[test]
    fn cached_reads_fill_the_buffer_and_stop_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let buf = read_cached(&f, 5000, 4000).unwrap();
        assert_eq!(buf, data[5000..9000]);
        assert!(read_cached(&f, 9000, 2000).is_none());
    }

    /// Small local writes done here land as `LocalFileSystem` puts them: folders made, an old
    /// object replaced whole, no staging file left; a large one goes through the inner store.
    #[tokio::test]
    async fn local_writes_match_the_local_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let (fs, ours) = local_store(dir.path());
        let key = Path::from("labels/seg/0/1/0/2/0/0");
        ours.put(&key, PutPayload::from_static(b"first"))
            .await
            .unwrap();
        ours.put(&key, PutPayload::from(vec![9u8; 100]))
            .await
            .unwrap();
        let at = dir.path().join("labels/seg/0/1/0/2/0/0");
        assert_eq!(std::fs::read(&at).unwrap(), vec![9u8; 100]);
        // A staging file left by a writer that died: the next write goes beside it.
        std::fs::write(dir.path().join("labels/seg/0/1/0/2/0/0#1"), b"stale").unwrap();
        ours.put(&key, PutPayload::from_static(b"third"))
            .await
            .unwrap();
        assert_eq!(std::fs::read(&at).unwrap(), b"third");
        let names: Vec<String> = std::fs::read_dir(at.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names.len(),
            2,
            "only the object and the stale file: {names:?}"
        );
        let big = vec![1u8; (INLINE_WRITE_BYTES + 1) as usize];
        ours.put(&Path::from("big"), PutPayload::from(big.clone()))
            .await
            .unwrap();
        assert_eq!(
            fs.get(&Path::from("big"))
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap(),
            big
        );
        // A key that is not a plain Zarr key goes to the inner store, which refuses it the same.
        let odd = Path::from("a b");
        assert_eq!(
            ours.put(&odd, PutPayload::from_static(b"x")).await.is_ok(),
            fs.put(&odd, PutPayload::from_static(b"x")).await.is_ok()
        );
    }

    /// A file advised out of the page cache, read inside `run_here`, is read on that thread (it
    /// waits for the read anyway) and gives its bytes. Where the file system keeps the pages
    /// despite the advice (seen on this ext4 after a sync), this checks only the bytes.
    #[cfg(target_os = "linux")]
    #[test]
    fn uncached_reads_inside_run_here_are_read_here() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7) as u8).collect();
        let path = dir.path().join("chunk");
        std::fs::write(&path, &data).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        f.sync_all().unwrap();
        // SAFETY: advice on an open descriptor; it changes no memory of ours.
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        let (_, ours) = local_store(dir.path());
        let io = crate::runtime::IoRuntime::new(1).unwrap();
        // Outside `run_here` an uncached read is left to the inner store (when this file
        // system drops cached pages on advice; tmpfs does not).
        let away = ours.read_local(&Path::from("chunk"), &path, None).unwrap();
        let evicted = away.is_none();
        // SAFETY: as above.
        unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        let (read_here, body) = io.run_here(async {
            let direct = ours.read_local(&Path::from("chunk"), &path, None).unwrap();
            (direct.is_some(), ours.get(&Path::from("chunk")).await)
        });
        assert!(read_here, "read on this thread (evicted: {evicted})");
        let body = futures::executor::block_on(body.unwrap().bytes()).unwrap();
        assert_eq!(body.as_ref(), &data[..]);
    }

    #[tokio::test]
    async fn local_reads_match_the_local_file_system() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("small"), [3u8; 100]).unwrap();
        let big: Vec<u8> = (0..(INLINE_BYTES + 10)).map(|i| i as u8).collect();
        std::fs::write(dir.path().join("big"), &big).unwrap();
        let (fs, ours) = local_store(dir.path());
        async fn read(
            s: &dyn ObjectStore,
            key: &str,
            range: Option<Range<u64>>,
        ) -> std::result::Result<Vec<u8>, bool> {
            let options = GetOptions {
                range: range.map(object_store::GetRange::Bounded),
                ..Default::default()
            };
            match s.get_opts(&Path::from(key), options).await {
                Ok(got) => Ok(got.bytes().await.unwrap().to_vec()),
                Err(e) => Err(matches!(e, object_store::Error::NotFound { .. })),
            }
        }
        for (key, range) in [
            ("small", None),
            ("small", Some(10..20)),
            ("small", Some(90..200)),
            ("big", None),
            ("big", Some(5..INLINE_BYTES + 5)),
            ("missing", None),
        ] {
            let a = read(&ours, key, range.clone()).await;
            let b = read(fs.as_ref(), key, range.clone()).await;
            assert_eq!(a, b, "{key} {range:?}");
        }
        assert_eq!(read(&ours, "big", None).await.unwrap(), big);
    }
}
