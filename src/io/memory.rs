//! In-memory fakes of the I/O traits, for tests.
