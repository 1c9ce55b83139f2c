//! Extractors: each reads one kind of request input — a form, a JSON body, the bearer token,
//! the sign-in session, the CSRF nonce — once, and rejects with a typed error. No handler parses
//! forms, `Authorization` headers or cookies itself; each maps a rejection to the `AppError` of
//! its own surface.
use super::Services;
use crate::core::cookies::{self, Membership, Session, CSRF_COOKIE, MAX_SESSION_WORKSPACES, SESSION_COOKIE, SESSION_TTL};
use crate::core::http::{Request, Response};
use crate::core::ids::{Identity, WorkspaceId};
use crate::core::oauth::keys::Keys;
use crate::core::oidc::flow::{Flow, FLOW_COOKIE, FLOW_TTL};
use crate::core::site::Site;

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

/// The value of the cookie `base` (under this site's name for it: `__Host-` prefixed when
/// secure, so a plain-named cookie planted over http or by a sibling domain is never read).
fn cookie(req: &Request, site: &Site, base: &str) -> Option<String> {
    let name = site.cookie_name(base);
    req.header("cookie")?.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
}

/// The signed-in person, if the session cookie is ours and current.
pub fn session<S: Services>(svc: &S, req: &Request, site: &Site) -> Option<Session> {
    cookies::decode_session(svc.keys(), &cookie(req, site, SESSION_COOKIE)?, svc.now())
}

/// A new sign-in session for `identity`, acting in `current`, and the `Set-Cookie` that starts it.
pub fn begin_session<S: Services>(
    svc: &S,
    site: &Site,
    identity: Identity,
    current: Option<Membership>,
    others: Vec<WorkspaceId>,
) -> String {
    let mut others = others;
    others.truncate(MAX_SESSION_WORKSPACES);
    let session = Session { identity, current, others, expires_at: svc.now() + SESSION_TTL, sid: svc.random_token() };
    session_cookie(svc, site, &session)
}

/// The `Set-Cookie` that stores `session` (a changed workspace keeps its `sid` and expiry).
pub fn session_cookie<S: Services>(svc: &S, site: &Site, session: &Session) -> String {
    let value = cookies::encode_session(svc.keys(), session);
    let max_age = (session.expires_at - svc.now()).max(0);
    cookies::set_cookie(&site.cookie_name(SESSION_COOKIE), &value, max_age, site.secure_cookies())
}

/// The `Set-Cookie` that ends the session (sign-out).
pub fn end_session(site: &Site) -> String {
    cookies::set_cookie(&site.cookie_name(SESSION_COOKIE), "", 0, site.secure_cookies())
}

/// The sign-in at the identity provider this browser started (`crate::core::oidc::flow`).
pub fn oidc_flow<S: Services>(svc: &S, req: &Request, site: &Site) -> Option<Flow> {
    Flow::decode(svc.keys(), &cookie(req, site, FLOW_COOKIE)?, svc.now())
}

/// The `Set-Cookie` that keeps `flow` until the callback.
pub fn begin_oidc_flow<S: Services>(svc: &S, site: &Site, flow: &Flow) -> String {
    cookies::set_cookie(&site.cookie_name(FLOW_COOKIE), &flow.encode(svc.keys()), FLOW_TTL, site.secure_cookies())
}

/// The `Set-Cookie` that forgets the flow (it is single-use).
pub fn end_oidc_flow(site: &Site) -> String {
    cookies::set_cookie(&site.cookie_name(FLOW_COOKIE), "", 0, site.secure_cookies())
}

/// The browser's CSRF nonce (signed double submit: the cookie holds the nonce, forms and the
/// admin page's header carry `csrf_token(nonce, sid)`), bound to the session it is used in.
pub struct CsrfNonce {
    nonce: String,
    /// The current session's `sid` (empty when nobody is signed in).
    sid: String,
    /// Set when the browser had none: the cookie that gives it this one.
    set_cookie: Option<String>,
}

/// The form token or header did not match the browser's nonce and session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsrfMismatch;

/// Nonces shorter than this are not ours (we mint 43 characters).
const MIN_NONCE: usize = 16;

fn current_sid<S: Services>(svc: &S, req: &Request, site: &Site) -> String {
    session(svc, req, site).map(|s| s.sid).unwrap_or_default()
}

impl CsrfNonce {
    /// The browser's nonce, or a new one.
    pub fn get_or_mint<S: Services>(svc: &S, req: &Request, site: &Site) -> CsrfNonce {
        let sid = current_sid(svc, req, site);
        match cookie(req, site, CSRF_COOKIE).filter(|n| n.len() >= MIN_NONCE) {
            Some(nonce) => CsrfNonce { nonce, sid, set_cookie: None },
            None => {
                let nonce = svc.random_token();
                let set_cookie = Some(cookies::set_cookie(&site.cookie_name(CSRF_COOKIE), &nonce, SESSION_TTL, site.secure_cookies()));
                CsrfNonce { nonce, sid, set_cookie }
            }
        }
    }

    /// The browser's nonce, if it has one (nothing is minted).
    pub fn existing<S: Services>(svc: &S, req: &Request, site: &Site) -> Option<CsrfNonce> {
        let nonce = cookie(req, site, CSRF_COOKIE).filter(|n| n.len() >= MIN_NONCE)?;
        Some(CsrfNonce { nonce, sid: current_sid(svc, req, site), set_cookie: None })
    }

    /// The token a form or header must carry back.
    pub fn token(&self, keys: &Keys) -> String {
        cookies::csrf_token(keys, &self.nonce, &self.sid)
    }

    /// Adds the cookie to a response when the nonce is new.
    pub fn attach(self, response: Response) -> Response {
        match self.set_cookie {
            Some(c) => response.with_header("set-cookie", &c),
            None => response,
        }
    }

    /// Checks `presented` (a form field or header) against the browser's nonce and session.
    pub fn verify<S: Services>(svc: &S, req: &Request, site: &Site, presented: Option<&str>) -> Result<(), CsrfMismatch> {
        let nonce = cookie(req, site, CSRF_COOKIE);
        if cookies::csrf_valid(svc.keys(), nonce.as_deref(), &current_sid(svc, req, site), presented) {
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
    fn cookies_are_read_by_exact_name_and_prefixed_when_secure() {
        let req = request(&[("cookie", "mcp_edge_csrfx=no; mcp_edge_csrf=plain; __Host-mcp_edge_csrf=prefixed")], "");
        let local = Site::resolve(None, "http", "127.0.0.1:8081").unwrap();
        assert_eq!(cookie(&req, &local, CSRF_COOKIE).as_deref(), Some("plain"));
        let public = Site::resolve(Some("https://mcp.example.com"), "https", "mcp.example.com").unwrap();
        assert_eq!(cookie(&req, &public, CSRF_COOKIE).as_deref(), Some("prefixed"), "a plain-named cookie is never read over https");
        let set = end_session(&public);
        assert!(set.starts_with("__Host-mcp_edge_session=;") && set.contains("; Secure") && set.contains("Path=/"), "{set}");
        assert!(!set.contains("Domain"), "{set}");
    }
}
