//! The test runner of the model-based property tests.
//!
//! Use: `#[path = "support/runner.rs"] mod runner;` then `runner::new(config)`.

use proptest::test_runner::{Config, TestRng, TestRunner};

/// The default run (CI) uses a fixed seed, so that it and its coverage check are the same
/// every time; a run with `PROPTEST_CASES` set explores with a fresh seed.
pub fn new(config: Config) -> TestRunner {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        TestRunner::new(config)
    } else {
        let rng = TestRng::deterministic_rng(config.rng_algorithm);
        TestRunner::new_with_rng(config, rng)
    }
}
