//! Extractors: each reads one kind of request input — a form, a JSON body, the bearer token,
//! the sign-in session, the CSRF nonce — once, and rejects with a typed error. No handler parses
//! forms, `Authorization` headers or cookies itself; each maps a rejection to the `AppError` of
//! its own surface.
use super::Services;
use crate::core::cookies::{self, Session, CSRF_COOKIE, SESSION_COOKIE, SESSION_TTL};
use crate::core::http::{Request, Response};
use crate::core::oauth::keys::Keys;

/// Fields of an `application/x-www-form-urlencoded` body, or of a query string, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

/// The body is not `application/x-www-form-urlencoded`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUrlencoded;

impl Form {
    pub fn from_body(req: &Request) -> Result<Form, NotUrlencoded> {
        if !req.content_type_is("application/x-www-form-urlencoded") {
            return Err(NotUrlencoded);
        }
        Ok(Form(url::form_urlencoded::parse(&req.body).into_owned().collect()))
    }

    /// The body as a form whatever its declared type: the sign-in page's form (its CSRF token
    /// is what protects it).
    pub fn from_any_body(req: &Request) -> Form {
        Form(url::form_urlencoded::parse(&req.body).into_owned().collect())
    }

    pub fn from_query(req: &Request) -> Form {
        Form(req.url.query_pairs().into_owned().collect())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The first value of `name`, unless it is empty.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }
}

/// A JSON body (whatever its declared content type, as the admin page sends it), read by field.
/// A field of anything but an object is absent, so a handler says which field it needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Json(serde_json::Value);

/// The body is not JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotJson;

impl Json {
    pub fn from_body(req: &Request) -> Result<Json, NotJson> {
        serde_json::from_slice(&req.body).map(Json).map_err(|_| NotJson)
    }

    /// The field `name` of the body's object (`None` when absent, or the body is no object).
    pub fn field(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.as_object()?.get(name)
    }

    /// The field `name`, if it is a string.
    pub fn str_field(&self, name: &str) -> Option<&str> {
        self.field(name)?.as_str()
    }
}

/// The access token of `Authorization: Bearer <token>` (RFC 6750 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bearer(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerHeader {
    Missing,
    /// Another scheme, or no token after `Bearer`.
    NotBearer,
}

impl Bearer {
    pub fn from_request(req: &Request) -> Result<Bearer, BearerHeader> {
        let header = req.header("authorization").ok_or(BearerHeader::Missing)?;
        match header.trim().split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
                Ok(Bearer(token.trim().to_string()))
            }
            _ => Err(BearerHeader::NotBearer),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `name=value` of the request's `Cookie` header.
fn cookie(req: &Request, name: &str) -> Option<String> {
    req.header("cookie")?.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// The signed-in person, if the session cookie is ours and current.
pub fn session<S: Services>(svc: &S, req: &Request) -> Option<Session> {
    cookies::decode_session(svc.keys(), &cookie(req, SESSION_COOKIE)?, svc.now())
}

/// Whether the cookies we set are `Secure`: when the origin we serve as (`PUBLIC_ORIGIN`, else
/// the request's) or the request itself is https — the one place that decides "is this https".
pub fn secure_cookies(req: &Request, origin: &str) -> bool {
    origin.starts_with("https:") || req.url.scheme() == "https"
}

/// The browser's CSRF nonce (signed double submit: the cookie holds the nonce, forms and the
/// admin page's header carry `csrf_token(nonce)`).
pub struct CsrfNonce {
    nonce: String,
    /// Set when the browser had none: the cookie that gives it this one.
    set_cookie: Option<String>,
}

/// The form token or header did not match the browser's nonce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsrfMismatch;

/// Nonces shorter than this are not ours (we mint 43 characters).
const MIN_NONCE: usize = 16;

impl CsrfNonce {
    /// The browser's nonce, or a new one.
    pub fn get_or_mint<S: Services>(svc: &S, req: &Request, origin: &str) -> CsrfNonce {
        match cookie(req, CSRF_COOKIE).filter(|n| n.len() >= MIN_NONCE) {
            Some(nonce) => CsrfNonce { nonce, set_cookie: None },
            None => {
                let nonce = svc.random_token();
                let set_cookie = Some(cookies::set_cookie(CSRF_COOKIE, &nonce, SESSION_TTL, secure_cookies(req, origin)));
                CsrfNonce { nonce, set_cookie }
            }
        }
    }

    /// The browser's nonce, if it has one (nothing is minted).
    pub fn existing(req: &Request) -> Option<CsrfNonce> {
        cookie(req, CSRF_COOKIE).filter(|n| n.len() >= MIN_NONCE).map(|nonce| CsrfNonce { nonce, set_cookie: None })
    }

    /// The token a form or header must carry back.
    pub fn token(&self, keys: &Keys) -> String {
        cookies::csrf_token(keys, &self.nonce)
    }

    /// Adds the cookie to a response when the nonce is new.
    pub fn attach(self, response: Response) -> Response {
        match self.set_cookie {
            Some(c) => response.with_header("set-cookie", &c),
            None => response,
        }
    }

    /// Checks `presented` (a form field or header) against the browser's nonce.
    pub fn verify(keys: &Keys, req: &Request, presented: Option<&str>) -> Result<(), CsrfMismatch> {
        let nonce = cookie(req, CSRF_COOKIE);
        if cookies::csrf_valid(keys, nonce.as_deref(), presented) {
            Ok(())
        } else {
            Err(CsrfMismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::http::Method;

    fn request(headers: &[(&str, &str)], body: &str) -> Request {
        Request {
            method: Method::Post,
            url: url::Url::parse("http://127.0.0.1:8081/x?a=1&a=2").unwrap(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn forms_need_their_content_type_and_keep_the_first_value() {
        let form =
            Form::from_body(&request(&[("content-type", "application/x-www-form-urlencoded; charset=utf-8")], "a=&b=2&b=3")).unwrap();
        assert_eq!((form.get("a"), form.non_empty("a"), form.get("b")), (Some(""), None, Some("2")));
        assert_eq!(Form::from_body(&request(&[("content-type", "application/json")], "a=1")), Err(NotUrlencoded));
        assert_eq!(Form::from_query(&request(&[], "")).get("a"), Some("1"));
    }

    #[test]
    fn bearer_tokens_and_their_rejections() {
        let bearer = |v: &str| Bearer::from_request(&request(&[("authorization", v)], "")).map(|b| b.as_str().to_string());
        assert_eq!(bearer("Bearer abc"), Ok("abc".into()));
        assert_eq!(bearer("bearer  abc "), Ok("abc".into()));
        assert_eq!(bearer("Basic abc"), Err(BearerHeader::NotBearer));
        assert_eq!(bearer("Bearer "), Err(BearerHeader::NotBearer));
        assert_eq!(Bearer::from_request(&request(&[], "")), Err(BearerHeader::Missing));
    }

    #[test]
    fn json_bodies_are_read_by_field_of_an_object() {
        let body = |text: &str| Json::from_body(&request(&[], text));
        assert_eq!(body(r#"{"user":"a","id":7}"#).unwrap().str_field("user"), Some("a"));
        assert_eq!(body(r#"{"user":"a","id":7}"#).unwrap().str_field("id"), None);
        assert_eq!(body(r#"["a"]"#).unwrap().field("user"), None, "positions are not fields");
        assert_eq!(body("null").unwrap().field("user"), None);
        assert_eq!(body("user=a"), Err(NotJson));
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let req = request(&[("cookie", "mcp_edge_csrfx=no; mcp_edge_csrf=nonce-nonce-nonce-1")], "");
        assert_eq!(cookie(&req, CSRF_COOKIE).as_deref(), Some("nonce-nonce-nonce-1"));
        assert!(secure_cookies(&req, "https://mcp.example.com") && !secure_cookies(&req, "http://127.0.0.1:8081"));
        let over_https = Request { url: url::Url::parse("https://mcp.example.com/signin").unwrap(), ..req };
        assert!(secure_cookies(&over_https, "http://mcp.example.com"), "never weaker than the request");
    }
}
