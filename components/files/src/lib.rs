//! `files@1.0.0`, Weft's built-in connector for S3-compatible object stores
//! (AWS S3, MinIO, Ceph, R2, moto, …): `list` (by prefix, optionally only
//! objects modified after a timestamp), `get`, `put`, `copy`, `move` and
//! `delete`. Requests are path-style (`{endpoint}/{bucket}/{key}`), so a
//! local endpoint needs no per-bucket DNS, and signed in the guest with AWS
//! Signature Version 4 ([`sigv4`]).
//!
//! Every action takes the store in its input: `endpoint`, `region`
//! (default `us-east-1`), `bucket`, `access_key_id`, `secret_access_key`
//! and optionally `session_token`. An integration fills the credentials
//! from instance secrets (`"{{ config.s3_secret_key }}"`), so execution
//! records show them as `***`; the component never logs them and its
//! errors quote only S3's error code and message.
//!
//! Object contents travel as JSON strings: UTF-8 text (`encoding: text`,
//! the default) or base64 (`encoding: base64`) for binary files.
//!
//! It declares every host (`*`), like `http@1.0.0`: the operator's
//! allowlist alone decides which stores it may reach.

mod s3;
mod sigv4;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use weft_sdk::http::Method;
use weft_sdk::{Context, Error};

use crate::s3::Call;

/// Objects one `list` returns unless `limit` says otherwise.
const DEFAULT_LIMIT: u32 = 1000;
/// The most objects one `list` returns (each page is at most 1000).
const MAX_LIMIT: u32 = 10_000;

weft_sdk::types! {
    /// Where the objects live and the credentials to reach them.
    #[derive(Debug, Clone)]
    pub struct Store {
        /// The store's URL, e.g. `https://s3.us-east-1.amazonaws.com` or
        /// `http://127.0.0.1:9000` (requests are path-style).
        pub endpoint: String,
        /// The signing region (default `us-east-1`).
        #[serde(default = "default_region")]
        pub region: String,
        /// The bucket.
        pub bucket: String,
        /// The access key id; give it from an instance secret.
        pub access_key_id: String,
        /// The secret access key; give it from an instance secret.
        pub secret_access_key: String,
        /// A temporary session token (STS), if the credentials need one.
        #[serde(default)]
        pub session_token: Option<String>,
    }

    /// How an object's bytes travel in JSON.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    #[serde(rename_all = "lowercase")]
    pub enum Encoding {
        /// UTF-8 text (the default).
        #[default]
        Text,
        /// Base64 (standard alphabet, padded), for binary contents.
        Base64,
    }

    /// Input of `list`.
    pub struct ListInput {
        #[serde(flatten)]
        pub store: Store,
        /// Only keys starting with this, e.g. `incoming/` (default: all).
        #[serde(default)]
        pub prefix: String,
        /// Only objects modified strictly after this RFC 3339 timestamp,
        /// e.g. a previous run's `latest_modified`; empty or absent: all.
        #[serde(default)]
        pub modified_since: Option<String>,
        /// Only keys after this one (S3's `start-after`).
        #[serde(default)]
        pub start_after: Option<String>,
        /// The most objects to return (default 1000, at most 10000).
        #[serde(default)]
        pub limit: Option<u32>,
    }

    /// One object in a listing.
    pub struct FileInfo {
        /// The full key, e.g. `incoming/orders-1.csv`.
        pub key: String,
        /// The last path segment of the key, e.g. `orders-1.csv`.
        pub name: String,
        /// Size in bytes.
        pub size: u64,
        /// When it was last written, RFC 3339 UTC.
        pub last_modified: String,
        /// The store's entity tag (quotes removed).
        pub etag: String,
    }

    /// Output of `list`.
    pub struct ListOutput {
        /// The objects, in key order; "folder" markers (keys ending in `/`) are left out.
        pub files: Vec<FileInfo>,
        /// How many objects `files` holds.
        pub count: usize,
        /// The newest `last_modified` among `files` (or `modified_since`
        /// when none is newer): the next run's `modified_since`.
        pub latest_modified: Option<String>,
        /// True when `limit` cut the listing short.
        pub truncated: bool,
    }

    /// Input of `get`.
    pub struct GetInput {
        #[serde(flatten)]
        pub store: Store,
        /// The object's key.
        pub key: String,
        /// How to return the contents (default `text`).
        #[serde(default)]
        pub encoding: Encoding,
    }

    /// Output of `get`.
    pub struct GetOutput {
        /// The object's key.
        pub key: String,
        /// The last path segment of the key.
        pub name: String,
        /// The contents, as `encoding` says.
        pub content: String,
        /// How `content` is encoded.
        pub encoding: Encoding,
        /// Size in bytes.
        pub size: usize,
        /// The object's content type, if the store has one.
        pub content_type: Option<String>,
        /// The store's entity tag (quotes removed).
        pub etag: Option<String>,
    }

    /// Input of `put`.
    pub struct PutInput {
        #[serde(flatten)]
        pub store: Store,
        /// The object's key, e.g. `reports/2026-12-02.csv`.
        pub key: String,
        /// The contents, as `encoding` says.
        pub content: String,
        /// How `content` is encoded (default `text`).
        #[serde(default)]
        pub encoding: Encoding,
        /// The content type to store (default `text/plain; charset=utf-8`
        /// for text, `application/octet-stream` for base64).
        #[serde(default)]
        pub content_type: Option<String>,
    }

    /// Output of `put`.
    pub struct PutOutput {
        /// The object's key.
        pub key: String,
        /// Bytes written.
        pub size: usize,
        /// The store's entity tag (quotes removed).
        pub etag: Option<String>,
    }

    /// Input of `copy` and `move`.
    pub struct CopyInput {
        #[serde(flatten)]
        pub store: Store,
        /// The source key.
        pub key: String,
        /// The destination key, e.g. `processed/orders-1.csv`.
        pub to: String,
        /// The destination bucket (default: the same bucket).
        #[serde(default)]
        pub to_bucket: Option<String>,
    }

    /// Output of `copy` and `move`.
    pub struct CopyOutput {
        /// The source key.
        pub from: String,
        /// The destination key.
        pub key: String,
        /// The destination bucket.
        pub bucket: String,
        /// `move` only: true when the source was already gone and the
        /// destination exists (a retried move whose first attempt finished).
        pub already_moved: bool,
    }

    /// Input of `delete`.
    pub struct DeleteInput {
        #[serde(flatten)]
        pub store: Store,
        /// The object's key.
        pub key: String,
    }

    /// Output of `delete`.
    pub struct DeleteOutput {
        /// The key (deleting a missing key succeeds too, as in S3).
        pub key: String,
        /// Always true.
        pub deleted: bool,
    }
}

fn default_region() -> String {
    "us-east-1".into()
}

/// The last path segment of `key`.
fn name_of(key: &str) -> String {
    key.rsplit('/').next().unwrap_or(key).to_owned()
}

fn etag_of(response: &weft_sdk::http::Response) -> Option<String> {
    response
        .header("etag")
        .map(|e| e.trim_matches('"').to_owned())
}

fn list(input: ListInput, _: &Context) -> Result<ListOutput, Error> {
    let store = &input.store;
    let limit = input.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(Error::invalid_input(format!(
            "limit {limit} must be between 1 and {MAX_LIMIT}"
        )));
    }
    let since = match input.modified_since.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(sigv4::parse_timestamp(text).ok_or_else(|| {
            Error::invalid_input(format!(
                "modified_since {text:?} is not an RFC 3339 timestamp, e.g. 2026-12-02T00:00:00Z"
            ))
        })?),
    };
    let mut files = Vec::new();
    let mut latest = since;
    let mut token: Option<String> = None;
    let mut truncated = false;
    loop {
        let mut call = Call::new(Method::Get, &store.bucket, None);
        call.query = vec![("list-type", "2"), ("prefix", &input.prefix)];
        if let Some(after) = input.start_after.as_deref().filter(|a| !a.is_empty()) {
            call.query.push(("start-after", after));
        }
        if let Some(token) = &token {
            call.query.push(("continuation-token", token));
        }
        let what = format!("list {}/{}", store.bucket, input.prefix);
        let response = s3::check(s3::send(store, call)?, &what)?;
        let page = s3::parse_list(response.bytes())?;
        for object in page.objects {
            if object.key.ends_with('/') {
                continue;
            }
            let modified = sigv4::parse_timestamp(&object.last_modified);
            if let (Some(since), Some(modified)) = (since, modified)
                && modified <= since
            {
                continue;
            }
            if files.len() == limit as usize {
                truncated = true;
                break;
            }
            if let Some(modified) = modified {
                latest = Some(latest.map_or(modified, |l| l.max(modified)));
            }
            files.push(FileInfo {
                name: name_of(&object.key),
                size: object.size,
                last_modified: modified
                    .map(sigv4::format_timestamp)
                    .unwrap_or(object.last_modified),
                etag: object.etag,
                key: object.key,
            });
        }
        token = page.next;
        if truncated || token.is_none() {
            truncated = truncated || token.is_some();
            break;
        }
    }
    weft_sdk::info!(
        "listed {} files under {}/{}",
        files.len(),
        store.bucket,
        input.prefix
    );
    Ok(ListOutput {
        count: files.len(),
        files,
        latest_modified: latest.map(sigv4::format_timestamp),
        truncated,
    })
}

fn get(input: GetInput, _: &Context) -> Result<GetOutput, Error> {
    let store = &input.store;
    s3::check_key("key", &input.key)?;
    let what = format!("get {}/{}", store.bucket, input.key);
    let response = s3::check(
        s3::send(
            store,
            Call::new(Method::Get, &store.bucket, Some(&input.key)),
        )?,
        &what,
    )?;
    let bytes = response.bytes();
    let content = match input.encoding {
        Encoding::Text => String::from_utf8(bytes.to_vec()).map_err(|e| {
            Error::fatal(format!(
                "{} is not UTF-8 text ({e}); get it with encoding: base64",
                input.key
            ))
        })?,
        Encoding::Base64 => BASE64.encode(bytes),
    };
    Ok(GetOutput {
        name: name_of(&input.key),
        size: bytes.len(),
        content,
        encoding: input.encoding,
        content_type: response.header("content-type").map(str::to_owned),
        etag: etag_of(&response),
        key: input.key,
    })
}

fn put(input: PutInput, _: &Context) -> Result<PutOutput, Error> {
    let store = &input.store;
    s3::check_key("key", &input.key)?;
    let (body, default_type) = match input.encoding {
        Encoding::Text => (input.content.into_bytes(), "text/plain; charset=utf-8"),
        Encoding::Base64 => (
            BASE64
                .decode(input.content.trim())
                .map_err(|e| Error::invalid_input(format!("content is not base64: {e}")))?,
            "application/octet-stream",
        ),
    };
    let size = body.len();
    let mut call = Call::new(Method::Put, &store.bucket, Some(&input.key));
    call.headers = vec![(
        "content-type".into(),
        input.content_type.unwrap_or_else(|| default_type.into()),
    )];
    call.body = body;
    let what = format!("put {}/{}", store.bucket, input.key);
    let response = s3::check(s3::send(store, call)?, &what)?;
    weft_sdk::info!("put {}/{} ({size} bytes)", store.bucket, input.key);
    Ok(PutOutput {
        etag: etag_of(&response),
        key: input.key,
        size,
    })
}

/// Copies `input.key` to `input.to`; `Ok(false)` when the source does not
/// exist (S3's `NoSuchKey`).
fn copy_object(input: &CopyInput) -> Result<bool, Error> {
    let store = &input.store;
    s3::check_key("key", &input.key)?;
    s3::check_key("to", &input.to)?;
    let to_bucket = input.to_bucket.as_deref().unwrap_or(&store.bucket);
    let mut call = Call::new(Method::Put, to_bucket, Some(&input.to));
    call.amz_headers = vec![(
        "x-amz-copy-source".into(),
        format!("/{}/{}", store.bucket, sigv4::uri_encode(&input.key, true)),
    )];
    let response = s3::send(store, call)?;
    if response.status() == 404 && String::from_utf8_lossy(response.bytes()).contains("NoSuchKey") {
        return Ok(false);
    }
    let what = format!(
        "copy {}/{} to {to_bucket}/{}",
        store.bucket, input.key, input.to
    );
    let response = s3::check(response, &what)?;
    // A copy can fail after its 200 status: the error is in the body.
    if String::from_utf8_lossy(response.bytes()).contains("<Error>") {
        return Err(Error::upstream(format!(
            "{what} failed after starting; the store's answer was an error document"
        )));
    }
    Ok(true)
}

fn copy(input: CopyInput, _: &Context) -> Result<CopyOutput, Error> {
    if !copy_object(&input)? {
        return Err(Error::fatal(format!(
            "copy {}/{}: no such key",
            input.store.bucket, input.key
        )));
    }
    Ok(CopyOutput {
        bucket: input.to_bucket.unwrap_or(input.store.bucket),
        from: input.key,
        key: input.to,
        already_moved: false,
    })
}

fn move_(input: CopyInput, _: &Context) -> Result<CopyOutput, Error> {
    let store = &input.store;
    let to_bucket = input
        .to_bucket
        .clone()
        .unwrap_or_else(|| store.bucket.clone());
    let mut already_moved = false;
    if copy_object(&input)? {
        let what = format!("delete {}/{}", store.bucket, input.key);
        s3::check(
            s3::send(
                store,
                Call::new(Method::Delete, &store.bucket, Some(&input.key)),
            )?,
            &what,
        )?;
    } else {
        // The source is gone: fine if the destination exists (this is a
        // retry of a move that finished), an error otherwise.
        let what = format!("look up {to_bucket}/{}", input.to);
        let head = s3::send(store, Call::new(Method::Head, &to_bucket, Some(&input.to)))?;
        if head.status() == 404 {
            return Err(Error::fatal(format!(
                "move {}/{}: no such key (and {to_bucket}/{} does not exist)",
                store.bucket, input.key, input.to
            )));
        }
        s3::check(head, &what)?;
        already_moved = true;
    }
    weft_sdk::info!(
        "moved {}/{} to {to_bucket}/{}",
        store.bucket,
        input.key,
        input.to
    );
    Ok(CopyOutput {
        bucket: to_bucket,
        from: input.key,
        key: input.to,
        already_moved,
    })
}

fn delete(input: DeleteInput, _: &Context) -> Result<DeleteOutput, Error> {
    let store = &input.store;
    s3::check_key("key", &input.key)?;
    let what = format!("delete {}/{}", store.bucket, input.key);
    s3::check(
        s3::send(
            store,
            Call::new(Method::Delete, &store.bucket, Some(&input.key)),
        )?,
        &what,
    )?;
    Ok(DeleteOutput {
        key: input.key,
        deleted: true,
    })
}

weft_sdk::connector! {
    name: "files",
    version: env!("CARGO_PKG_VERSION"),
    description: "Lists, reads, writes, copies, moves and deletes objects in an S3-compatible store (SigV4, path-style)",
    hosts: ["*"],
    actions: [
        {
            key: "list",
            title: "List files",
            description: "Lists objects under {prefix}, optionally only those modified after {modified_since}; returns {files, count, latest_modified, truncated}",
            run: list,
        },
        {
            key: "get",
            title: "Get a file",
            description: "Reads object {key}; returns {key, name, content, encoding, size, content_type, etag}",
            run: get,
        },
        {
            key: "put",
            title: "Put a file",
            description: "Writes {content} (text or base64) to object {key}; returns {key, size, etag}",
            run: put,
        },
        {
            key: "copy",
            title: "Copy a file",
            description: "Copies object {key} to {to} (optionally in {to_bucket}); returns {from, key, bucket}",
            run: copy,
        },
        {
            key: "move",
            title: "Move a file",
            description: "Copies object {key} to {to}, then deletes {key}; a retried move that already finished succeeds",
            run: move_,
        },
        {
            key: "delete",
            title: "Delete a file",
            description: "Deletes object {key}; returns {key, deleted}",
            run: delete,
        },
    ],
}
