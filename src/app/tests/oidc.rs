//! Issue #9: people sign in through the product's OpenID Connect provider — the flow, the ID
//! token checks (each refusal with its page), key rotation, membership by e-mail or subject,
//! workspaces from a claim or entered once, and the chooser.
use serde_json::{json, Value};

use super::provider::{Issue, ISSUER, OIDC_VARS};
use super::*;
use crate::core::oidc::JwsAlg;

fn deployment(extra: &[(&str, &str)]) -> Memory {
    let mut vars: Vec<(&str, &str)> = OIDC_VARS.to_vec();
    vars.extend_from_slice(extra);
    let svc = Memory::with_vars(&vars);
    svc.set_policy("acme", |d| d["members"] = json!([{"email": "ada@example.com", "name": "Ada", "role": "admin"}]));
    svc
}

fn ada() -> Value {
    json!({"sub": "u-ada", "email": "Ada@Example.com", "email_verified": true, "name": "Ada", "workspaces": ["acme"]})
}

fn encoded(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `/signin?next=…` → the provider (where `account` signs in) → the callback's answer.
fn provider_sign_in(svc: &Memory, b: &mut Browser, next: &str, account: Value) -> Response {
    let start = b.get(&format!("/signin?next={}", encoded(next)));
    assert_eq!(start.status, 303, "{}", body_text(&start));
    let (code, state) = svc.provider.authorize(start.header("location").unwrap(), account);
    b.get(&format!("/oidc/callback?code={code}&state={}&iss={}", encoded(&state), encoded(ISSUER)))
}

fn error_of(r: &Response) -> String {
    let page = body_text(r);
    let start = page.find("id=\"error-message\"").unwrap_or_else(|| panic!("no error message: {page}"));
    page[start..].split_once('>').unwrap().1.split('<').next().unwrap().replace("&#39;", "'").replace("&quot;", "\"")
}

fn session_set(r: &Response) -> bool {
    r.headers.iter().any(|(k, v)| k == "set-cookie" && v.starts_with("mcp_edge_session=") && !v.starts_with("mcp_edge_session=;"))
}

#[test]
fn a_member_signs_in_at_the_provider_approves_and_whoami_names_them() {
    let svc = deployment(&[]);
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let authorize = authorize_path(&client_id, None);
    let r = b.get(&authorize);
    assert_eq!(r.header("location").map(|l| l.starts_with("/signin?next=")), Some(true));
    let back = provider_sign_in(&svc, &mut b, &authorize, ada());
    assert_eq!((back.status, back.header("location")), (303, Some(authorize.as_str())), "{}", body_text(&back));
    assert!(
        back.headers.iter().any(|(k, v)| k == "set-cookie" && v.starts_with("mcp_edge_oidc=; Path=/; Max-Age=0")),
        "the flow is single-use"
    );
    let consent = b.get(&authorize);
    assert!(body_text(&consent).contains("<dd id=\"user-email\">ada@example.com</dd>"), "{}", body_text(&consent));
    // "Sign out and sign in again" asks the provider to let the person choose the account.
    let mut other = Browser::new(&svc);
    provider_sign_in(&svc, &mut other, &authorize, ada());
    let page = body_text(&other.get(&authorize));
    let out = other.post_form("/signout", &[("csrf", &input_value(&page, "csrf")), ("next", &authorize)]);
    let again = out.header("location").unwrap().to_string();
    assert!(again.starts_with("/signin?switch=1&next="), "{again}");
    assert!(other.get(&again).header("location").unwrap().ends_with("&prompt=select_account"));
    let code = approve(&mut b, &consent);
    let tokens = body_json(&exchange(&mut b, &client_id, &code, VERIFIER));
    let whoami = mcp(
        &mut b,
        tokens["access_token"].as_str().unwrap(),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "mcp_whoami", "arguments": {}}}),
    );
    assert!(body_text(&whoami).contains("ada@example.com"), "{}", body_text(&whoami));
}

#[test]
fn each_bad_id_token_is_refused_with_its_page_and_no_session() {
    type Edit = fn(&mut Value);
    let cases: [(&str, Option<Edit>, Issue, &str); 6] = [
        ("tampered", None, Issue::Tampered, "signature does not verify"),
        ("wrong audience", Some(|c| c["aud"] = json!("someone-else")), Issue::Honest, "not for this server"),
        ("wrong nonce", Some(|c| c["nonce"] = json!("another")), Issue::Honest, "belongs to another sign-in (nonce)"),
        ("expired", Some(|c| c["exp"] = json!(c["iat"].as_i64().unwrap() - 600)), Issue::Honest, "expired"),
        ("another issuer", Some(|c| c["iss"] = json!("https://evil.example")), Issue::Honest, "issued by `https://evil.example`"),
        ("unknown kid", None, Issue::UnknownKey, "kid `never-published`"),
    ];
    for (name, edit, issue, says) in cases {
        let svc = deployment(&[]);
        svc.provider.issue.set(issue);
        *svc.provider.edit_claims.borrow_mut() = edit.map(|e| Box::new(e) as super::provider::ClaimsEdit);
        let r = provider_sign_in(&svc, &mut Browser::new(&svc), "/admin", ada());
        assert_eq!(r.status, 401, "{name}: {}", body_text(&r));
        let message = error_of(&r);
        assert!(message.starts_with("Sign-in not accepted: ") && message.contains(says), "{name}: {message}");
        assert!(!session_set(&r), "{name}");
        if name == "expired" {
            assert!(body_text(&r).contains("clocks of this server and the identity provider disagree"), "{name}");
        }
        if name == "unknown kid" {
            assert_eq!(svc.provider.jwks_fetches.get(), 1, "fetched once more on the unknown kid, no more");
        }
    }
}

#[test]
fn the_provider_rotates_to_es256_and_the_next_sign_in_fetches_its_keys_once() {
    let svc = deployment(&[]);
    assert_eq!(provider_sign_in(&svc, &mut Browser::new(&svc), "/admin", ada()).status, 303);
    assert_eq!(provider_sign_in(&svc, &mut Browser::new(&svc), "/admin", ada()).status, 303);
    assert_eq!((svc.provider.jwks_fetches.get(), svc.provider.discovery_fetches.get()), (1, 1), "cached");
    svc.provider.rotate_to_ec();
    assert_eq!(svc.provider.alg.get(), JwsAlg::Es256);
    let r = provider_sign_in(&svc, &mut Browser::new(&svc), "/admin", ada());
    assert_eq!(r.status, 303, "{}", body_text(&r));
    assert_eq!(svc.provider.jwks_fetches.get(), 2);
    assert_eq!(provider_sign_in(&svc, &mut Browser::new(&svc), "/admin", ada()).status, 303);
    assert_eq!(svc.provider.jwks_fetches.get(), 2, "the new key is cached");
}

#[test]
fn membership_needs_a_verified_email_or_the_members_subject() {
    let svc = deployment(&[]);
    svc.set_policy("acme", |d| {
        d["members"] =
            json!([{"email": "ada@example.com", "role": "admin"}, {"email": "nora@corp.example", "sub": "u-nora", "role": "member"}])
    });
    let unverified = json!({"sub": "u-ada", "email": "ada@example.com", "email_verified": false, "workspaces": ["acme"]});
    let r = provider_sign_in(&svc, &mut Browser::new(&svc), "/admin", unverified);
    assert_eq!((r.status, error_of(&r).as_str()), (403, "The identity provider has not verified your e-mail address ada@example.com"));
    // Nora is matched by subject, whatever her e-mail claim says; her e-mail alone is not enough.
    let nora = json!({"sub": "u-nora", "email": "nora@elsewhere.example", "email_verified": false, "workspaces": ["acme"]});
    let mut b = Browser::new(&svc);
    assert_eq!(provider_sign_in(&svc, &mut b, "/admin", nora).status, 303);
    let session = body_json(&b.get("/admin/api/session"));
    assert_eq!(session["email"], "nora@corp.example");
    let impostor = json!({"sub": "u-other", "email": "nora@corp.example", "email_verified": true, "workspaces": ["acme"]});
    let r = provider_sign_in(&svc, &mut Browser::new(&svc), "/admin", impostor);
    assert_eq!(r.status, 403, "a member with a subject is not matched by e-mail");
    assert!(error_of(&r).contains("not as a member of a workspace"));
}

#[test]
fn a_person_in_no_workspace_is_told_whom_to_ask_and_the_workspace_sees_the_attempt() {
    let svc = deployment(&[("SIGN_IN_HELP", "it@example.com")]);
    let eve = json!({"sub": "u-eve", "email": "eve@example.com", "email_verified": true, "workspaces": ["acme", "nowhere"]});
    let r = provider_sign_in(&svc, &mut Browser::new(&svc), "/admin", eve);
    assert_eq!(r.status, 403);
    assert_eq!(error_of(&r), "You are signed in as eve@example.com, but not as a member of a workspace this server serves");
    assert!(body_text(&r).contains("(it@example.com)"));
    assert_eq!(
        svc.outcomes.borrow()["acme"][0].rule.as_deref(),
        Some("Sign-in refused: eve@example.com is not a member of this workspace")
    );
}

#[test]
fn provider_errors_are_pages_never_500() {
    let svc = deployment(&[]);
    let mut b = Browser::new(&svc);
    let start = b.get("/signin?next=%2Fadmin");
    let (_, state) = svc.provider.authorize(start.header("location").unwrap(), ada());
    let denied = b.get(&format!("/oidc/callback?error=access_denied&error_description=The+user+cancelled&state={}", encoded(&state)));
    assert_eq!(
        (denied.status, error_of(&denied).as_str()),
        (403, "The identity provider did not sign you in (access_denied: The user cancelled)")
    );
    for query in ["code=c&state=forged", "code=c", ""] {
        let lost = b.get(&format!("/oidc/callback?{query}"));
        assert_eq!((lost.status, error_of(&lost).starts_with("This sign-in was not started in this browser")), (400, true), "{query}");
    }
    let lost = Browser::new(&svc).get(&format!("/oidc/callback?code=c&state={}", encoded(&state)));
    assert_eq!(lost.status, 400, "no flow cookie in this browser");
    let start = b.get("/signin?next=%2Fadmin");
    let (code, state) = svc.provider.authorize(start.header("location").unwrap(), ada());
    let wrong = b.get(&format!("/oidc/callback?code={code}&state={}&iss=https%3A%2F%2Fevil.example", encoded(&state)));
    assert_eq!(wrong.status, 400, "RFC 9207 iss");
    let right = b.get(&format!("/oidc/callback?code={code}&state={}", encoded(&state)));
    assert_eq!(right.status, 303, "a forged callback does not end the person's sign-in");
    let replayed = b.get(&format!("/oidc/callback?code={code}&state={}", encoded(&state)));
    assert_eq!(replayed.status, 400, "the flow is single-use");
}

#[test]
fn a_provider_that_is_down_is_503_with_retry_after_and_one_that_answers_nonsense_502() {
    let down = "The identity provider could not be reached or is overloaded";
    let unusable = "The identity provider gave an answer this server cannot use";
    for (network_down, status, expected) in
        [(true, None, (503, down)), (false, Some(503), (503, down)), (false, Some(429), (503, down)), (false, Some(404), (502, unusable))]
    {
        let fresh = deployment(&[]);
        fresh.provider.down.set(network_down);
        fresh.provider.failing.set(status);
        let r = Browser::new(&fresh).get("/signin?next=%2Fadmin");
        assert_eq!((r.status, error_of(&r).as_str()), expected, "{status:?}");
        assert_eq!(r.header("retry-after"), (expected.0 == 503).then_some("30"));
    }
    // Down between sending the person to the provider and their return: the token endpoint
    // and the keys are the outage too, not a refused sign-in.
    let svc = deployment(&[]);
    let mut b = Browser::new(&svc);
    let start = b.get("/signin?next=%2Fadmin");
    let (code, state) = svc.provider.authorize(start.header("location").unwrap(), ada());
    svc.provider.failing.set(Some(502));
    let r = b.get(&format!("/oidc/callback?code={code}&state={}", encoded(&state)));
    assert_eq!((r.status, error_of(&r).as_str()), (503, down));
}

#[test]
fn a_spent_code_is_the_providers_refusal_shown_as_a_page() {
    let svc = deployment(&[]);
    let mut b = Browser::new(&svc);
    let start = b.get("/signin?next=%2Fadmin");
    let (code, state) = svc.provider.authorize(start.header("location").unwrap(), ada());
    let first = b.get(&format!("/oidc/callback?code={code}&state={}", encoded(&state)));
    assert_eq!(first.status, 303);
    // A second browser flow whose callback carries the already used code.
    let start = b.get("/signin?next=%2Fadmin");
    let (_, state) = svc.provider.authorize(start.header("location").unwrap(), ada());
    let r = b.get(&format!("/oidc/callback?code={code}&state={}", encoded(&state)));
    assert_eq!(r.status, 502);
    assert!(error_of(&r).starts_with("The identity provider refused to complete the sign-in (invalid_grant"), "{}", error_of(&r));
}

#[test]
fn several_workspaces_choose_on_the_consent_page_and_only_among_their_own() {
    let svc = deployment(&[]);
    svc.set_policy("north", |d| {
        d["name"] = json!("North");
        d["members"] = json!([{"email": "ada@example.com", "role": "member"}])
    });
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let authorize = authorize_path(&client_id, None);
    let account = json!({"sub": "u-ada", "email": "ada@example.com", "email_verified": true, "workspaces": ["acme", "north", "nowhere"]});
    assert_eq!(provider_sign_in(&svc, &mut b, &authorize, account).status, 303);
    let consent = body_text(&b.get(&authorize));
    assert!(
        consent.contains("<code id=\"workspace-id\">acme</code>") && consent.contains("<option value=\"north\">north</option>"),
        "{consent}"
    );
    assert!(!consent.contains("nowhere"), "only workspaces the person is a member of");
    let csrf = input_value(&consent, "csrf");
    let switched = b.post_form("/signin/workspace", &[("csrf", &csrf), ("next", &authorize), ("workspace", "north")]);
    assert_eq!((switched.status, switched.header("location")), (303, Some(authorize.as_str())), "{}", body_text(&switched));
    let consent = body_text(&b.get(&authorize));
    assert!(consent.contains("<code id=\"workspace-id\">north</code>") && consent.contains("<option value=\"acme\">"), "{consent}");
    let csrf = input_value(&consent, "csrf");
    let foreign = b.post_form("/signin/workspace", &[("csrf", &csrf), ("next", &authorize), ("workspace", "other")]);
    assert_eq!(foreign.status, 403, "the claim is authoritative");
    assert_eq!(error_of(&foreign), crate::core::pages::escape(crate::app::choose::WORKSPACE_REFUSED).replace("&#39;", "'"));
}

#[test]
fn without_a_workspaces_claim_the_person_enters_the_workspace_once() {
    let svc = deployment(&[("OIDC_WORKSPACES_CLAIM", "")]);
    let mut b = Browser::new(&svc);
    let client_id = register(&mut b);
    let authorize = authorize_path(&client_id, None);
    let back = provider_sign_in(&svc, &mut b, &authorize, ada());
    let choose = back.header("location").unwrap().to_string();
    assert!(choose.starts_with("/signin/workspace?next="), "{choose}");
    let page = body_text(&b.get(&choose));
    assert!(page.contains("id=\"workspace\"") && page.contains("ada@example.com"), "{page}");
    let csrf = input_value(&page, "csrf");
    let refused = b.post_form("/signin/workspace", &[("csrf", &csrf), ("next", &authorize), ("workspace", "nowhere")]);
    assert_eq!(refused.status, 403);
    let entered = b.post_form("/signin/workspace", &[("csrf", &csrf), ("next", &authorize), ("workspace", "acme")]);
    assert_eq!((entered.status, entered.header("location")), (303, Some(authorize.as_str())));
    assert_eq!(b.get(&authorize).status, 200, "remembered in the session");
    let forged = b.post_form("/signin/workspace", &[("csrf", "forged"), ("workspace", "acme")]);
    assert_eq!(
        (forged.status, error_of(&forged).as_str()),
        (403, "The workspace form could not be verified (missing or wrong CSRF token)")
    );
}

#[test]
fn with_a_provider_the_development_sign_in_is_refused_and_admin_goes_to_the_provider() {
    let svc = Memory::with_vars(&[("OIDC_ISSUER", ISSUER), ("OIDC_CLIENT_ID", "mcp-edge"), ("OIDC_CLIENT_SECRET", "provider-secret")]);
    assert!(svc.config.dev_sign_in, "DEV_SIGN_IN is on, and still");
    let mut b = Browser::new(&svc);
    let r = b.post_form("/signin", &[("workspace", "acme"), ("email", "ada@example.com")]);
    assert_eq!((r.status, error_of(&r).starts_with("This server signs people in through its identity provider")), (403, true));
    assert!(!session_set(&r));
    let admin = b.get("/admin");
    assert_eq!(admin.header("location"), Some("/signin?next=%2Fadmin"));
    assert!(!b.get("/signin?next=%2Fadmin").header("location").unwrap().contains("prompt="));
    let start = b.get("/signin?next=%2Fadmin");
    assert!(start.header("location").unwrap().starts_with(&format!("{ISSUER}/auth?")));
}
