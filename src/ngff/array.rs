//! Opening one Zarr array (v2 or v3) of an image through zarrs, with the checks and repairs
//! real OME-Zarr data needs: undeclared "/" chunk keys, big-endian types, null fill values, and
//! clear errors for codecs and types omeflow does not read.

use std::sync::Arc;

use object_store::ObjectStore;
use serde_json::Value;
use zarrs::array::{Array, ArrayMetadata};
use zarrs::metadata::v2::ArrayMetadataV2;
use zarrs::metadata::v3::ArrayMetadataV3;
use zarrs::metadata::ChunkKeySeparator;
use zarrs_object_store::AsyncObjectStore;

use super::DType;
use crate::store::Store;
use crate::{Error, Result};

/// The zarrs array type omeflow reads through.
pub type ZArray = Array<AsyncObjectStore<Arc<dyn ObjectStore>>>;

const V2_COMPRESSORS: &[&str] = &["blosc", "zlib", "gzip", "zstd"];
const V3_CODECS: &[&str] = &[
    "bytes",
    "blosc",
    "gzip",
    "zstd",
    "transpose",
    "sharding_indexed",
    "crc32c",
    "numcodecs.zlib",
    "zlib",
];

/// The raw metadata document of a node, and its Zarr format.
pub(crate) enum NodeMeta {
    /// Zarr v2 array (`.zarray`).
    ArrayV2(Value),
    /// Zarr v3 array (`zarr.json`, node_type array).
    ArrayV3(Value),
    /// A group with its attributes (`.zattrs`, or `zarr.json` `attributes`).
    Group { attrs: Value, zarr_format: u8 },
}

fn parse_json(store: &Store, key: &str, bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| Error::InvalidMetadata {
        location: store.describe(key),
        reason: format!("not valid JSON: {e}"),
    })
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{}/{}", path.trim_matches('/'), name)
    }
}

/// Read the metadata of the node at `path`; `Ok(None)` when there is no node.
pub(crate) async fn read_node(store: &Store, path: &str) -> Result<Option<NodeMeta>> {
    let key = join(path, "zarr.json");
    if let Some(b) = store.get(&key).await? {
        let v = parse_json(store, &key, &b)?;
        return Ok(Some(match v.get("node_type").and_then(Value::as_str) {
            Some("array") => NodeMeta::ArrayV3(v),
            _ => NodeMeta::Group {
                attrs: v.get("attributes").cloned().unwrap_or(Value::Null),
                zarr_format: 3,
            },
        }));
    }
    let key = join(path, ".zarray");
    if let Some(b) = store.get(&key).await? {
        return Ok(Some(NodeMeta::ArrayV2(parse_json(store, &key, &b)?)));
    }
    let zattrs_key = join(path, ".zattrs");
    let attrs = match store.get(&zattrs_key).await? {
        Some(b) => Some(parse_json(store, &zattrs_key, &b)?),
        None => None,
    };
    let has_group = store.get(&join(path, ".zgroup")).await?.is_some();
    Ok(match (attrs, has_group) {
        (Some(attrs), _) => Some(NodeMeta::Group {
            attrs,
            zarr_format: 2,
        }),
        (None, true) => Some(NodeMeta::Group {
            attrs: Value::Null,
            zarr_format: 2,
        }),
        (None, false) => None,
    })
}

/// Map a Zarr v2 typestr (`<u2`, `>u2`, `|u1`) or v3 name (`uint16`) to a DType.
pub(crate) fn dtype_of(name: &str) -> Option<DType> {
    let bare = name.trim_start_matches(['<', '>', '|', '=']);
    let short = match bare {
        "u1" => "u8",
        "u2" => "u16",
        "u4" => "u32",
        "i1" => "i8",
        "i2" => "i16",
        "i4" => "i32",
        "f4" => "f32",
        "f8" => "f64",
        other => other,
    };
    DType::parse(short)
}

/// Open the array at `path` of `store`.
///
/// `default_sep` is the chunk-key separator to assume when a v2 array does not declare one and
/// neither kind of key can be found (NGFF 0.1 uses ".", later versions "/").
pub(crate) async fn open_array(
    store: &Store,
    path: &str,
    default_sep: char,
) -> Result<(ZArray, DType, super::chunk::Layers)> {
    let node = read_node(store, path).await?;
    let location = store.describe(path);
    let metadata = match node {
        None => {
            return Err(Error::NotFound {
                location,
                detail: "no `.zarray` or `zarr.json` for this resolution level".into(),
            })
        }
        Some(NodeMeta::Group { .. }) => {
            return Err(Error::NotAnImage {
                location,
                found: "a group where a resolution level's array was expected".into(),
            })
        }
        Some(NodeMeta::ArrayV2(v)) => {
            let layers = super::chunk::Layers::from_v2(&v);
            (
                ArrayMetadata::V2(check_v2(store, path, v, default_sep).await?),
                layers,
            )
        }
        Some(NodeMeta::ArrayV3(v)) => {
            let layers = super::chunk::Layers::from_v3(&v);
            (ArrayMetadata::V3(check_v3(&location, v)?), layers)
        }
    };
    let (metadata, layers) = metadata;
    let dtype_name = match &metadata {
        ArrayMetadata::V2(m) => serde_json::to_value(&m.dtype).ok(),
        ArrayMetadata::V3(m) => serde_json::to_value(&m.data_type).ok(),
    };
    let storage = Arc::new(AsyncObjectStore::new(store.objects()));
    let node_path = format!("/{}", path.trim_matches('/'));
    let node_path = if node_path == "/" {
        "/".to_string()
    } else {
        node_path
    };
    let array = Array::new_with_metadata(storage, &node_path, metadata).map_err(|e| {
        Error::Unsupported {
            what: "array encoding",
            name: crate::store::error_chain(&e),
            location: location.clone(),
        }
    })?;
    let dtype = DType::from_zarrs(array.data_type()).ok_or_else(|| Error::Unsupported {
        what: "data type",
        name: dtype_name.map(|v| v.to_string()).unwrap_or_default(),
        location: location.clone(),
    })?;
    Ok((array, dtype, layers))
}

async fn check_v2(
    store: &Store,
    path: &str,
    v: Value,
    default_sep: char,
) -> Result<ArrayMetadataV2> {
    let location = store.describe(path);
    let dtype = v.get("dtype").map(|d| d.to_string()).unwrap_or_default();
    let dtype_str = v.get("dtype").and_then(Value::as_str).unwrap_or("");
    if dtype_of(dtype_str).is_none() {
        return Err(Error::Unsupported {
            what: "data type",
            name: format!("{dtype} (omeflow reads u8, u16, u32, i8, i16, i32, f32, f64)"),
            location,
        });
    }
    if let Some(c) = v.get("compressor").filter(|c| !c.is_null()) {
        let id = c.get("id").and_then(Value::as_str).unwrap_or("?");
        if !V2_COMPRESSORS.contains(&id) {
            return Err(Error::Unsupported {
                what: "codec",
                name: format!("{id:?} (omeflow reads blosc, zlib, gzip, zstd)"),
                location,
            });
        }
    }
    if let Some(filters) = v.get("filters").and_then(Value::as_array) {
        if let Some(f) = filters.first() {
            let id = f.get("id").and_then(Value::as_str).unwrap_or("?");
            return Err(Error::Unsupported {
                what: "filter",
                name: format!("{id:?}"),
                location,
            });
        }
    }
    let declared = v.get("dimension_separator").is_some();
    let mut meta: ArrayMetadataV2 =
        serde_json::from_value(v).map_err(|e| Error::InvalidMetadata {
            location: location.clone(),
            reason: e.to_string(),
        })?;
    if !declared && meta.shape.len() > 1 {
        // NGFF 0.2 wrote "/" keys without saying so; look at which key of the first chunk exists.
        let zeros = vec!["0"; meta.shape.len()];
        let nested = join(path, &zeros.join("/"));
        let flat = join(path, &zeros.join("."));
        let sep = if store.get(&nested).await?.is_some() {
            '/'
        } else if store.get(&flat).await?.is_some() {
            '.'
        } else {
            default_sep
        };
        meta.dimension_separator = if sep == '/' {
            ChunkKeySeparator::Slash
        } else {
            ChunkKeySeparator::Dot
        };
    }
    Ok(meta)
}

/// The fields of a Zarr v3 array's `zarr.json` that the spec defines.
const V3_FIELDS: &[&str] = &[
    "zarr_format",
    "node_type",
    "shape",
    "data_type",
    "chunk_grid",
    "chunk_key_encoding",
    "fill_value",
    "codecs",
    "attributes",
    "storage_transformers",
    "dimension_names",
];

fn check_v3(location: &str, v: Value) -> Result<ArrayMetadataV3> {
    // The spec: an unknown field must be understood unless it says `"must_understand": false`.
    if let Some(fields) = v.as_object() {
        for (k, f) in fields {
            let optional = f.get("must_understand").and_then(Value::as_bool) == Some(false);
            if !V3_FIELDS.contains(&k.as_str()) && !optional {
                return Err(Error::Unsupported {
                    what: "Zarr v3 extension field",
                    name: format!("{k:?} (it must be understood to read the array)"),
                    location: location.to_string(),
                });
            }
        }
    }
    if let Some(t) = v.get("storage_transformers").and_then(Value::as_array) {
        if !t.is_empty() {
            return Err(Error::Unsupported {
                what: "storage transformer",
                name: Value::Array(t.clone()).to_string(),
                location: location.to_string(),
            });
        }
    }
    let dt = v.get("data_type").and_then(Value::as_str).unwrap_or("");
    if dtype_of(dt).is_none() {
        return Err(Error::Unsupported {
            what: "data type",
            name: format!(
                "{:?} (omeflow reads uint8, uint16, uint32, int8, int16, int32, float32, float64)",
                v.get("data_type")
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            ),
            location: location.to_string(),
        });
    }
    if let Some(codecs) = v.get("codecs").and_then(Value::as_array) {
        for c in codecs {
            // A codec without configuration may be written as its bare name (zarrs does).
            let name = c
                .as_str()
                .or_else(|| c.get("name").and_then(Value::as_str))
                .unwrap_or("?");
            if !V3_CODECS.contains(&name) {
                return Err(Error::Unsupported {
                    what: "codec",
                    name: format!("{name:?}"),
                    location: location.to_string(),
                });
            }
        }
    }
    serde_json::from_value(v).map_err(|e| Error::InvalidMetadata {
        location: location.to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typestrs_map_to_dtypes() {
        assert_eq!(dtype_of(">u2"), Some(DType::U16));
        assert_eq!(dtype_of("|u1"), Some(DType::U8));
        assert_eq!(dtype_of("<f8"), Some(DType::F64));
        assert_eq!(dtype_of("int32"), Some(DType::I32));
        assert_eq!(dtype_of("<c8"), None);
        assert_eq!(dtype_of("|b1"), None);
    }
}
