//! [`http_error`]: Go's `http.Error`.

use http::{HeaderValue, StatusCode, header};
use tokio::io::AsyncWriteExt;

use crate::ResponseWriter;

/// Replies with `status` and `error` as a plain-text body (Go's `http.Error`).
///
/// Like Go, it sets `Content-Type: text/plain; charset=utf-8` and
/// `X-Content-Type-Options: nosniff`, drops any `Content-Length` the handler set, and ends the
/// body with a newline. The handler should return after it; a write error (the client left)
/// is ignored, as there is no one left to tell.
///
/// ```
/// use compat::{Body, ResponseWriter};
/// use http::{Request, StatusCode};
///
/// async fn forbidden(w: &mut dyn ResponseWriter, _r: Request<Body>) {
///     compat::http_error(w, "Origin not allowed", StatusCode::FORBIDDEN).await;
/// }
/// ```
pub async fn http_error<W>(w: &mut W, error: &str, status: StatusCode)
where
    W: ResponseWriter + ?Sized,
{
    let headers = w.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    w.write_header(status);
    let mut body = String::with_capacity(error.len() + 1);
    body.push_str(error);
    body.push('\n');
    let _ = w.write_all(body.as_bytes()).await;
}
