//! The benchmarks' large OpenAPI document: the bundled sample's paths repeated under `/v{n}`
//! prefixes until it has at least `target` operations (bench/upstream.mjs serves the same).
use serde_json::Value;

const SAMPLE: &str = include_str!("../../../config/openapi.json");

pub fn document(target: usize) -> String {
    let mut doc: Value = serde_json::from_str(SAMPLE).expect("the bundled sample is valid JSON");
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let per_copy: usize = paths.values().map(|p| p.as_object().map_or(0, |o| o.keys().filter(|k| *k != "parameters").count())).sum();
    let mut out = serde_json::Map::new();
    for copy in 0..target.div_ceil(per_copy) {
        for (path, item) in &paths {
            out.insert(format!("/v{copy}{path}"), item.clone());
        }
    }
    doc["paths"] = Value::Object(out);
    doc.to_string()
}
