//! The policy document's parse: each rule and its message.
use serde_json::json;

use super::*;
use crate::core::config::BUNDLED_SCOPE_CATALOG;

pub fn sample() -> Value {
    json!({
        "schema": 1, "name": "Acme", "mcp_enabled": true,
        "allowed_redirect_uris": ["http://localhost:3118/callback"],
        "allowed_client_ids": [],
        "scope_ceiling": ["WORKSPACE_READ", "CONTACTS_READ"],
        "members": [{"email": "Ada@Example.com", "name": "Ada", "role": "admin"}]
    })
}

pub fn sample_json() -> String {
    sample().to_string()
}

fn parse(json: &str) -> Result<WorkspacePolicy, PolicyError> {
    WorkspacePolicy::parse(&"acme".into(), json, &ScopeCatalog::parse(BUNDLED_SCOPE_CATALOG).unwrap())
}

/// The message for the sample changed by `edit`; it must fail and name the workspace.
fn rejection(edit: impl FnOnce(&mut Value)) -> String {
    let mut doc = sample();
    edit(&mut doc);
    let err = parse(&doc.to_string()).expect_err("the edited document must be refused");
    assert!(err.to_string().starts_with("The policy of workspace `acme` is invalid: "), "{err}");
    err.message
}

#[test]
fn sample_parses_and_members_match_case_insensitively() {
    let p = parse(&sample_json()).unwrap();
    assert!(p.member(&"ada@example.com".into()).is_some());
    assert!(p.member(&" ADA@example.COM ".into()).is_some());
    assert!(p.member(&"bob@example.com".into()).is_none());
}

#[test]
fn members_with_a_subject_sign_in_only_as_that_subject() {
    let mut doc = sample();
    doc["members"] =
        json!([{"email": "ada@example.com", "role": "admin"}, {"email": "nora@example.com", "role": "member", "sub": "u-nora"}]);
    let p = parse(&doc.to_string()).unwrap();
    let who = |sub: Option<&str>, email: Option<&str>| Identity { subject: sub.map(str::to_string), email: email.map(Email::from) };
    let email_of = |i: &Identity| p.member_for(i).map(|m| m.email.to_string());
    assert_eq!(email_of(&who(Some("u-ada"), Some("ada@example.com"))).as_deref(), Some("ada@example.com"), "by verified e-mail");
    assert_eq!(email_of(&who(Some("u-nora"), None)).as_deref(), Some("nora@example.com"), "by subject, no e-mail needed");
    assert_eq!(email_of(&who(Some("u-other"), Some("nora@example.com"))), None, "a member with a subject is not matched by e-mail");
    assert_eq!(email_of(&who(None, None)), None);
    assert!(rejection(|d| d["members"][0]["sub"] = json!("")).contains("`members[0].sub` must be 1–255 characters"));
    let twice = rejection(|d| {
        d["members"] =
            json!([{"email": "a@example.com", "role": "admin", "sub": "u-1"}, {"email": "b@example.com", "role": "member", "sub": "u-1"}])
    });
    assert!(twice.contains("members[1].sub"), "{twice}");
    assert_eq!(p.members[0].email.as_str(), "ada@example.com");
    let mut doc = sample();
    doc.as_object_mut().unwrap().remove("allowed_client_ids");
    doc["members"] = json!([{"email": "bob@example.com", "role": "member"}, {"email": "x@localhost", "name": " ", "role": "admin"}]);
    doc["allowed_client_ids"] = json!(["pinned-client_1.x"]);
    let p = parse(&doc.to_string()).unwrap();
    assert_eq!(p.members[0].name, "bob@example.com", "no name: the e-mail");
    assert_eq!(p.members[1].name, "x@localhost", "a blank name: the e-mail");
    assert_eq!(p.allowed_client_ids, [ClientId::parse("pinned-client_1.x").unwrap()]);
    assert!(p.allows_client(&ClientId::parse("pinned-client_1.x").unwrap()));
    assert!(!p.allows_client(&ClientId::parse("pinned-client_1").unwrap()));
}

#[test]
fn allowed_client_ids_may_be_omitted() {
    let mut doc = sample();
    doc.as_object_mut().unwrap().remove("allowed_client_ids");
    assert!(parse(&doc.to_string()).unwrap().allowed_client_ids.is_empty());
}

#[test]
fn redirect_uris_must_be_absolute_without_fragment_or_user_info() {
    let m = rejection(|d| d["allowed_redirect_uris"] = json!(["http://localhost:3118/callback", "/callback"]));
    assert!(m.starts_with("`allowed_redirect_uris[1]`: `/callback` is not an absolute URI"), "{m}");
    let m = rejection(|d| d["allowed_redirect_uris"] = json!(["http://localhost:3118/callback#f"]));
    assert!(m.starts_with("`allowed_redirect_uris[0]`:") && m.contains("fragment"), "{m}");
    let m = rejection(|d| d["allowed_redirect_uris"] = json!(["https://user@example.com/cb"]));
    assert!(m.starts_with("`allowed_redirect_uris[0]`:") && m.contains("user information"), "{m}");
    let m = rejection(|d| d["allowed_redirect_uris"] = json!(["https://example.com/a b"]));
    assert!(m.starts_with("`allowed_redirect_uris[0]`:") && m.contains("whitespace"), "{m}");
}

#[test]
fn unknown_scopes_are_named_with_their_index() {
    let m = rejection(|d| d["scope_ceiling"] = json!(["WORKSPACE_READ", "WORKSPACE_READS"]));
    assert_eq!(m, "`scope_ceiling[1]`: unknown scope `WORKSPACE_READS`");
}

#[test]
fn member_emails_must_be_plausible() {
    let m = rejection(|d| d["members"][0]["email"] = json!(""));
    assert_eq!(m, "`members[0].email` is empty");
    for (bad, why) in [
        ("@", "is not an e-mail address"),
        ("ada@", "is not an e-mail address"),
        ("@example.com", "is not an e-mail address"),
        ("ada", "is not an e-mail address"),
        ("a@b@example.com", "is not an e-mail address"),
        ("bob@example.com admin", "contains whitespace"),
        (" ada@example.com", "contains whitespace"),
        ("ada@example.com\u{7}", "contains whitespace or control characters"),
    ] {
        let m = rejection(|d| d["members"] = json!([{"email": "ok@example.com", "role": "admin"}, {"email": bad, "role": "member"}]));
        assert!(m.starts_with("`members[1].email`: `"), "{bad}: {m}");
        assert!(m.contains(why), "{bad}: {m}");
    }
    let long = format!("{}@example.com", "a".repeat(243));
    assert_eq!(long.len(), 255);
    let m = rejection(|d| d["members"][0]["email"] = json!(long));
    assert!(m.starts_with("`members[0].email`:") && m.ends_with("is longer than 254 characters"), "{m}");
    assert!(parse(&{
        let mut d = sample();
        d["members"][0]["email"] = json!(&long[1..]);
        d.to_string()
    })
    .is_ok());
}

#[test]
fn pinned_client_ids_must_be_client_ids() {
    for bad in ["", "has space", "tab\tbed", "é-not-ascii"] {
        let m = rejection(|d| d["allowed_client_ids"] = json!(["ok", bad]));
        assert!(m.starts_with("`allowed_client_ids[1]`: `") && m.contains("is not a client ID"), "{bad:?}: {m}");
    }
    let m = rejection(|d| d["allowed_client_ids"] = json!(["x".repeat(257)]));
    assert!(m.starts_with("`allowed_client_ids[0]`:"), "{m}");
    assert!(parse(&{
        let mut d = sample();
        d["allowed_client_ids"] = json!(["x".repeat(256)]);
        d.to_string()
    })
    .is_ok());
}

#[test]
fn duplicates_are_refused_in_every_list() {
    let cb = "http://localhost:3118/callback";
    let m = rejection(|d| d["allowed_redirect_uris"] = json!([cb, "http://localhost:4000/cb", cb]));
    assert_eq!(m, format!("`allowed_redirect_uris[2]`: `{cb}` is listed twice (also at `allowed_redirect_uris[0]`)"));
    let m = rejection(|d| d["allowed_client_ids"] = json!(["a", "a"]));
    assert_eq!(m, "`allowed_client_ids[1]`: `a` is listed twice (also at `allowed_client_ids[0]`)");
    let m = rejection(|d| d["scope_ceiling"] = json!(["CONTACTS_READ", "CONTACTS_READ"]));
    assert_eq!(m, "`scope_ceiling[1]`: `CONTACTS_READ` is listed twice (also at `scope_ceiling[0]`)");
    let m = rejection(|d| {
        d["members"] = json!([{"email": "ada@example.com", "role": "admin"}, {"email": "ADA@Example.COM", "role": "member"}])
    });
    assert_eq!(m, "`members[1].email`: `ada@example.com` is listed twice (also at `members[0].email`)");
    // Client IDs are case-sensitive: these two are different clients.
    assert!(parse(&{
        let mut d = sample();
        d["allowed_client_ids"] = json!(["abc", "ABC"]);
        d.to_string()
    })
    .is_ok());
}

#[test]
fn unknown_fields_are_named_with_their_path() {
    let m = rejection(|d| d["extra"] = json!(1));
    assert!(m.starts_with("`extra` is not a known field (known: `schema`, `name`"), "{m}");
    let m = rejection(|d| {
        d["members"] = json!([{"email": "ada@example.com", "role": "admin"}, {"email": "bob@example.com", "role": "member", "admin": true}])
    });
    assert_eq!(m, "`members[1].admin` is not a known field (known: `email`, `name`, `role`, `sub`)");
}

#[test]
fn wrong_types_are_named_with_their_path() {
    assert_eq!(rejection(|d| d["mcp_enabled"] = json!("yes")), "`mcp_enabled` must be a boolean (true or false), not the string `yes`");
    assert_eq!(rejection(|d| d["name"] = json!(7)), "`name` must be a string, not the number 7");
    assert_eq!(
        rejection(|d| d["allowed_redirect_uris"] = json!("http://x")),
        "`allowed_redirect_uris` must be an array, not the string `http://x`"
    );
    assert_eq!(rejection(|d| d["allowed_client_ids"] = json!(null)), "`allowed_client_ids` must be an array, not null");
    assert_eq!(rejection(|d| d["scope_ceiling"] = json!(["CONTACTS_READ", 3])), "`scope_ceiling[1]` must be a string, not the number 3");
    assert_eq!(rejection(|d| d["members"][0]["role"] = json!("owner")), "`members[0].role` must be `admin` or `member`, not `owner`");
    assert_eq!(rejection(|d| d["members"][0]["role"] = json!(true)), "`members[0].role` must be a string, not the boolean true");
    assert_eq!(rejection(|d| d["members"][0]["name"] = json!(null)), "`members[0].name` must be a string, not null");
    assert_eq!(
        rejection(|d| d["members"] = json!(["ada@example.com"])),
        "`members[0]` must be an object, not the string `ada@example.com`"
    );
}

#[test]
fn missing_fields_are_named_with_their_path() {
    for field in ["name", "mcp_enabled", "allowed_redirect_uris", "scope_ceiling", "members"] {
        assert_eq!(rejection(|d| drop(d.as_object_mut().unwrap().remove(field))), format!("`{field}` is missing"));
    }
    let m = rejection(|d| drop(d["members"][0].as_object_mut().unwrap().remove("role")));
    assert_eq!(m, "`members[0].role` is missing");
    let m = rejection(|d| drop(d["members"][0].as_object_mut().unwrap().remove("email")));
    assert_eq!(m, "`members[0].email` is missing");
    assert_eq!(rejection(|d| d["name"] = json!("  ")), "`name` must not be empty");
}

#[test]
fn another_schema_version_is_reported_before_anything_else() {
    let m = rejection(|d| {
        d["schema"] = json!(2);
        d["new_field_of_schema_2"] = json!(true);
        d["mcp_enabled"] = json!("later");
    });
    assert_eq!(m, "`schema` is 2, this server reads schema 1");
    assert_eq!(rejection(|d| d["schema"] = json!("1")), "`schema` must be the number 1, not the string `1`");
    assert_eq!(rejection(|d| d["schema"] = json!(1.5)), "`schema` is 1.5, this server reads schema 1");
    let one_point_zero = sample_json().replace("\"schema\":1", "\"schema\":1.0");
    assert!(one_point_zero.contains("1.0") && parse(&one_point_zero).is_ok(), "1.0 is the number 1");
    let m = rejection(|d| drop(d.as_object_mut().unwrap().remove("schema")));
    assert_eq!(m, "`schema` is missing (this server reads schema 1)");
}

#[test]
fn not_a_json_object() {
    assert!(parse("not json").unwrap_err().message.starts_with("the document is not JSON ("));
    assert_eq!(parse("[1]").unwrap_err().message, "the document must be a JSON object, not an array");
}

#[test]
fn names_shown_on_pages_refuse_invisible_and_control_characters() {
    assert_eq!(
        rejection(|d| d["name"] = json!("Acme\u{202E}emcA")),
        "`name` contains U+202E, a control or invisible formatting character; remove it"
    );
    assert_eq!(
        rejection(|d| d["members"][0]["name"] = json!("Ada\u{200B}")),
        "`members[0].name` contains U+200B, a control or invisible formatting character; remove it"
    );
    assert_eq!(rejection(|d| d["name"] = json!("A".repeat(201))), "`name` must be at most 200 characters");
    assert_eq!(rejection(|d| d["members"][0]["name"] = json!("A".repeat(255))), "`members[0].name` must be at most 254 characters");
    // A member's name defaults to their e-mail address, which may be 254 characters: written
    // back, it must still be accepted (found by fuzzing).
    let long = format!("{}@example.com", "a".repeat(254 - 12));
    assert!(parse(&{
        let mut d = sample();
        d["members"][0]["email"] = json!(long);
        d["members"][0]["name"] = json!(long);
        d.to_string()
    })
    .is_ok());
    assert!(parse(&{
        let mut d = sample();
        d["name"] = json!("Acme <script>alert(1)</script> — Société 日本");
        d.to_string()
    })
    .is_ok());
}
