//! The pages a person sees (templates in `static/`). Every value is HTML-escaped here; only
//! fragments this module builds from escaped parts are inserted raw.
use crate::core::scopes::{ScopeCatalog, ScopeSet};

const CONSENT: &str = include_str!("../../static/consent.html");
const SIGNIN: &str = include_str!("../../static/signin.html");
const WORKSPACE: &str = include_str!("../../static/workspace.html");
const ERROR: &str = include_str!("../../static/error.html");
const ADMIN: &str = include_str!("../../static/admin.html");
pub const STYLESHEET: &str = include_str!("../../static/style.css");
pub const ADMIN_SCRIPT: &str = include_str!("../../static/admin.js");
/// The pages' icon, also answered at `/favicon.ico` (browsers ask for it unprompted).
pub const ICON: &str = include_str!("../../static/icon.svg");

/// The admin page: static HTML; its script reads everything from the admin API.
pub fn admin() -> String {
    ADMIN.to_string()
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

enum Value<'a> {
    Text(&'a str),
    Html(String),
}

/// Fills `{{name}}` placeholders in one pass over the template: a value is never scanned again,
/// so a client-chosen `state` of `{{csrf}}` stays that text instead of becoming the CSRF token.
/// An unknown placeholder is left as it is (a test checks that none is).
fn fill(template: &str, values: &[(&str, Value)]) -> String {
    let mut page = String::with_capacity(template.len() + 1024);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        page.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let value = after.find("}}").and_then(|end| values.iter().find(|(name, _)| *name == &after[..end]).map(|(_, v)| (end, v)));
        match value {
            Some((end, v)) => {
                match v {
                    Value::Text(t) => page.push_str(&escape(t)),
                    Value::Html(h) => page.push_str(h),
                }
                rest = &after[end + 2..];
            }
            None => {
                page.push_str("{{");
                rest = after;
            }
        }
    }
    page.push_str(rest);
    page
}

pub struct ConsentView<'a> {
    pub client_name: &'a str,
    pub client_id: &'a str,
    /// The host of the client's metadata document (CIMD): who vouches for the name. `None`: a
    /// registered client, whose name anyone could have chosen.
    pub verified_host: Option<&'a str>,
    pub redirect_host: &'a str,
    pub workspace_name: &'a str,
    /// Shown next to the name: a name is chosen freely and can be copied, the ID cannot.
    pub workspace_id: &'a str,
    pub user_email: &'a str,
    pub scopes: &'a ScopeSet,
    pub catalog: &'a ScopeCatalog,
    /// The authorization request's parameters, carried back by the form.
    pub params: &'a [(String, String)],
    pub csrf: &'a str,
    /// `crate::core::cookies::consent_digest` of what this page shows.
    pub shown: &'a str,
    /// This authorization request (`/authorize?…`): where sign-out returns to, to sign in again.
    pub return_path: &'a str,
    /// Shown above the request, e.g. when it changed since the page was last shown.
    pub notice: Option<&'a str>,
    /// The signed-in person's other workspaces (a chooser when there are any).
    pub other_workspaces: &'a [&'a str],
}

pub fn consent(view: &ConsentView) -> String {
    let scope_items: String = view
        .scopes
        .iter()
        .map(|s| {
            let desc = view.catalog.description(s).unwrap_or("");
            format!("<li data-scope=\"{0}\"><code>{0}</code> <span>{1}</span></li>", escape(s), escape(desc))
        })
        .collect();
    let notice =
        view.notice.map(|n| format!("<p id=\"consent-notice\" class=\"error\" role=\"alert\">{}</p>", escape(n))).unwrap_or_default();
    let hidden: String =
        view.params.iter().map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", escape(k), escape(v))).collect();
    let (badge, identity) = match view.verified_host {
        Some(host) => (
            format!(" <span class=\"badge verified\" id=\"client-verified\">from {}</span>", escape(host)),
            format!("Verified: described by a metadata document published at <strong>{}</strong>", escape(host)),
        ),
        None => (
            " <span class=\"badge unverified\" id=\"client-unverified\">unverified</span>".to_string(),
            "Unverified: the client registered itself, and its name was chosen by whoever registered it".to_string(),
        ),
    };
    fill(
        CONSENT,
        &[
            ("client_name", Value::Text(view.client_name)),
            ("client_badge", Value::Html(badge)),
            ("client_identity", Value::Html(identity)),
            ("client_id", Value::Text(view.client_id)),
            ("redirect_host", Value::Text(view.redirect_host)),
            ("workspace_name", Value::Text(view.workspace_name)),
            ("workspace_id", Value::Text(view.workspace_id)),
            ("user_email", Value::Text(view.user_email)),
            ("scope_items", Value::Html(scope_items)),
            ("hidden_fields", Value::Html(hidden)),
            ("csrf", Value::Text(view.csrf)),
            ("shown", Value::Text(view.shown)),
            ("return_path", Value::Text(view.return_path)),
            ("notice", Value::Html(notice)),
            ("chooser", Value::Html(chooser(view.other_workspaces, view.csrf, view.return_path))),
        ],
    )
}

pub fn signin(next: &str, csrf: &str, workspace: &str, email: &str, error: Option<&str>) -> String {
    let error_block =
        error.map(|e| format!("<p id=\"error-message\" class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    fill(
        SIGNIN,
        &[
            ("next", Value::Text(next)),
            ("csrf", Value::Text(csrf)),
            ("workspace_value", Value::Text(workspace)),
            ("email_value", Value::Text(email)),
            ("error_block", Value::Html(error_block)),
        ],
    )
}

/// The workspace page: who signed in, the workspaces to choose from (`known`), or a field to
/// enter one (`enter`).
pub struct WorkspaceView<'a> {
    pub who: &'a str,
    pub next: &'a str,
    pub csrf: &'a str,
    pub known: &'a [&'a str],
    pub enter: bool,
    pub error: Option<&'a str>,
}

pub fn choose_workspace(view: &WorkspaceView) -> String {
    let choices = if view.enter || view.known.is_empty() {
        let value = view.known.first().copied().unwrap_or("");
        format!(
            "<label for=\"workspace\">Workspace ID</label><input type=\"text\" id=\"workspace\" name=\"workspace\" value=\"{}\" required autocomplete=\"organization\"><p class=\"muted\">Your workspace admin can tell you its ID.</p>",
            escape(value)
        )
    } else {
        let items: String = view
            .known
            .iter()
            .enumerate()
            .map(|(i, ws)| {
                let checked = if i == 0 { " checked" } else { "" };
                format!(
                    "<label class=\"inline\"><input type=\"radio\" name=\"workspace\" value=\"{0}\"{checked}> <code>{0}</code></label>",
                    escape(ws)
                )
            })
            .collect();
        format!("<fieldset><legend>Your workspaces</legend>{items}</fieldset>")
    };
    let error_block =
        view.error.map(|e| format!("<p id=\"error-message\" class=\"error\" role=\"alert\">{}</p>", escape(e))).unwrap_or_default();
    fill(
        WORKSPACE,
        &[
            ("who", Value::Text(view.who)),
            ("next", Value::Text(view.next)),
            ("csrf", Value::Text(view.csrf)),
            ("choices", Value::Html(choices)),
            ("error_block", Value::Html(error_block)),
        ],
    )
}

/// The consent page's switch to another workspace of the signed-in person.
fn chooser(others: &[&str], csrf: &str, return_path: &str) -> String {
    if others.is_empty() {
        return String::new();
    }
    let options: String = others.iter().map(|ws| format!("<option value=\"{0}\">{0}</option>", escape(ws))).collect();
    format!(
        "<form method=\"post\" action=\"/signin/workspace\" id=\"workspace-chooser\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"next\" value=\"{}\"><label for=\"workspace-choice\">Use another of your workspaces</label> <select id=\"workspace-choice\" name=\"workspace\">{options}</select> <button type=\"submit\">Switch</button></form>",
        escape(csrf),
        escape(return_path)
    )
}

/// After `POST /signout` without a page to return to.
pub fn signed_out() -> String {
    error("Signed out", "You are signed out.", "You can close this window.")
}

pub fn error(title: &str, message: &str, hint: &str) -> String {
    error_returning(title, message, hint, None)
}

/// Where an error page can send the person back to the client, with the error for it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnTo {
    pub client_name: String,
    /// The client's redirect URI with `error`, `error_description`, `state` and `iss`.
    pub url: String,
}

/// An error page that, when `back` is given, offers "Return to <client>": the client then
/// learns why (RFC 6749 §4.1.2.1) instead of waiting for a callback that never comes.
pub fn error_returning(title: &str, message: &str, hint: &str, back: Option<&ReturnTo>) -> String {
    let after = match back {
        Some(back) => format!(
            "<div class=\"actions\"><a id=\"return-to-client\" class=\"button primary\" href=\"{}\">Return to {}</a></div>\n<p class=\"muted\">The client is told this message, so it stops waiting.</p>",
            escape(&back.url),
            escape(&back.client_name)
        ),
        None => "<p class=\"muted\">You can close this window and return to your MCP client.</p>".to_string(),
    };
    fill(
        ERROR,
        &[("title", Value::Text(title)), ("message", Value::Text(message)), ("hint", Value::Text(hint)), ("after", Value::Html(after))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::BUNDLED_SCOPE_CATALOG;

    #[test]
    fn an_error_page_can_return_to_the_client() {
        let back = ReturnTo { client_name: "<b>C</b>".into(), url: "http://localhost:3118/callback?error=access_denied&state=\"x".into() };
        let page = error_returning("T", "M", "H", Some(&back));
        assert!(page.contains("href=\"http://localhost:3118/callback?error=access_denied&amp;state=&quot;x\""), "{page}");
        assert!(page.contains(">Return to &lt;b&gt;C&lt;/b&gt;</a>"), "{page}");
        assert!(!error("T", "M", "H").contains("return-to-client"));
    }

    #[test]
    fn consent_escapes_client_supplied_text() {
        let catalog = ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap();
        let scopes = ScopeSet::from_trusted(["CONTACTS_READ"]);
        let params = vec![("state".to_string(), "\"><script>x</script>".to_string())];
        let view = ConsentView {
            client_name: "<img src=x onerror=alert(1)>",
            client_id: "c1",
            verified_host: None,
            redirect_host: "localhost:3118",
            workspace_name: "Acme & Co",
            workspace_id: "acme",
            user_email: "ada@example.com",
            scopes: &scopes,
            catalog: &catalog,
            params: &params,
            csrf: "t",
            shown: "d",
            return_path: "/authorize?x",
            notice: None,
            other_workspaces: &[],
        };
        let page = consent(&view);
        assert!(!page.contains("<img src=x"));
        assert!(!page.contains("<script>x"));
        assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
        assert!(page.contains("Acme &amp; Co"));
        assert!(page.contains("data-scope=\"CONTACTS_READ\""));
        assert!(!page.contains("{{"), "every placeholder is filled");
        assert!(page.contains("id=\"client-unverified\">unverified</span>"), "a registered name is marked unverified");
        let documented = consent(&ConsentView { verified_host: Some("claude.ai<x>"), ..view });
        assert!(documented.contains("id=\"client-verified\">from claude.ai&lt;x&gt;</span>"), "{documented}");
        assert!(!documented.contains("unverified"));
    }

    #[test]
    fn values_are_not_expanded_again() {
        let catalog = ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap();
        let scopes = ScopeSet::from_trusted(["CONTACTS_READ"]);
        let params = vec![("state".to_string(), "{{csrf}}".to_string())];
        let page = consent(&ConsentView {
            client_name: "{{scope_items}}",
            client_id: "c1",
            verified_host: None,
            redirect_host: "localhost:3118",
            workspace_name: "Acme",
            workspace_id: "acme",
            user_email: "ada@example.com",
            scopes: &scopes,
            catalog: &catalog,
            params: &params,
            csrf: "SECRET-CSRF",
            shown: "d",
            return_path: "/authorize?y",
            notice: Some("<b>changed</b>"),
            other_workspaces: &["north\"><script>"],
        });
        assert!(page.contains("name=\"state\" value=\"{{csrf}}\""), "state comes back as sent");
        assert_eq!(
            page.matches("value=\"SECRET-CSRF\"").count(),
            3,
            "the token appears only in its own fields (approve, sign out, switch)"
        );
        assert_eq!(page.matches("SECRET-CSRF").count(), 3);
        assert_eq!(page.matches("data-scope=").count(), 1, "a client name cannot add scope items");
        assert!(page.contains("&lt;b&gt;changed&lt;/b&gt;"));
        assert!(page.contains("<option value=\"north&quot;&gt;&lt;script&gt;\">") && !page.contains("north\"><script>"));
    }

    #[test]
    fn error_and_signin_pages_fill_every_placeholder() {
        assert!(!error("t", "m", "h").contains("{{"));
        let s = signin("/authorize?x", "c", "", "", Some("<b>"));
        assert!(!s.contains("{{") && s.contains("&lt;b&gt;"));
    }
}
