//! AWS Signature Version 4 for S3 requests (`AWS4-HMAC-SHA256`, header
//! form), computed in the guest with pure-Rust SHA-256 and HMAC, and the
//! UTC date arithmetic it needs (no time crate: days from the civil date).
//!
//! Only what S3 path-style requests need: the canonical URI is the path
//! exactly as sent (already percent-encoded once, S3 does not encode it
//! twice), the canonical query is built here from pairs, and the signed
//! headers are `host` plus every `x-amz-*` header the caller passes.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The credentials a request is signed with.
pub struct Credentials<'a> {
    /// The access key id (`AKIA…`); appears in the `Authorization` header.
    pub access_key_id: &'a str,
    /// The secret access key; only ever fed into HMAC.
    pub secret_access_key: &'a str,
    /// A temporary session token, sent as `x-amz-security-token`.
    pub session_token: Option<&'a str>,
}

/// One request to sign.
pub struct Signing<'a> {
    /// `GET`, `PUT`, …
    pub method: &'a str,
    /// `host[:port]` exactly as the request's authority.
    pub host: &'a str,
    /// The encoded path, e.g. `/bucket/incoming/a%20b.csv`.
    pub path: &'a str,
    /// The encoded query, already in canonical (sorted) form, `a=1&b=2`.
    pub query: &'a str,
    /// Extra `x-amz-*` headers (lowercase names), e.g. `x-amz-copy-source`.
    pub amz_headers: &'a [(String, String)],
    /// Hex SHA-256 of the body.
    pub payload_hash: &'a str,
    /// The region, e.g. `us-east-1`.
    pub region: &'a str,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: &'a str,
}

/// The headers to send with a signed request: `x-amz-date`,
/// `x-amz-content-sha256`, the session token if any, the caller's
/// `x-amz-*` headers and `authorization`.
pub fn sign(request: &Signing<'_>, credentials: &Credentials<'_>) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), request.host.into()),
        ("x-amz-content-sha256".into(), request.payload_hash.into()),
        ("x-amz-date".into(), request.amz_date.into()),
    ];
    if let Some(token) = credentials.session_token {
        headers.push(("x-amz-security-token".into(), token.into()));
    }
    headers.extend(request.amz_headers.iter().cloned());
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let signed_headers: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    let signed_headers = signed_headers.join(";");
    let canonical_headers: String = headers
        .iter()
        .map(|(n, v)| format!("{n}:{}\n", v.trim()))
        .collect();
    let canonical_request = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        request.method, request.path, request.query, request.payload_hash
    );
    let date = &request.amz_date[..8];
    let scope = format!("{date}/{}/s3/aws4_request", request.region);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        request.amz_date,
        hex_sha256(canonical_request.as_bytes())
    );
    let key = hmac(
        format!("AWS4{}", credentials.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    let key = hmac(&key, request.region.as_bytes());
    let key = hmac(&key, b"s3");
    let key = hmac(&key, b"aws4_request");
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    );
    // The host sets `host` from the request's authority itself.
    headers.retain(|(n, _)| n != "host");
    headers.push(("authorization".into(), authorization));
    headers
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn hex_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length.
    let mut mac = HmacSha256::new_from_slice(key).expect("hmac takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and `/`
/// when `keep_slash`), as SigV4 wants for paths and query pairs.
pub fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The canonical query string of `pairs`: each name and value encoded,
/// sorted by name then value, joined with `&`.
pub fn canonical_query(pairs: &[(&str, &str)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `YYYYMMDDTHHMMSSZ` for `unix` seconds.
pub fn amz_date(unix: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(unix);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// `(year, month, day, hour, minute, second)` in UTC for `unix` seconds.
fn civil(unix: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
    )
}

/// Days since 1970-01-01 of a civil date (Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds since the epoch of an RFC 3339 / ISO 8601 timestamp:
/// `2026-12-02T00:48:19Z`, `2026-12-02T00:48:19.123Z`,
/// `2026-12-02T01:48:19+01:00` (a space instead of `T` also works).
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let t = text.trim();
    let b = t.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(range)?;
        if !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &t[19..];
    let mut millis = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &frac[..digits.min(3)]);
        millis = padded.parse::<i64>().ok()?;
        rest = &frac[digits..];
    }
    let offset_secs = match rest {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = rest[1..].replace(':', "");
            if hm.len() != 4 || !hm.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            sign * (hm[..2].parse::<i64>().ok()? * 3600 + hm[2..].parse::<i64>().ok()? * 60)
        }
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset_secs;
    Some(secs * 1000 + millis)
}

/// RFC 3339 UTC with milliseconds, `2026-12-02T00:48:19.123Z`, for
/// milliseconds since the epoch.
pub fn format_timestamp(millis: i64) -> String {
    let (y, mo, d, h, mi, s) = civil(millis.div_euclid(1000));
    let ms = millis.rem_euclid(1000);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's documented S3 example, "GET Object" (Signature Version 4,
    /// header-based authentication): the published signature.
    #[test]
    fn matches_the_aws_get_object_example() {
        let range = vec![("range".to_owned(), "bytes=0-9".to_owned())];
        let request = Signing {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/test.txt",
            query: "",
            amz_headers: &range,
            payload_hash: &hex_sha256(b""),
            region: "us-east-1",
            amz_date: "20130524T000000Z",
        };
        let credentials = Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            session_token: None,
        };
        let headers = sign(&request, &credentials);
        let auth = &headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .unwrap()
            .1;
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, \
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, \
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
        assert!(!headers.iter().any(|(n, _)| n == "host"));
    }

    /// AWS's "GET Bucket (List Objects)" example: query parameters signed.
    #[test]
    fn matches_the_aws_list_objects_example() {
        let request = Signing {
            method: "GET",
            host: "examplebucket.s3.amazonaws.com",
            path: "/",
            query: &canonical_query(&[("prefix", "J"), ("max-keys", "2")]),
            amz_headers: &[],
            payload_hash: &hex_sha256(b""),
            region: "us-east-1",
            amz_date: "20130524T000000Z",
        };
        let credentials = Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            session_token: None,
        };
        let headers = sign(&request, &credentials);
        let auth = &headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .unwrap()
            .1;
        assert!(
            auth.ends_with(
                "Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
            ),
            "{auth}"
        );
    }

    #[test]
    fn encodes_paths_and_queries() {
        assert_eq!(
            uri_encode("incoming/a b+c.csv", true),
            "incoming/a%20b%2Bc.csv"
        );
        assert_eq!(uri_encode("a/b", false), "a%2Fb");
        assert_eq!(
            canonical_query(&[("prefix", "in/"), ("list-type", "2")]),
            "list-type=2&prefix=in%2F"
        );
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(amz_date(0), "19700101T000000Z");
        assert_eq!(amz_date(1_369_353_600), "20130524T000000Z");
        let t = parse_timestamp("2026-12-02T00:48:19.123Z").unwrap();
        assert_eq!(format_timestamp(t), "2026-12-02T00:48:19.123Z");
        assert_eq!(
            parse_timestamp("2026-12-02T01:48:19+01:00"),
            parse_timestamp("2026-12-02T00:48:19Z")
        );
        assert_eq!(
            parse_timestamp("2024-02-29 12:00:00"),
            parse_timestamp("2024-02-29T12:00:00.000Z")
        );
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("2026-13-01T00:00:00Z"), None);
        assert_eq!(parse_timestamp("2026-12-02T00:48:19+0x:00"), None);
    }
}
