//! One extraction filter for both listeners: every request becomes an [`HttpRequest`] (method,
//! decoded path segments, query pairs, headers, body read up to the size limit), and the
//! listener's dispatcher routes it by hand. Routing by hand gives one place for case-insensitive
//! resource names, for 404 and 405 answers in the listener's own error format, and for the
//! request id and log line of every request.

use bytes::Bytes;
use futures_util::StreamExt;
use warp::http::{HeaderMap, Method, header};
use warp::{Filter, Rejection};

/// A request as the dispatchers see it.
#[derive(Debug)]
pub struct HttpRequest {
    /// GET, POST, ...
    pub method: Method,
    /// The full path, for logs.
    pub path: String,
    /// Percent-decoded path segments, empty ones dropped.
    pub segments: Vec<String>,
    /// Query parameters, form-decoded (`+` is a space).
    pub query: Vec<(String, String)>,
    /// Request headers.
    pub headers: HeaderMap,
    /// The body; `Err` when it was larger than the limit or could not be read.
    pub body: Result<Bytes, BodyError>,
    /// Correlates this request's log lines and change-log rows.
    pub request_id: String,
}

impl HttpRequest {
    /// The first query parameter of that name, matched case-insensitively.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// A header's value as text.
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why the body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// More than this many bytes.
    TooLarge(u64),
    /// The connection failed mid-body.
    Unreadable,
}

/// Extracts every request; never rejects.
pub fn extract(
    max_body_bytes: u64,
) -> impl Filter<Extract = (HttpRequest,), Error = Rejection> + Clone {
    warp::method()
        .and(warp::path::full())
        .and(
            warp::query::raw()
                .or(warp::any().map(String::new))
                .unify(),
        )
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(move |method, path: warp::path::FullPath, query: String, headers: HeaderMap, body| async move {
            let declared = headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let body = match declared {
                Some(length) if length > max_body_bytes => Err(BodyError::TooLarge(max_body_bytes)),
                _ => read_body(body, max_body_bytes).await,
            };
            let request_id = request_id(&headers);
            HttpRequest {
                method,
                segments: segments(path.as_str()),
                path: path.as_str().to_owned(),
                query: url::form_urlencoded::parse(query.as_bytes()).into_owned().collect(),
                headers,
                body,
                request_id,
            }
        })
}

/// Reads the body chunk by chunk and stops as soon as it passes the limit, so a client that
/// streams without a Content-Length cannot make the server buffer more than the limit.
async fn read_body(
    stream: impl futures_util::Stream<Item = Result<impl warp::Buf, warp::Error>>,
    limit: u64,
) -> Result<Bytes, BodyError> {
    let mut stream = std::pin::pin!(stream);
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let mut chunk = chunk.map_err(|_| BodyError::Unreadable)?;
        if body.len() as u64 + chunk.remaining() as u64 > limit {
            return Err(BodyError::TooLarge(limit));
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            body.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(Bytes::from(body))
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

/// The caller's `X-Request-Id` when it is a plausible id, else a fresh one.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}
