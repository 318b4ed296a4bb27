//! The hostile-input cases (`tests/hostile/cases.rs`) on a strict endpoint.

/// Whether the cases' endpoint is strict (`Endpoint::strict`).
const STRICT: bool = true;

#[path = "hostile/cases.rs"]
mod cases;
