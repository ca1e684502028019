//! SNS publisher.
