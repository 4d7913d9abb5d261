//! What a stored chunk may decode to, checked before zarrs decodes it.
//!
//! zarrs trusts a compressed chunk's own claims: a zstd frame's content size, a blosc header's
//! size, or a deflate stream's end. A 100 KB chunk can claim gigabytes, and zarrs would
//! allocate them before finding that the result does not match the chunk's shape. Here every
//! compressor's claim is checked against the size the array's metadata declares for the chunk
//! (itself bounded when the level is opened), so a hostile chunk costs no more memory than an
//! honest one.

use std::io::Read;

use serde_json::Value;

use crate::{Error, Result};

thread_local! {
    /// This thread's zstd compression context and its level: made once, not per chunk.
    static ZSTD: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> =
        const { std::cell::RefCell::new(None) };
}

/// `bytes` as one zstd frame at `level`, without checksum: the same bytes as zarrs' zstd codec
/// (and numcodecs') makes of them, with a compression context kept per thread. Making a context
/// (and its tables) for every chunk took as long as compressing a chunk of labels.
pub(crate) fn zstd_encode(bytes: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    ZSTD.with(|cell| {
        let mut slot = cell.try_borrow_mut().map_err(std::io::Error::other)?;
        let compressor = match &mut *slot {
            Some((l, c)) if *l == level => c,
            other => {
                let mut c = zstd::bulk::Compressor::new(level)?;
                c.include_checksum(false)?;
                &mut other.insert((level, c)).1
            }
        };
        compressor.compress(bytes)
    })
}

/// The chunk being checked, named in its [`Error::CorruptChunk`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChunkAt<'a> {
    /// The array's store location.
    pub(crate) location: &'a str,
    /// The chunk's key in it.
    pub(crate) key: &'a str,
}

impl ChunkAt<'_> {
    fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::CorruptChunk {
            location: self.location.to_string(),
            key: self.key.to_string(),
            reason: reason.into(),
        }
    }
}

/// One bytes-to-bytes codec of an array, as far as the size check needs to know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layer {
    Blosc,
    Zstd,
    Gzip,
    Zlib,
    /// A 4-byte checksum after the data (v3 `crc32c`).
    Crc32c,
}

/// The bytes-to-bytes codecs of an array in decoding order (the last one applied when the
/// chunk was written comes first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Layers(Vec<Layer>);

impl Layers {
    /// From a Zarr v2 `.zarray`: its `compressor`.
    pub(crate) fn from_v2(meta: &Value) -> Self {
        let id = meta
            .get("compressor")
            .and_then(|c| c.get("id"))
            .and_then(Value::as_str);
        Self(id.and_then(layer).into_iter().collect())
    }

    /// From a Zarr v3 array's `codecs`: those after the array-to-bytes codec, reversed.
    pub(crate) fn from_v3(meta: &Value) -> Self {
        let codecs = meta.get("codecs").and_then(Value::as_array);
        let names = codecs
            .into_iter()
            .flatten()
            // A codec without configuration may be its bare name: `"crc32c"`.
            .filter_map(|c| c.as_str().or_else(|| c.get("name").and_then(Value::as_str)));
        let mut layers: Vec<Layer> = names.filter_map(layer).collect();
        layers.reverse();
        Self(layers)
    }

    /// Check that `encoded`, the chunk `at`, decodes to exactly `decoded_len` bytes without
    /// decoding more than that; [`Error::CorruptChunk`] saying why when it does not.
    pub(crate) fn check(&self, encoded: &[u8], decoded_len: u64, at: ChunkAt<'_>) -> Result<()> {
        let mut data: std::borrow::Cow<'_, [u8]> = encoded.into();
        let compressors = self.0.iter().filter(|l| **l != Layer::Crc32c).count();
        let mut seen = 0;
        for layer in &self.0 {
            if *layer == Layer::Crc32c {
                let n = data
                    .len()
                    .checked_sub(4)
                    .ok_or_else(|| at.corrupt("shorter than its checksum"))?;
                data = match data {
                    std::borrow::Cow::Borrowed(b) => b[..n].into(),
                    std::borrow::Cow::Owned(mut v) => {
                        v.truncate(n);
                        v.into()
                    }
                };
                continue;
            }
            seen += 1;
            if seen == compressors {
                // The innermost compressor yields the chunk's bytes: its claim must match.
                return claim(*layer, &data, decoded_len, at);
            }
            // A compressor inside another (rare): decode this one, bounded, and go on.
            let bound = decoded_len.saturating_mul(2).saturating_add(1 << 20);
            data = inflate(*layer, &data, bound, at)?.into();
        }
        // No compressor: the bytes are the chunk.
        if data.len() as u64 == decoded_len {
            Ok(())
        } else {
            Err(at.corrupt(format!(
                "{} bytes stored for a chunk of {decoded_len} bytes",
                data.len()
            )))
        }
    }
}

fn layer(name: &str) -> Option<Layer> {
    Some(match name {
        "blosc" => Layer::Blosc,
        "zstd" => Layer::Zstd,
        "gzip" => Layer::Gzip,
        "zlib" | "numcodecs.zlib" => Layer::Zlib,
        "crc32c" => Layer::Crc32c,
        _ => return None,
    })
}

fn mismatch(what: &str, claimed: u64, expected: u64) -> String {
    format!("{what} says it decodes to {claimed} bytes, but the chunk holds {expected} bytes")
}

/// Check what `layer`'s encoding of `data` claims to decode to against `expected`.
fn claim(layer: Layer, data: &[u8], expected: u64, at: ChunkAt<'_>) -> Result<()> {
    match layer {
        Layer::Blosc => {
            // Blosc's 16-byte header: version, versionlz, flags, typesize, then the decoded
            // size, block size and stored size as little-endian u32s.
            let header = data
                .get(..16)
                .ok_or_else(|| at.corrupt("a blosc header needs 16 bytes"))?;
            let word = |i: usize| {
                u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]])
            };
            let (nbytes, cbytes) = (u64::from(word(4)), u64::from(word(12)));
            if cbytes != data.len() as u64 {
                return Err(at.corrupt(format!(
                    "the blosc header says {cbytes} stored bytes, but {} are stored",
                    data.len()
                )));
            }
            if nbytes != expected {
                return Err(at.corrupt(mismatch("the blosc header", nbytes, expected)));
            }
            Ok(())
        }
        Layer::Zstd => match zstd::zstd_safe::get_frame_content_size(data) {
            Ok(Some(n)) if n != expected => {
                Err(at.corrupt(mismatch("the zstd frame", n, expected)))
            }
            Ok(Some(_)) => Ok(()),
            // No size in the frame header: count what it decodes to, up to one byte too many.
            Ok(None) => count(layer, data, expected, at),
            Err(_) => Err(at.corrupt("not a zstd frame")),
        },
        Layer::Gzip | Layer::Zlib => count(layer, data, expected, at),
        Layer::Crc32c => Ok(()),
    }
}

/// Decode `data` into nothing, counting at most `expected + 1` bytes.
fn count(layer: Layer, data: &[u8], expected: u64, at: ChunkAt<'_>) -> Result<()> {
    let reader = decoder(layer, data, at)?;
    let n = std::io::copy(&mut reader.take(expected + 1), &mut std::io::sink())
        .map_err(|e| at.corrupt(format!("{layer:?} stream: {e}")))?;
    if n > expected {
        Err(at.corrupt(format!(
            "the {layer:?} stream decodes to more than the chunk's {expected} bytes"
        )))
    } else if n < expected {
        Err(at.corrupt(mismatch(&format!("the {layer:?} stream"), n, expected)))
    } else {
        Ok(())
    }
}

/// Decode `data` into at most `bound` bytes.
fn inflate(layer: Layer, data: &[u8], bound: u64, at: ChunkAt<'_>) -> Result<Vec<u8>> {
    if layer == Layer::Blosc {
        return Err(at.corrupt("blosc inside another compressor is not read"));
    }
    let reader = decoder(layer, data, at)?;
    let mut out = Vec::new();
    reader
        .take(bound + 1)
        .read_to_end(&mut out)
        .map_err(|e| at.corrupt(format!("{layer:?} stream: {e}")))?;
    if out.len() as u64 > bound {
        return Err(at.corrupt(format!(
            "the {layer:?} stream decodes to more than {bound} bytes"
        )));
    }
    Ok(out)
}

fn decoder<'a>(layer: Layer, data: &'a [u8], at: ChunkAt<'_>) -> Result<Box<dyn Read + 'a>> {
    Ok(match layer {
        Layer::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(data)
                .map_err(|e| at.corrupt(format!("zstd: {e}")))?,
        ),
        Layer::Gzip => Box::new(flate2::read::GzDecoder::new(data)),
        Layer::Zlib => Box::new(flate2::read::ZlibDecoder::new(data)),
        Layer::Blosc | Layer::Crc32c => {
            return Err(at.corrupt(format!("{layer:?} is not a stream")))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const AT: ChunkAt<'static> = ChunkAt {
        location: "img.zarr/0",
        key: "0/0/0",
    };

    /// The reason of a refusal, which must be a `CorruptChunk` naming `AT`.
    fn reason(r: Result<()>) -> String {
        match r {
            Err(Error::CorruptChunk {
                location,
                key,
                reason,
            }) => {
                assert_eq!((location.as_str(), key.as_str()), (AT.location, AT.key));
                reason
            }
            other => panic!("not a corrupt chunk: {other:?}"),
        }
    }

    fn zstd_of(data: &[u8]) -> Vec<u8> {
        zstd::bulk::compress(data, 3).unwrap()
    }

    #[test]
    fn an_honest_zstd_chunk_passes_and_a_bomb_does_not() {
        let layers = Layers(vec![Layer::Zstd]);
        let honest = zstd_of(&[7u8; 4096]);
        layers.check(&honest, 4096, AT).unwrap();
        // 64 MiB of zeros compress to a few KB; declared as a 4 KB chunk it is refused from
        // its header, without decoding.
        let bomb = zstd_of(&vec![0u8; 64 << 20]);
        let e = reason(layers.check(&bomb, 4096, AT));
        assert!(e.contains("decodes to 67108864 bytes"), "{e}");
    }

    #[test]
    fn a_zstd_frame_without_its_size_is_counted_with_a_bound() {
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        enc.include_contentsize(false).unwrap();
        enc.write_all(&vec![0u8; 8 << 20]).unwrap();
        let frame = enc.finish().unwrap();
        let e = reason(Layers(vec![Layer::Zstd]).check(&frame, 4096, AT));
        assert!(e.contains("more than the chunk's 4096 bytes"), "{e}");
    }

    #[test]
    fn gzip_and_zlib_bombs_are_stopped() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&vec![0u8; 16 << 20]).unwrap();
        let gz = gz.finish().unwrap();
        assert!(Layers(vec![Layer::Gzip]).check(&gz, 1024, AT).is_err());
        assert!(Layers(vec![Layer::Gzip]).check(&gz, 16 << 20, AT).is_ok());
        let mut zl = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        zl.write_all(&[1u8; 100]).unwrap();
        let zl = zl.finish().unwrap();
        let e = reason(Layers(vec![Layer::Zlib]).check(&zl, 1000, AT));
        assert!(e.contains("decodes to 100 bytes"), "{e}");
    }

    #[test]
    fn a_blosc_header_must_match() {
        let mut header = vec![2u8, 1, 1, 2];
        header.extend_from_slice(&(1u32 << 31).to_le_bytes()); // 2 GiB claimed
        header.extend_from_slice(&4096u32.to_le_bytes());
        header.extend_from_slice(&20u32.to_le_bytes());
        header.extend_from_slice(&[0; 4]);
        let e = reason(Layers(vec![Layer::Blosc]).check(&header, 8192, AT));
        assert!(e.contains("2147483648"), "{e}");
        assert!(Layers(vec![Layer::Blosc])
            .check(&header[..10], 8192, AT)
            .is_err());
    }

    #[test]
    fn a_checksum_is_stripped_first_and_raw_chunks_must_be_exact() {
        let mut data = zstd_of(&[1u8; 64]);
        data.extend_from_slice(&[0; 4]);
        Layers(vec![Layer::Crc32c, Layer::Zstd])
            .check(&data, 64, AT)
            .unwrap();
        let e = Layers::default().check(&[0; 10], 12, AT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "corrupt chunk 0/0/0 in img.zarr/0: 10 bytes stored for a chunk of 12 bytes"
        );
        Layers::default().check(&[0; 12], 12, AT).unwrap();
        let e = reason(Layers(vec![Layer::Crc32c]).check(&[0; 2], 0, AT));
        assert_eq!(e, "shorter than its checksum");
    }

    #[test]
    fn layers_come_from_metadata_in_decoding_order() {
        let v2 = serde_json::json!({"compressor": {"id": "blosc"}});
        assert_eq!(Layers::from_v2(&v2), Layers(vec![Layer::Blosc]));
        let v3 = serde_json::json!({"codecs": [{"name": "bytes"}, {"name": "zstd"}, {"name": "crc32c"}]});
        assert_eq!(
            Layers::from_v3(&v3),
            Layers(vec![Layer::Crc32c, Layer::Zstd])
        );
        // The short form of a codec without configuration, as zarrs writes crc32c.
        let short = serde_json::json!({"codecs": [{"name": "bytes"}, {"name": "gzip"}, "crc32c"]});
        assert_eq!(
            Layers::from_v3(&short),
            Layers(vec![Layer::Crc32c, Layer::Gzip])
        );
    }
}
