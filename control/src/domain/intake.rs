//! S3 event intake: sources put straight into the bucket under an intake prefix become
//! videos. This module reads the S3 event notifications (as SQS delivers them: the event
//! JSON, or an SNS envelope around it), names each object version, orders versions of one key
//! by S3's `sequencer`, and reads the owner and title from the object's metadata. Pure: the
//! queue, the bucket and the database are the service's (`services::intake`).
//!
//! Delivery is at least once and out of order. An object version is named by its sequencer
//! (S3 gives one to every put) or, where a stand-in sends none, by its ETag; a version already
//! taken is a duplicate, and a version older than one taken (a smaller sequencer on the same
//! key) is stale. Both are acknowledged and dropped.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Deserialize;

use super::videos::Visibility;

/// Longest sequencer accepted (S3's are 16 to 20 hex digits today).
const SEQUENCER_WIDTH: usize = 64;

/// S3's `sequencer`: a hexadecimal string that orders the events of one key. S3's rule for
/// comparing two: right-pad the shorter with zeros, then compare as strings. Kept padded
/// (and upper-cased), so the stored strings compare the same way in any database.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sequencer(String);

impl Sequencer {
    /// Reads a sequencer; `None` if it is empty, too long or not hexadecimal.
    pub fn parse(s: &str) -> Option<Sequencer> {
        if s.is_empty() || s.len() > SEQUENCER_WIDTH || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut padded = s.to_ascii_uppercase();
        padded.extend(std::iter::repeat_n('0', SEQUENCER_WIDTH - s.len()));
        Some(Sequencer(padded))
    }

    /// The padded form, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One object put into the bucket (an `ObjectCreated:*` record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    /// The bucket.
    pub bucket: String,
    /// The object's key, decoded (S3 sends it form-URL-encoded).
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ETag, without quotes.
    pub etag: String,
    /// Its version id, when the bucket keeps versions.
    pub version_id: Option<String>,
    /// Orders this put among the events of the same key; `None` where a stand-in sends none.
    pub sequencer: Option<Sequencer>,
}

impl ObjectCreated {
    /// The name of this object version: its sequencer, or its ETag (and version id) where
    /// there is no sequencer. Two deliveries of one put have the same name.
    pub fn version(&self) -> String {
        match (&self.sequencer, &self.version_id) {
            (Some(s), _) => format!("seq:{}", s.as_str()),
            (None, Some(v)) => format!("etag:{}:{v}", self.etag),
            (None, None) => format!("etag:{}", self.etag),
        }
    }
}

/// What one notification message holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// S3's `s3:TestEvent`, sent once when the notification is configured.
    Test,
    /// Records: the objects created, and how many other records (other event kinds) were
    /// skipped.
    Records {
        /// `ObjectCreated:*` records.
        created: Vec<ObjectCreated>,
        /// Records of other kinds (a removal, a restore), which intake does not act on.
        ignored: usize,
    },
}

/// Why a message is not an S3 notification.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MalformedMessage {
    /// Not JSON, or not shaped like an S3 event.
    #[error("not an S3 event notification: {0}")]
    Shape(String),
    /// A created object's record is missing a field or has a bad one.
    #[error("bad ObjectCreated record: {0}")]
    Record(String),
}

#[derive(Deserialize)]
struct SnsEnvelope {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Message")]
    message: String,
}

#[derive(Deserialize)]
struct EventBody {
    #[serde(rename = "Event")]
    event: Option<String>,
    #[serde(rename = "Records")]
    records: Option<Vec<Record>>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventSource", default)]
    source: String,
    #[serde(rename = "eventName", default)]
    name: String,
    s3: Option<S3Entity>,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: BucketEntity,
    object: ObjectEntity,
}

#[derive(Deserialize)]
struct BucketEntity {
    name: String,
}

#[derive(Deserialize)]
struct ObjectEntity {
    key: String,
    size: Option<serde_json::Value>,
    #[serde(rename = "eTag")]
    etag: Option<String>,
    #[serde(rename = "versionId")]
    version_id: Option<String>,
    sequencer: Option<String>,
}

/// Reads one SQS message body: an S3 event notification, or an SNS notification carrying one.
pub fn parse(body: &str) -> Result<Notification, MalformedMessage> {
    let shape = |e: serde_json::Error| MalformedMessage::Shape(e.to_string());
    let value: serde_json::Value = serde_json::from_str(body).map_err(shape)?;
    if value.get("Type").is_some() && value.get("Message").is_some() {
        let envelope: SnsEnvelope = serde_json::from_value(value).map_err(shape)?;
        if envelope.kind != "Notification" {
            return Err(MalformedMessage::Shape(format!(
                "an SNS {} message",
                envelope.kind
            )));
        }
        return parse_event(serde_json::from_str(&envelope.message).map_err(shape)?);
    }
    parse_event(value)
}

fn parse_event(value: serde_json::Value) -> Result<Notification, MalformedMessage> {
    let body: EventBody =
        serde_json::from_value(value).map_err(|e| MalformedMessage::Shape(e.to_string()))?;
    if body.event.as_deref() == Some("s3:TestEvent") {
        return Ok(Notification::Test);
    }
    let records = body
        .records
        .ok_or_else(|| MalformedMessage::Shape("no Records".into()))?;
    let mut created = Vec::new();
    let mut ignored = 0;
    for r in records {
        if r.source != "aws:s3" || !r.name.starts_with("ObjectCreated:") {
            ignored += 1;
            continue;
        }
        let s3 =
            r.s3.ok_or_else(|| MalformedMessage::Record("no s3 entity".into()))?;
        created.push(object_created(s3)?);
    }
    Ok(Notification::Records { created, ignored })
}

fn object_created(s3: S3Entity) -> Result<ObjectCreated, MalformedMessage> {
    let bad = |what: &str| MalformedMessage::Record(what.to_string());
    let key = form_decode(&s3.object.key).ok_or_else(|| bad("the key is not URL-encoded UTF-8"))?;
    if key.is_empty() {
        return Err(bad("an empty key"));
    }
    // S3 sends `size` as a number; some stand-ins send a string.
    let size = match &s3.object.size {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| bad("no size"))?;
    let etag = s3
        .object
        .etag
        .map(|e| e.trim_matches('"').to_string())
        .filter(|e| !e.is_empty())
        .ok_or_else(|| bad("no eTag"))?;
    let sequencer = match s3.object.sequencer.as_deref() {
        None => None,
        Some(s) => Some(Sequencer::parse(s).ok_or_else(|| bad("a sequencer that is not hex"))?),
    };
    Ok(ObjectCreated {
        bucket: s3.bucket.name,
        key,
        size,
        etag,
        version_id: s3
            .object
            .version_id
            .filter(|v| !v.is_empty() && v != "null"),
        sequencer,
    })
}

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space), as S3 encodes keys.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// What is already known of a key: the versions taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenVersion {
    /// [`ObjectCreated::version`].
    pub version: String,
    /// Its sequencer, when it had one.
    pub sequencer: Option<Sequencer>,
}

/// What to do with an object version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not seen: take it.
    New,
    /// This version was taken already (a second delivery).
    Duplicate,
    /// A later version of the key was taken already (delivered out of order).
    Stale,
}

/// Judges `object` against the versions of its key already taken.
pub fn judge(object: &ObjectCreated, seen: &[SeenVersion]) -> Verdict {
    let version = object.version();
    if seen.iter().any(|s| s.version == version) {
        return Verdict::Duplicate;
    }
    if let Some(mine) = &object.sequencer {
        let later_taken = seen
            .iter()
            .filter_map(|s| s.sequencer.as_ref())
            .any(|theirs| theirs.cmp(mine) == Ordering::Greater);
        if later_taken {
            return Verdict::Stale;
        }
    }
    Verdict::New
}

/// The metadata names S3 intake reads (`x-amz-meta-…` on the object).
pub mod meta {
    /// The owner: an account's id (`u_…`) or its email address. Required.
    pub const OWNER: &str = "owner";
    /// The video's title, percent-encoded UTF-8 (S3 metadata is ASCII). Required.
    pub const TITLE: &str = "title";
    /// The description, percent-encoded UTF-8.
    pub const DESCRIPTION: &str = "description";
    /// `public`, `unlisted` or `private` (the default: nothing is shown before its owner
    /// says so).
    pub const VISIBILITY: &str = "visibility";
    /// The spoken language (a BCP 47 tag), a hint for the captions backend.
    pub const LANGUAGE: &str = "language";
}

/// Who owns an intake object, as its metadata names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerRef {
    /// An account id.
    Id(String),
    /// An email address (normalized when looked up).
    Email(String),
}

/// What an intake object's metadata says the video is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeMeta {
    /// The owner.
    pub owner: OwnerRef,
    /// The title (checked by the video rules when the video is made).
    pub title: String,
    /// The description.
    pub description: String,
    /// The visibility.
    pub visibility: Visibility,
    /// The spoken language, when named.
    pub language: Option<String>,
}

/// Why an object's metadata cannot make a video.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MetaRefused {
    /// A required name is missing.
    #[error("the object has no x-amz-meta-{0}")]
    Missing(&'static str),
    /// A value cannot be read.
    #[error("x-amz-meta-{0} is not valid: {1}")]
    Invalid(&'static str, String),
}

/// Reads the object metadata (names lower-cased, without `x-amz-meta-`).
pub fn read_meta(metadata: &BTreeMap<String, String>) -> Result<IntakeMeta, MetaRefused> {
    let text = |name: &'static str| -> Result<Option<String>, MetaRefused> {
        metadata
            .get(name)
            .map(|v| {
                percent_decode(v)
                    .ok_or_else(|| MetaRefused::Invalid(name, "not percent-encoded UTF-8".into()))
            })
            .transpose()
    };
    let owner = text(meta::OWNER)?
        .map(|o| o.trim().to_string())
        .filter(|o| !o.is_empty())
        .ok_or(MetaRefused::Missing(meta::OWNER))?;
    let owner = if owner.contains('@') {
        OwnerRef::Email(owner)
    } else if owner.starts_with("u_") {
        OwnerRef::Id(owner)
    } else {
        return Err(MetaRefused::Invalid(
            meta::OWNER,
            "name an account id (u_…) or an email address".into(),
        ));
    };
    let title = text(meta::TITLE)?
        .filter(|t| !t.trim().is_empty())
        .ok_or(MetaRefused::Missing(meta::TITLE))?;
    let visibility = match text(meta::VISIBILITY)?.as_deref().map(str::trim) {
        None | Some("") | Some("private") => Visibility::Private,
        Some("public") => Visibility::Public,
        Some("unlisted") => Visibility::Unlisted,
        Some(other) => {
            return Err(MetaRefused::Invalid(
                meta::VISIBILITY,
                format!("{other:?} (public, unlisted or private)"),
            ))
        }
    };
    let language = text(meta::LANGUAGE)?
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty());
    if let Some(l) = &language {
        let ok = l.len() <= 35 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(MetaRefused::Invalid(
                meta::LANGUAGE,
                "not a language tag".into(),
            ));
        }
    }
    Ok(IntakeMeta {
        owner,
        title,
        description: text(meta::DESCRIPTION)?.unwrap_or_default(),
        visibility,
        language,
    })
}

/// Decodes `%XX` escapes (a `+` stays a `+`).
fn percent_decode(s: &str) -> Option<String> {
    form_decode(&s.replace('+', "%2B"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, key: &str, seq: Option<&str>) -> serde_json::Value {
        let mut object = serde_json::json!({ "key": key, "size": 1024, "eTag": "\"abc\"" });
        if let Some(s) = seq {
            object["sequencer"] = s.into();
        }
        serde_json::json!({
            "eventVersion": "2.1", "eventSource": "aws:s3", "eventName": name,
            "s3": { "s3SchemaVersion": "1.0", "bucket": { "name": "media" }, "object": object }
        })
    }

    fn created(key: &str, seq: Option<&str>) -> ObjectCreated {
        let body = serde_json::json!({ "Records": [record("ObjectCreated:Put", key, seq)] });
        match parse(&body.to_string()).unwrap() {
            Notification::Records { created, .. } => created[0].clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_created_records_and_skips_the_rest() {
        let body = serde_json::json!({ "Records": [
            record("ObjectCreated:CompleteMultipartUpload", "intake/My+Film%C3%A9.mp4", Some("0055AED6DCD90281E5")),
            record("ObjectRemoved:Delete", "intake/old.mp4", Some("0055AED6DCD90281E6")),
        ]});
        let Notification::Records { created, ignored } = parse(&body.to_string()).unwrap() else {
            panic!()
        };
        assert_eq!(ignored, 1);
        assert_eq!(created.len(), 1);
        assert_eq!(created[0].key, "intake/My Filmé.mp4");
        assert_eq!(created[0].bucket, "media");
        assert_eq!(created[0].size, 1024);
        assert_eq!(created[0].etag, "abc");
    }

    #[test]
    fn reads_test_events_and_sns_envelopes() {
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"media"}"#;
        assert_eq!(parse(test).unwrap(), Notification::Test);
        let inner =
            serde_json::json!({ "Records": [record("ObjectCreated:Put", "intake/a.mp4", None)] });
        let sns = serde_json::json!({ "Type": "Notification", "Message": inner.to_string() });
        assert!(matches!(
            parse(&sns.to_string()).unwrap(),
            Notification::Records { created, .. } if created[0].key == "intake/a.mp4"
        ));
    }

    #[test]
    fn refuses_what_is_not_an_event() {
        assert!(parse("not json").is_err());
        assert!(parse("{}").is_err());
        assert!(parse(r#"{"Type":"SubscriptionConfirmation","Message":"x"}"#).is_err());
        let bad_key = serde_json::json!({ "Records": [record("ObjectCreated:Put", "%ZZ", None)] });
        assert!(matches!(
            parse(&bad_key.to_string()),
            Err(MalformedMessage::Record(_))
        ));
        let bad_seq =
            serde_json::json!({ "Records": [record("ObjectCreated:Put", "a", Some("xyz"))] });
        assert!(parse(&bad_seq.to_string()).is_err());
    }

    #[test]
    fn sequencers_compare_by_s3s_rule() {
        // Right-padded with zeros: "0A" is "0A00", greater than "09FF".
        let a = Sequencer::parse("0A").unwrap();
        let b = Sequencer::parse("09ff").unwrap();
        assert!(a > b);
        assert_eq!(
            Sequencer::parse("0a").unwrap(),
            Sequencer::parse("0A00").unwrap()
        );
        assert!(Sequencer::parse("").is_none());
        assert!(Sequencer::parse(&"F".repeat(65)).is_none());
    }

    #[test]
    fn judges_duplicates_and_stale_versions() {
        let first = created("intake/a.mp4", Some("0055AED6DCD90281E5"));
        let seen = vec![SeenVersion {
            version: first.version(),
            sequencer: first.sequencer.clone(),
        }];
        assert_eq!(judge(&first, &[]), Verdict::New);
        assert_eq!(judge(&first, &seen), Verdict::Duplicate);
        let older = created("intake/a.mp4", Some("0055AED6DCD90281E4"));
        assert_eq!(judge(&older, &seen), Verdict::Stale);
        let newer = created("intake/a.mp4", Some("0055AED6DCD90281E6"));
        assert_eq!(judge(&newer, &seen), Verdict::New);
        // Without a sequencer, the ETag names the version.
        let plain = created("intake/b.mp4", None);
        let seen_plain = vec![SeenVersion {
            version: plain.version(),
            sequencer: None,
        }];
        assert_eq!(judge(&plain, &seen_plain), Verdict::Duplicate);
    }

    #[test]
    fn reads_owner_and_title_from_metadata() {
        let m = BTreeMap::from([
            ("owner".to_string(), "ada@example.com".to_string()),
            ("title".to_string(), "Caf%C3%A9 1+1".to_string()),
            ("visibility".to_string(), "unlisted".to_string()),
        ]);
        let meta = read_meta(&m).unwrap();
        assert_eq!(meta.owner, OwnerRef::Email("ada@example.com".into()));
        assert_eq!(meta.title, "Café 1+1");
        assert_eq!(meta.visibility, Visibility::Unlisted);
        let mut no_owner = m.clone();
        no_owner.remove("owner");
        assert_eq!(read_meta(&no_owner), Err(MetaRefused::Missing("owner")));
        let mut private = m.clone();
        private.remove("visibility");
        assert_eq!(read_meta(&private).unwrap().visibility, Visibility::Private);
        let mut odd = m;
        odd.insert("visibility".into(), "everyone".into());
        assert!(matches!(
            read_meta(&odd),
            Err(MetaRefused::Invalid("visibility", _))
        ));
    }
}
