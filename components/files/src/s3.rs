//! S3 requests, path-style (`{endpoint}/{bucket}/{key}`, so a local
//! endpoint needs no per-bucket DNS): building and signing each request,
//! sending it through the SDK's HTTP client, and reading S3's XML answers
//! (ListObjectsV2 pages and error documents).

use weft_sdk::Error;
use weft_sdk::http::{Method, Request, Response};

use crate::Store;
use crate::sigv4::{self, Credentials, Signing};

/// One object of a listing.
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub last_modified: String,
    pub etag: String,
}

/// One page of ListObjectsV2.
pub struct Page {
    pub objects: Vec<Listed>,
    pub next: Option<String>,
}

/// Where a store's requests go: the endpoint's scheme and authority, and
/// the path prefix it may carry.
struct Endpoint {
    base: String,
    host: String,
    prefix: String,
}

fn endpoint(store: &Store) -> Result<Endpoint, Error> {
    let url = store.endpoint.trim().trim_end_matches('/');
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        Error::invalid_input(format!(
            "endpoint {url:?} must be an http:// or https:// URL, e.g. https://s3.us-east-1.amazonaws.com"
        ))
    })?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(Error::invalid_input(format!(
            "endpoint {url:?} must use http or https"
        )));
    }
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains(['@', '?', '#']) {
        return Err(Error::invalid_input(format!(
            "endpoint {url:?} needs a host and no credentials, query or fragment"
        )));
    }
    // The Host header the request carries (and so the one signed) drops a
    // default port.
    let host = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("http", Some((h, "80"))) | ("https", Some((h, "443"))) => h,
        _ => authority,
    };
    Ok(Endpoint {
        base: format!("{scheme}://{host}"),
        host: host.to_owned(),
        prefix: prefix.to_owned(),
    })
}

/// Checks a bucket name the way S3 does (3-63 of a-z, 0-9, `.`, `-`), so a
/// name with `/` or `?` cannot reshape the path.
pub fn check_bucket(bucket: &str) -> Result<(), Error> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "bucket {bucket:?} is not a valid bucket name (3-63 characters of a-z, 0-9, '.', '-')"
        )))
    }
}

/// Checks an object key: non-empty, at most 1024 bytes, no control
/// characters.
pub fn check_key(field: &str, key: &str) -> Result<(), Error> {
    if key.is_empty() || key.len() > 1024 || key.chars().any(char::is_control) {
        return Err(Error::invalid_input(format!(
            "{field} {key:?} must be 1-1024 bytes without control characters"
        )));
    }
    Ok(())
}

/// One request to the store.
pub struct Call<'a> {
    /// The method.
    pub method: Method,
    /// The bucket.
    pub bucket: &'a str,
    /// The object key; `None` for a bucket-level request.
    pub key: Option<&'a str>,
    /// Raw (unencoded) query pairs.
    pub query: Vec<(&'a str, &'a str)>,
    /// `x-amz-*` headers to sign and send (lowercase names).
    pub amz_headers: Vec<(String, String)>,
    /// Other headers, sent unsigned (e.g. `content-type`).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl<'a> Call<'a> {
    /// A bodiless request for `key` in `bucket`.
    pub fn new(method: Method, bucket: &'a str, key: Option<&'a str>) -> Self {
        Self {
            method,
            bucket,
            key,
            query: Vec::new(),
            amz_headers: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// Sends one signed request.
pub fn send(store: &Store, call: Call<'_>) -> Result<Response, Error> {
    let Call {
        method,
        bucket,
        key,
        query,
        amz_headers,
        headers: extra_headers,
        body,
    } = call;
    check_bucket(bucket)?;
    let endpoint = endpoint(store)?;
    let mut path = format!("{}/{}", endpoint.prefix, bucket);
    if let Some(key) = key {
        path.push('/');
        path.push_str(&sigv4::uri_encode(key, true));
    }
    let query = sigv4::canonical_query(&query);
    let payload_hash = sigv4::hex_sha256(&body);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| Error::fatal(format!("the clock is before 1970: {e}")))?;
    let amz_date = sigv4::amz_date(now.as_secs() as i64);
    let method_name = method.to_string();
    let region = match store.region.trim() {
        "" => "us-east-1",
        region => region,
    };
    let signing = Signing {
        method: &method_name,
        host: &endpoint.host,
        path: &path,
        query: &query,
        amz_headers: &amz_headers,
        payload_hash: &payload_hash,
        region,
        amz_date: &amz_date,
    };
    let credentials = Credentials {
        access_key_id: &store.access_key_id,
        secret_access_key: &store.secret_access_key,
        session_token: store.session_token.as_deref().filter(|t| !t.is_empty()),
    };
    let url = if query.is_empty() {
        format!("{}{path}", endpoint.base)
    } else {
        format!("{}{path}?{query}", endpoint.base)
    };
    let mut request = Request::new(method, url);
    for (name, value) in sigv4::sign(&signing, &credentials) {
        request = request.header(name, value);
    }
    for (name, value) in &extra_headers {
        request = request.header(name, value);
    }
    Ok(request.body(body).send()?)
}

/// `Ok(response)` for a 2xx answer, else an error naming the operation,
/// the object and S3's error code and message (never the request's
/// headers, which carry the signature): `upstream` for 5xx, 429 and 408
/// (retryable), `fatal` otherwise.
pub fn check(response: Response, what: &str) -> Result<Response, Error> {
    if response.is_success() {
        return Ok(response);
    }
    let status = response.status();
    let (code, message) = error_document(response.bytes());
    let detail = match (code, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        (None, Some(m)) => m,
        (None, None) => "no error document".to_owned(),
    };
    let text = format!("{what} answered HTTP {status} ({detail})");
    Err(if status >= 500 || matches!(status, 408 | 429) {
        Error::upstream(text)
    } else {
        Error::fatal(text)
    })
}

/// S3's `<Error><Code>…</Code><Message>…</Message></Error>`.
fn error_document(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(text) = std::str::from_utf8(body) else {
        return (None, None);
    };
    let Ok(doc) = roxmltree::Document::parse(text) else {
        return (None, None);
    };
    let field = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(|t| t.chars().take(300).collect::<String>())
    };
    (field("Code"), field("Message"))
}

/// Parses a ListObjectsV2 answer.
pub fn parse_list(body: &[u8]) -> Result<Page, Error> {
    let bad = |why: String| Error::upstream(format!("the store's listing is not valid: {why}"));
    let text = std::str::from_utf8(body).map_err(|e| bad(e.to_string()))?;
    let doc = roxmltree::Document::parse(text).map_err(|e| bad(e.to_string()))?;
    let root = doc.root_element();
    if !root.has_tag_name("ListBucketResult") {
        return Err(bad(format!("root element is <{}>", root.tag_name().name())));
    }
    let child = |node: roxmltree::Node<'_, '_>, name: &str| {
        node.children()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(str::to_owned)
    };
    let mut objects = Vec::new();
    for node in root.children().filter(|n| n.has_tag_name("Contents")) {
        let key = child(node, "Key").ok_or_else(|| bad("an entry without <Key>".into()))?;
        objects.push(Listed {
            size: child(node, "Size")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
            last_modified: child(node, "LastModified").unwrap_or_default(),
            etag: child(node, "ETag")
                .unwrap_or_default()
                .trim_matches('"')
                .to_owned(),
            key,
        });
    }
    let truncated = child(root, "IsTruncated").is_some_and(|t| t == "true");
    let next = if truncated {
        Some(
            child(root, "NextContinuationToken")
                .ok_or_else(|| bad("truncated without <NextContinuationToken>".into()))?,
        )
    } else {
        None
    };
    Ok(Page { objects, next })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_listing_page() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix>incoming/</Prefix><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated>
  <NextContinuationToken>tok&amp;1</NextContinuationToken>
  <Contents><Key>incoming/a.csv</Key><LastModified>2026-12-02T00:48:19.000Z</LastModified>
    <ETag>&quot;abc&quot;</ETag><Size>12</Size></Contents>
  <Contents><Key>incoming/b &amp; c.csv</Key><LastModified>2026-12-02T00:49:00.000Z</LastModified>
    <ETag>"def"</ETag><Size>3</Size></Contents>
</ListBucketResult>"#;
        let page = parse_list(xml).unwrap();
        assert_eq!(page.next.as_deref(), Some("tok&1"));
        assert_eq!(page.objects.len(), 2);
        assert_eq!(page.objects[1].key, "incoming/b & c.csv");
        assert_eq!(page.objects[0].etag, "abc");
        assert_eq!(page.objects[0].size, 12);
        assert!(parse_list(b"<Error><Code>X</Code></Error>").is_err());
    }

    #[test]
    fn reads_error_documents() {
        let (code, message) = error_document(
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>gone</Message></Error>",
        );
        assert_eq!(code.as_deref(), Some("NoSuchKey"));
        assert_eq!(message.as_deref(), Some("gone"));
        assert_eq!(error_document(b"not xml"), (None, None));
    }

    #[test]
    fn refuses_names_that_reshape_the_path() {
        assert!(check_bucket("weft-files").is_ok());
        assert!(check_bucket("a/b").is_err());
        assert!(check_bucket("x?y=1").is_err());
        assert!(check_key("key", "").is_err());
        assert!(check_key("key", "a\nb").is_err());
        assert!(check_key("key", "incoming/a b.csv").is_ok());
    }

    #[test]
    fn endpoints_drop_default_ports() {
        let store = |endpoint: &str| Store {
            endpoint: endpoint.into(),
            region: "us-east-1".into(),
            bucket: "b".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            session_token: None,
        };
        let e = endpoint(&store("https://s3.example:443/")).unwrap();
        assert_eq!(
            (e.base.as_str(), e.host.as_str()),
            ("https://s3.example", "s3.example")
        );
        let e = endpoint(&store("http://127.0.0.1:9000/minio")).unwrap();
        assert_eq!(e.host, "127.0.0.1:9000");
        assert_eq!(e.prefix, "/minio");
        assert!(endpoint(&store("s3.example")).is_err());
        assert!(endpoint(&store("ftp://s3.example")).is_err());
        assert!(endpoint(&store("http://user:pw@s3.example")).is_err());
    }
}
