//! Plain HTTP request/response values. The edge converts `worker` types to and from these, so the
//! whole request pipeline (`crate::app`) runs natively in tests.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Head,
    Options,
    Delete,
    Other,
}

impl Method {
    pub fn parse(text: &str) -> Method {
        match text.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "HEAD" => Method::Head,
            "OPTIONS" => Method::Options,
            "DELETE" => Method::Delete,
            _ => Method::Other,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub url: url::Url,
    /// Header names are lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// `scheme://host[:port]` of the request, without a trailing slash.
    pub fn origin(&self) -> String {
        self.url.origin().ascii_serialization()
    }

    pub fn content_type_is(&self, mime: &str) -> bool {
        self.header("content-type").and_then(|v| v.split(';').next()).is_some_and(|v| v.trim().eq_ignore_ascii_case(mime))
    }
}

/// Text a client sent, as it may be echoed in a message or a log line: printable ASCII and
/// spaces only (no control or bidi characters), at most 100 characters.
pub fn printable(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(100).collect()
}

fn header_safe(value: &str) -> String {
    if value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        return value.to_string();
    }
    let mut out = String::with_capacity(value.len() + 16);
    for b in value.bytes() {
        if b == b'\t' || (0x20..0x7f).contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response::new(status).with_header("content-type", "application/json").with_body(value.to_string().into_bytes())
    }

    /// A JSON body that is already serialized.
    pub fn json_text(status: u16, json: String) -> Response {
        Response::new(status).with_header("content-type", "application/json").with_body(json.into_bytes())
    }

    pub fn html(status: u16, page: String) -> Response {
        Response::new(status)
            .with_header("content-type", "text/html; charset=utf-8")
            .with_header("cache-control", "no-store")
            .with_header("x-frame-options", "DENY")
            // No referrer leaves for another origin (the redirect to the client carries the
            // code). Not `no-referrer`: with it browsers send `Origin: null` on our own forms
            // (Fetch §3.2.5), which the origin check must refuse.
            .with_header("referrer-policy", "same-origin")
            .with_header(
                "content-security-policy",
                "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            )
            .with_body(page.into_bytes())
    }

    pub fn text(status: u16, text: &str) -> Response {
        Response::new(status).with_header("content-type", "text/plain; charset=utf-8").with_body(text.as_bytes().to_vec())
    }

    /// 302 for OAuth redirects to the client (RFC 6749 §4.1.2), 303 for our own form posts.
    pub fn redirect(status: u16, location: &str) -> Response {
        Response::new(status).with_header("location", location).with_header("cache-control", "no-store")
    }

    /// Lets this page's forms lead to `source` (a CSP source expression). Chromium applies
    /// `form-action` to the redirects that follow a form post, so the consent page must allow the
    /// (validated) redirect URI it sends the browser to.
    pub fn allow_form_target(mut self, source: &str) -> Response {
        for (k, v) in self.headers.iter_mut() {
            if k == "content-security-policy" {
                *v = v.replace("form-action 'self'", &format!("form-action 'self' {source}"));
            }
        }
        self
    }

    /// Adds a header. Values may carry client-supplied text (a `Location` built from a
    /// `next` parameter, an error description naming a policy field): anything a header cannot
    /// hold — control characters (CR/LF would split the header) and non-ASCII — is
    /// percent-encoded, so no input can make the runtime reject the response.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), header_safe(value)));
        self
    }

    pub fn with_body(mut self, body: Vec<u8>) -> Response {
        self.body = body;
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_cannot_be_split_or_hold_non_ascii() {
        let r = Response::new(303).with_header("location", "/authorize?x\r\nset-cookie: a=b&n=\u{2603}");
        assert_eq!(r.header("location"), Some("/authorize?x%0D%0Aset-cookie: a=b&n=%E2%98%83"));
        assert_eq!(Response::new(200).with_header("x", "plain\tvalue").header("x"), Some("plain\tvalue"));
    }
}
