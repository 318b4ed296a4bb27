//! The hostile-input cases (`tests/hostile/cases.rs`) on a lenient endpoint.

/// Whether the cases' endpoint is strict (`Endpoint::strict`).
const STRICT: bool = false;

#[path = "hostile/cases.rs"]
mod cases;
