//! S3 object source and summary sink.
