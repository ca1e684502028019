//! Threat and suppression lists read by the Lambda function (SPEC section
//! 8): every list is read at start, and a list that cannot be read or
//! parsed fails the start; afterwards each list's ETag is checked at most
//! once per `intel_refresh_seconds` with a conditional GET
//! (`If-None-Match`), so a list is read again only when it changed. A
//! list that cannot be read or parsed then keeps its previous version,
//! and the failure is reported for the log: the function never runs with
//! half a list.
//!
//! [`ListSet`] is generic over a small [`ListSource`] trait: [`S3Lists`]
//! (feature `aws`) reads S3, and tests use an in-memory one.

use std::future::Future;

use crate::config::Config;
use crate::intel::{
    parse_suppress_list, parse_threat_list, Intel, IntelError, Location, SuppressList, ThreatList,
};

/// The largest list object read, in bytes: 250,000 entries with long
/// labels fit many times over.
pub const MAX_LIST_BYTES: u64 = 64 << 20;

/// What a conditional read found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// The object still has the ETag given.
    Unchanged,
    /// The object's bytes and ETag (as the store returns it).
    Body {
        /// The object.
        bytes: Vec<u8>,
        /// Its ETag.
        etag: Option<String>,
    },
}

/// Where lists are read from.
pub trait ListSource: Send + Sync + 'static {
    /// Reads `bucket/key` unless its ETag is still `etag`. The error
    /// message says what failed (it is reported with the list's name).
    fn fetch(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
    ) -> impl Future<Output = Result<Fetched, String>> + Send;
}

/// One list and the ETag it was read at.
#[derive(Debug, Clone)]
struct Kept<T> {
    location: Location,
    etag: Option<String>,
    list: T,
}

/// What a [`ListSet::refresh`] did.
#[derive(Debug, Default)]
pub struct Refresh {
    /// The new lists, when one changed.
    pub intel: Option<Intel>,
    /// Lists read again (their ETag changed), with their entries.
    pub reread: Vec<(String, usize)>,
    /// Lists whose ETag had not changed.
    pub unchanged: usize,
    /// Lists that could not be read or parsed: their previous version is
    /// kept.
    pub failed: Vec<IntelError>,
}

/// The threat and suppression lists of a function, with their ETags and
/// the time of the next check.
pub struct ListSet<L> {
    source: L,
    threats: Vec<Kept<ThreatList>>,
    suppressions: Vec<Kept<SuppressList>>,
    interval: u64,
    next_check: u64,
}

/// The bucket and key of an S3 location; a local path is an error (the
/// function reads its lists from S3).
fn s3_parts(location: &Location) -> Result<(&str, &str), IntelError> {
    match location {
        Location::S3 { bucket, key } => Ok((bucket, key)),
        Location::Path(p) => Err(IntelError::list(
            p,
            "not an s3://bucket/key URL (the Lambda function reads its lists from S3)",
        )),
    }
}

impl<L: ListSource> ListSet<L> {
    /// Reads every list of `config` (`threat_lists`, `suppress_lists`) at
    /// `now` (seconds of any monotonic clock). Any list that cannot be
    /// read or parsed is an error naming it (and the line): the function
    /// must not start.
    pub async fn load(source: L, config: &Config, now: u64) -> Result<ListSet<L>, IntelError> {
        let mut set = ListSet {
            source,
            threats: Vec::new(),
            suppressions: Vec::new(),
            interval: config.lists.intel_refresh_seconds,
            next_check: now.saturating_add(config.lists.intel_refresh_seconds),
        };
        set.threats =
            load_all(&set.source, &config.lists.threat_lists.0, parse_threat_list).await?;
        set.suppressions = load_all(
            &set.source,
            &config.lists.suppress_lists.0,
            parse_suppress_list,
        )
        .await?;
        Ok(set)
    }

    /// The lookup structures of the lists held.
    pub fn intel(&self) -> Intel {
        Intel::new(
            self.threats.iter().map(|k| &k.list),
            self.suppressions.iter().map(|k| &k.list),
        )
    }

    /// Entries per list, `(location, entries)`, threat lists first.
    pub fn sizes(&self) -> Vec<(String, usize)> {
        let t = self
            .threats
            .iter()
            .map(|k| (k.location.to_string(), k.list.entry_count()));
        let s = self
            .suppressions
            .iter()
            .map(|k| (k.location.to_string(), k.list.entry_count()));
        t.chain(s).collect()
    }

    /// When `intel_refresh_seconds` passed since the last check (`now` on
    /// the clock of [`ListSet::load`]), checks every list's ETag and reads
    /// again those that changed. Nothing happens before then.
    pub async fn refresh(&mut self, now: u64) -> Refresh {
        let mut out = Refresh::default();
        if now < self.next_check {
            return out;
        }
        self.next_check = now.saturating_add(self.interval);
        let ListSet {
            source,
            threats,
            suppressions,
            ..
        } = self;
        let threats_changed = refresh_all(source, threats, parse_threat_list, &mut out).await;
        let suppressions_changed =
            refresh_all(source, suppressions, parse_suppress_list, &mut out).await;
        if threats_changed || suppressions_changed {
            out.intel = Some(self.intel());
        }
        out
    }
}

/// How a kind of list is parsed: `(list, name, bytes)`, as
/// [`parse_threat_list`] and [`parse_suppress_list`].
type Parse<T> = fn(&str, &str, &[u8]) -> Result<T, IntelError>;

/// A parsed list's number of entries.
trait EntryCount {
    fn entry_count(&self) -> usize;
}

impl EntryCount for ThreatList {
    fn entry_count(&self) -> usize {
        self.entries.len()
    }
}

impl EntryCount for SuppressList {
    fn entry_count(&self) -> usize {
        self.entries.len()
    }
}

/// Reads and parses every list of `locations`; the first that cannot be
/// read or parsed is the error.
async fn load_all<L: ListSource, T>(
    source: &L,
    locations: &[Location],
    parse: Parse<T>,
) -> Result<Vec<Kept<T>>, IntelError> {
    let mut kept = Vec::with_capacity(locations.len());
    for location in locations {
        let (bucket, key) = s3_parts(location)?;
        let (bytes, etag) = match source.fetch(bucket, key, None).await {
            Ok(Fetched::Body { bytes, etag }) => (bytes, etag),
            Ok(Fetched::Unchanged) => {
                return Err(IntelError::list(
                    &location.to_string(),
                    "the store answered 'not modified' to an unconditional read",
                ))
            }
            Err(m) => return Err(IntelError::list(&location.to_string(), m)),
        };
        let list = parse(&location.to_string(), location.name(), &bytes)?;
        kept.push(Kept {
            location: location.clone(),
            etag,
            list,
        });
    }
    Ok(kept)
}

/// Checks the ETag of every list of `kept` and reads again and parses
/// those that changed, noting each in `out`; a list that cannot be read or
/// parsed keeps its previous version. Whether any list changed.
async fn refresh_all<L: ListSource, T: EntryCount>(
    source: &L,
    kept: &mut [Kept<T>],
    parse: Parse<T>,
    out: &mut Refresh,
) -> bool {
    let mut changed = false;
    for k in kept {
        let name = k.location.to_string();
        let fetched = match s3_parts(&k.location) {
            Ok((bucket, key)) => source
                .fetch(bucket, key, k.etag.as_deref())
                .await
                .map_err(|m| IntelError::list(&name, m)),
            Err(e) => Err(e),
        };
        match fetched {
            Ok(Fetched::Unchanged) => out.unchanged += 1,
            Ok(Fetched::Body { bytes, etag }) => match parse(&name, k.location.name(), &bytes) {
                Ok(list) => {
                    out.reread.push((name, list.entry_count()));
                    k.list = list;
                    k.etag = etag;
                    changed = true;
                }
                Err(e) => out.failed.push(e),
            },
            Err(e) => out.failed.push(e),
        }
    }
    changed
}

/// [`ListSource`] over Amazon S3: a conditional GetObject
/// (`If-None-Match`), answered 304 when the ETag did not change.
#[cfg(feature = "aws")]
#[derive(Debug, Clone)]
pub struct S3Lists {
    client: aws_sdk_s3::Client,
}

#[cfg(feature = "aws")]
impl S3Lists {
    /// Wraps a client (path-style with a custom endpoint, like
    /// [`super::s3::S3Store`]).
    pub fn new(client: aws_sdk_s3::Client) -> S3Lists {
        S3Lists { client }
    }
}

#[cfg(feature = "aws")]
impl ListSource for S3Lists {
    async fn fetch(&self, bucket: &str, key: &str, etag: Option<&str>) -> Result<Fetched, String> {
        use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};

        let sent = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_if_none_match(etag.map(str::to_string))
            .send()
            .await;
        let out = match sent {
            Ok(out) => out,
            Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(304) => {
                return Ok(Fetched::Unchanged)
            }
            Err(e) => {
                return Err(match e.code() {
                    Some(code) => {
                        format!("cannot read the list: {code}: {}", DisplayErrorContext(&e))
                    }
                    None => format!("cannot read the list: {}", DisplayErrorContext(&e)),
                })
            }
        };
        let length = out.content_length().and_then(|l| u64::try_from(l).ok());
        if length.is_some_and(|l| l > MAX_LIST_BYTES) {
            return Err(format!(
                "the list is {} bytes, more than the {MAX_LIST_BYTES} a list may have",
                length.unwrap_or_default()
            ));
        }
        let etag = out.e_tag().map(str::to_string);
        // Chunks are appended as they come: one copy of the list in memory,
        // not the chunks and their concatenation.
        let mut bytes = Vec::with_capacity(length.unwrap_or(0) as usize);
        let mut body = out.body;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| format!("reading the list failed: {e}"))?
        {
            if bytes.len() as u64 + chunk.len() as u64 > MAX_LIST_BYTES {
                return Err(format!(
                    "the list is more than the {MAX_LIST_BYTES} bytes a list may have"
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body { bytes, etag })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    /// Key -> (body, ETag).
    type Objects = BTreeMap<String, (Vec<u8>, String)>;

    /// Objects with ETags; counts full reads.
    #[derive(Default, Clone)]
    struct Fake {
        objects: Arc<Mutex<Objects>>,
        reads: Arc<AtomicUsize>,
        fail: Arc<Mutex<Option<String>>>,
    }

    impl Fake {
        fn put(&self, key: &str, body: &str) {
            let etag = format!("\"{:016x}\"", crate::hash::fnv1a64(body.as_bytes()));
            self.objects
                .lock()
                .unwrap()
                .insert(key.into(), (body.as_bytes().to_vec(), etag));
        }
    }

    impl ListSource for Fake {
        async fn fetch(&self, _b: &str, key: &str, etag: Option<&str>) -> Result<Fetched, String> {
            if let Some(m) = self.fail.lock().unwrap().clone() {
                return Err(m);
            }
            let objects = self.objects.lock().unwrap();
            let (body, tag) = objects.get(key).ok_or("NoSuchKey")?;
            if etag == Some(tag.as_str()) {
                return Ok(Fetched::Unchanged);
            }
            self.reads.fetch_add(1, Ordering::Relaxed);
            Ok(Fetched::Body {
                bytes: body.clone(),
                etag: Some(tag.clone()),
            })
        }
    }

    fn config() -> Config {
        Config::from_pairs([
            ("threat_lists", "s3://feeds/intel.csv"),
            ("suppress_lists", "s3://feeds/exceptions.csv"),
            ("intel_refresh_seconds", "300"),
        ])
        .unwrap()
    }

    fn listed(intel: &Intel, ip: &str) -> bool {
        intel.threats.lookup(ip.parse().unwrap()).is_some()
    }

    #[test]
    fn lists_are_read_again_only_when_their_etag_changed() {
        let fake = Fake::default();
        fake.put("intel.csv", "ip,label\n198.51.100.250,c2\n");
        fake.put("exceptions.csv", "rule,cidr,reason\n*,10.0.0.5,bastion\n");
        let mut set =
            crate::correlate::block_on(ListSet::load(fake.clone(), &config(), 1000)).unwrap();
        assert_eq!(fake.reads.load(Ordering::Relaxed), 2);
        let intel = set.intel();
        assert!(listed(&intel, "198.51.100.250"));
        assert_eq!(intel.suppressions.len(), 1);
        assert_eq!(
            set.sizes(),
            [
                ("s3://feeds/intel.csv".to_string(), 1),
                ("s3://feeds/exceptions.csv".to_string(), 1)
            ]
        );

        // Before the interval: nothing is asked.
        fake.put("intel.csv", "ip,label\n203.0.113.9,scanner\n");
        let r = crate::correlate::block_on(set.refresh(1299));
        assert!(r.intel.is_none() && r.unchanged == 0 && r.reread.is_empty());
        // After it: the changed list is read, the other only checked.
        let r = crate::correlate::block_on(set.refresh(1300));
        assert_eq!(r.reread, [("s3://feeds/intel.csv".to_string(), 1)]);
        assert_eq!(r.unchanged, 1);
        let intel = r.intel.unwrap();
        assert!(listed(&intel, "203.0.113.9") && !listed(&intel, "198.51.100.250"));
        assert_eq!(fake.reads.load(Ordering::Relaxed), 3);
        // Nothing changed: checked, nothing read, nothing rebuilt.
        let r = crate::correlate::block_on(set.refresh(1600));
        assert!(r.intel.is_none() && r.unchanged == 2);
        assert_eq!(fake.reads.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn a_list_that_fails_on_re_read_keeps_its_previous_version() {
        let fake = Fake::default();
        fake.put("intel.csv", "198.51.100.250\n");
        fake.put("exceptions.csv", "rule,cidr,reason\n");
        let mut set =
            crate::correlate::block_on(ListSet::load(fake.clone(), &config(), 0)).unwrap();
        fake.put("intel.csv", "198.51.100.250\nnot-an-address\n");
        let r = crate::correlate::block_on(set.refresh(300));
        assert!(r.intel.is_none());
        assert_eq!(r.failed.len(), 1);
        assert_eq!(
            r.failed[0].to_string(),
            "s3://feeds/intel.csv: line 2: 'not-an-address' is not an IPv4 or IPv6 address or CIDR"
        );
        assert!(listed(&set.intel(), "198.51.100.250"));
        // Unreadable: kept as well; fixed later: read.
        *fake.fail.lock().unwrap() = Some("AccessDenied".into());
        let r = crate::correlate::block_on(set.refresh(600));
        assert_eq!(r.failed.len(), 2);
        assert!(r.failed[0].to_string().contains("AccessDenied"));
        *fake.fail.lock().unwrap() = None;
        fake.put("intel.csv", "203.0.113.0/24\n");
        let r = crate::correlate::block_on(set.refresh(900));
        assert!(listed(&r.intel.unwrap(), "203.0.113.77"));
    }

    #[test]
    fn a_list_that_cannot_be_read_or_parsed_fails_the_load() {
        let fake = Fake::default();
        fake.put("exceptions.csv", "rule,cidr,reason\n");
        let load =
            |f: &Fake, c: &Config| crate::correlate::block_on(ListSet::load(f.clone(), c, 0));
        let e = load(&fake, &config()).err().unwrap();
        assert_eq!(e.to_string(), "s3://feeds/intel.csv: NoSuchKey");
        fake.put("intel.csv", "ip\n198.51.100.1\n198.51.100.300\n");
        let e = load(&fake, &config()).err().unwrap();
        assert_eq!((e.list.as_str(), e.line), ("s3://feeds/intel.csv", Some(3)));
        let local = Config::from_pairs([("threat_lists", "lists/intel.csv")]).unwrap();
        let e = load(&fake, &local).err().unwrap();
        assert!(e.to_string().contains("not an s3://bucket/key URL"), "{e}");
    }
}
