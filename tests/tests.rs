//! flowguard's integration tests, compiled into one binary (ripgrep style)
//! so the suite links once.

mod engine;
