//! Workspace policies: the KV document (`model`) and the decisions made from it (`evaluate`).
pub mod evaluate;
pub mod model;
