//! A `tools/call` of an OpenAPI tool becoming the upstream request (`call::build`: argument
//! checks, path parameters, query serialization), for the tools of the sample document
//! (config/openapi.json) behind a base URL with a path. Input: the tool's name on the first
//! line, its `arguments` (JSON) after it.
//!
//! Properties: nothing panics; a built request uses the tool's method, stays on the base URL's
//! origin and under its path, has no fragment, and fills each `{param}` of the path template
//! with exactly one segment that decodes to the argument given; a body is the JSON given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mcp_edge::core::openapi::call;
use mcp_edge::core::openapi::catalog::ApiCatalog;
use mcp_edge_fuzz::{catalog, text};
use percent_encoding::percent_decode_str;
use serde_json::Value;
use url::Url;

const BASE: &str = "https://api.example.com/v1/";

thread_local! {
    static TOOLS: ApiCatalog = ApiCatalog::from_document(include_str!("../../config/openapi.json"), Some(BASE), catalog());
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = text(data) else { return };
    let (name, arguments) = input.split_once('\n').unwrap_or((input, ""));
    let Ok(args) = serde_json::from_str::<Value>(arguments) else { return };
    TOOLS.with(|tools| {
        let Some(tool) = tools.tool(name) else { return };
        let Ok(request) = call::build(tool, BASE, &args) else { return };
        assert_eq!(request.method, tool.method);
        let url = Url::parse(&request.url).expect("the upstream URL parses");
        let base = Url::parse(BASE).expect("the base URL parses");
        assert_eq!(url.origin(), base.origin(), "{} left the API's origin", request.url);
        assert!(url.fragment().is_none(), "{}", request.url);
        let rest = url.path().strip_prefix("/v1").unwrap_or_else(|| panic!("{} left the base path", request.url));
        let got: Vec<&str> = rest.split('/').collect();
        let template: Vec<&str> = tool.path.split('/').collect();
        assert_eq!(got.len(), template.len(), "{} does not have the segments of {}", request.url, tool.path);
        for (segment, pattern) in got.iter().zip(&template) {
            match pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(param) => {
                    let given = match &args["pathParams"][param] {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    let decoded = percent_decode_str(segment).decode_utf8().expect("a segment decodes to UTF-8");
                    assert_eq!(decoded, given, "{param} in {}", request.url);
                }
                None => assert_eq!(segment, pattern, "{}", request.url),
            }
        }
        // Compared as serialized: parsing JSON numbers is not exact (serde_json without
        // `float_roundtrip`), so a body parsed back may differ from the one given by an ulp.
        if let Some(body) = &request.body {
            assert_eq!(
                args.get("body").map(|b| serde_json::to_vec(b).expect("serialises")).as_ref(),
                Some(body),
                "the body is not what was given"
            );
        }
    });
});
