//! The value types of configuration keys and how each is read from text:
//! every value arrives as text (environment variables are text) or as a
//! TOML value, and is parsed by its type's `FromStr`, whose message names
//! the value. The key's name is added by the caller.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::{MAX_TRACKED_LIMIT, MIN_TRACKED};
use crate::catalogue::RuleId;
use crate::flowlog::{Field, Format};
use crate::intel::Location;
use crate::net::{Cidr, PortSet, TrustedNetworks};
use crate::severity::Severity;

/// A summary prefix: not empty, not starting with `/`, ending with `/`.
struct SummaryPrefix(String);

impl FromStr for SummaryPrefix {
    type Err = String;
    fn from_str(s: &str) -> Result<SummaryPrefix, String> {
        let s = s.trim();
        if s.is_empty() || s == "/" {
            return Err(
                "must not be empty: the Lambda function skips every key under the \
                        prefix as its own output, so an empty prefix would skip every object"
                    .into(),
            );
        }
        if s.starts_with('/') {
            return Err(format!("'{s}' must not start with '/'"));
        }
        let mut p = s.to_string();
        if !p.ends_with('/') {
            p.push('/');
        }
        Ok(SummaryPrefix(p))
    }
}

/// `cwl_fields`: field names, each once, in the messages' order. A
/// well-formed name flowguard does not know (a newer AWS field) is a text
/// column, as in a header; anything else is an error.
struct CwlFields(Format);

impl FromStr for CwlFields {
    type Err = String;
    fn from_str(s: &str) -> Result<CwlFields, String> {
        if s.trim().is_empty() {
            // Not set (an empty template parameter): the default format.
            return Ok(CwlFields(Format::default_v2()));
        }
        let mut names: Vec<String> = Vec::new();
        for token in s.split([',', ' ', '\t', '\n']).filter(|t| !t.is_empty()) {
            let name = token
                .trim_start_matches("${")
                .trim_end_matches('}')
                .replace('_', "-");
            let b = name.as_bytes();
            let well_formed = b.first().is_some_and(u8::is_ascii_lowercase)
                && b.len() <= 64
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
            if !well_formed {
                return Err(format!(
                    "'{token}' is not a flow-log field name (hyphenated names such as \
                     version account-id interface-id srcaddr ...)"
                ));
            }
            if names.contains(&name) {
                return Err(format!("'{name}' is listed twice"));
            }
            names.push(name);
        }
        if !names.iter().any(|n| Field::from_name(n).is_some()) {
            return Err("must list the fields of the log group's format".into());
        }
        Format::from_header(&names.join(" ")).map(CwlFields)
    }
}

pub(super) fn cwl_fields<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
    text::<D, CwlFields>(d).map(|f| f.0)
}

/// `max_tracked`: between [`MIN_TRACKED`] and [`MAX_TRACKED_LIMIT`].
struct MaxTracked(usize);

impl FromStr for MaxTracked {
    type Err = String;
    fn from_str(s: &str) -> Result<MaxTracked, String> {
        let n = parse_count(s)?;
        match usize::try_from(n) {
            Ok(n) if n < MIN_TRACKED => Err(format!("'{s}' must be at least {MIN_TRACKED}")),
            Ok(n) if n <= MAX_TRACKED_LIMIT => Ok(MaxTracked(n)),
            _ => Err(format!(
                "'{s}' is above the maximum of {MAX_TRACKED_LIMIT} (the port-scan tables \
                 are allocated at four times the bound)"
            )),
        }
    }
}

/// An S3 bucket name (3 to 63 lower-case letters, digits, `-` and `.`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketName(pub String);

impl FromStr for BucketName {
    type Err = String;
    fn from_str(s: &str) -> Result<BucketName, String> {
        let s = s.trim();
        let ok = (3..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if ok {
            Ok(BucketName(s.to_string()))
        } else {
            Err(format!("'{s}' is not a valid S3 bucket name"))
        }
    }
}

/// An SNS topic ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicArn(pub String);

impl FromStr for TopicArn {
    type Err = String;
    fn from_str(s: &str) -> Result<TopicArn, String> {
        let s = s.trim();
        if s.starts_with("arn:") && s.split(':').count() >= 6 {
            Ok(TopicArn(s.to_string()))
        } else {
            Err(format!(
                "'{s}' is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)"
            ))
        }
    }
}

/// Comma-separated list locations: `s3://bucket/key` URLs or local paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locations(pub Vec<Location>);

impl FromStr for Locations {
    type Err = String;
    fn from_str(s: &str) -> Result<Locations, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(Location::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Locations)
    }
}

/// A DynamoDB table name (3 to 255 of `A-Za-z0-9_.-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName(pub String);

impl FromStr for TableName {
    type Err = String;
    fn from_str(s: &str) -> Result<TableName, String> {
        let s = s.trim();
        let ok = (3..=255).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
        if ok {
            Ok(TableName(s.to_string()))
        } else {
            Err(format!("'{s}' is not a DynamoDB table name"))
        }
    }
}

impl FromStr for TrustedNetworks {
    type Err = String;
    fn from_str(s: &str) -> Result<TrustedNetworks, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(Cidr::parse(part).ok_or_else(|| format!("'{part}' is not a CIDR network"))?);
        }
        Ok(TrustedNetworks::new(out))
    }
}

impl FromStr for PortSet {
    type Err = String;
    fn from_str(s: &str) -> Result<PortSet, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(
                part.parse::<u16>()
                    .map_err(|_| format!("'{part}' is not a port (0-65535)"))?,
            );
        }
        Ok(PortSet::new(&out))
    }
}

pub(super) fn parse_count(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{}' is not a positive whole number", s.trim())),
    }
}

/// A positive whole number, as text or a number.
struct Count(u64);

impl FromStr for Count {
    type Err = String;
    fn from_str(s: &str) -> Result<Count, String> {
        parse_count(s).map(Count)
    }
}

/// Reads a value as text (a string, a number, a boolean, or a list joined
/// with commas) and parses it with `T::from_str`, whose message names the
/// value.
pub(super) fn text<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    let raw = d.deserialize_any(TextVisitor)?;
    raw.parse().map_err(de::Error::custom)
}

/// [`text`] where an empty value means "not set".
pub(super) fn optional_text<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = String>,
{
    let raw = d.deserialize_any(TextVisitor)?;
    if raw.trim().is_empty() {
        return Ok(None);
    }
    raw.parse().map(Some).map_err(de::Error::custom)
}

pub(super) fn summary_prefix<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    text::<D, SummaryPrefix>(d).map(|p| p.0)
}

pub(super) fn max_tracked<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    text::<D, MaxTracked>(d).map(|m| m.0)
}

pub(super) fn count<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    text::<D, Count>(d).map(|c| c.0)
}

pub(super) fn count_usize<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = count(d)?;
    usize::try_from(n).map_err(|_| de::Error::custom(format!("'{n}' is too large")))
}

/// `{rule: severity}`, each severity as text. The rule name is checked
/// while its value is read, so an error's path names the key.
pub(super) fn severities<'de, D>(d: D) -> Result<BTreeMap<RuleId, Severity>, D::Error>
where
    D: Deserializer<'de>,
{
    struct Rules;
    struct Level(Option<RuleId>, String);

    impl<'de> de::DeserializeSeed<'de> for Level {
        type Value = (RuleId, Severity);
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(RuleId, Severity), D::Error> {
            let text = d.deserialize_any(TextVisitor)?;
            let rule = self.0.ok_or_else(|| {
                let known: Vec<&str> = RuleId::ALL.iter().map(|r| r.as_str()).collect();
                de::Error::custom(format!(
                    "no rule named '{}' (rules: {})",
                    self.1,
                    known.join(", ")
                ))
            })?;
            Ok((rule, text.parse().map_err(de::Error::custom)?))
        }
    }

    impl<'de> Visitor<'de> for Rules {
        type Value = BTreeMap<RuleId, Severity>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of rule = severity")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(name) = map.next_key::<String>()? {
                let rule = RuleId::from_name(&name);
                let (rule, level) = map.next_value_seed(Level(rule, name))?;
                out.insert(rule, level);
            }
            Ok(out)
        }
    }

    d.deserialize_map(Rules)
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a value as text, a number or a list")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Item>()? {
            items.push(item.0);
        }
        Ok(items.join(","))
    }
}

/// One list item as text.
struct Item(String);

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Item, D::Error> {
        d.deserialize_any(TextVisitor).map(Item)
    }
}

/// The field names a serde struct accepts, as its derived `Deserialize`
/// declares them: the keys of one group of the configuration.
pub(super) fn field_names<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("only a struct is probed"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("probed"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}
