//! S3 event intake against moto (PyPI's AWS emulator) as both the bucket and the queue: moto
//! sends the bucket's `ObjectCreated` notifications to its SQS queue, wired as
//! `deploy/aws/storage.tf` wires AWS (events under `intake/` to one queue). The control
//! plane reads that queue with the AWS SDK's SQS client; the store is the same bucket
//! (`s3://media/sunomi`) through object_store.

mod common;

use std::time::Duration;

use common::people::{signed_up, wait_ready};
use common::*;
use serde_json::{json, Value};

const STORE: &str = "s3://media/sunomi";

fn moto_env(moto: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", moto),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// boto3 clients for moto, in every snippet.
const CLIENTS: &str = "import boto3, json, os, sys\n\
    e = os.environ['AWS_ENDPOINT_URL']\n\
    s3 = boto3.client('s3', endpoint_url=e)\n\
    sqs = boto3.client('sqs', endpoint_url=e)\n";

/// The bucket, the queue, and the bucket's notifications of `.mp4` objects created under
/// `intake/` to the queue (the tests announce other objects by hand, with sequencers).
/// Returns the queue's URL.
fn make_bucket_and_queue(env: &[(String, String)]) -> String {
    let code = format!(
        "{CLIENTS}\
         s3.create_bucket(Bucket='media')\n\
         q = sqs.create_queue(QueueName='sunomi-intake')['QueueUrl']\n\
         arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=['QueueArn'])['Attributes']['QueueArn']\n\
         s3.put_bucket_notification_configuration(Bucket='media', NotificationConfiguration={{\n\
           'QueueConfigurations': [{{'QueueArn': arn, 'Events': ['s3:ObjectCreated:*'],\n\
             'Filter': {{'Key': {{'FilterRules': [{{'Name': 'prefix', 'Value': 'intake/'}}, {{'Name': 'suffix', 'Value': '.mp4'}}]}}}}}}]}})\n\
         print(q)"
    );
    py(&code, env).trim().to_string()
}

/// Puts `file` at `key` with `metadata` (x-amz-meta-…).
fn put(env: &[(String, String)], file: &std::path::Path, key: &str, metadata: Value) {
    let code = format!(
        "{CLIENTS}\
         s3.put_object(Bucket='media', Key=sys.argv[1], Body=open(sys.argv[2], 'rb'), Metadata=json.loads(sys.argv[3]))"
    );
    py_args(
        &code,
        &[key, file.to_str().unwrap(), &metadata.to_string()],
        env,
    );
}

/// Sends `body` to the queue as one more message.
fn send(env: &[(String, String)], queue: &str, body: &str) {
    let code = format!("{CLIENTS}sqs.send_message(QueueUrl=sys.argv[1], MessageBody=sys.argv[2])");
    py_args(&code, &[queue, body], env);
}

/// Messages in the queue, visible or taken and not yet deleted.
fn queued(env: &[(String, String)], queue: &str) -> u64 {
    let code = format!(
        "{CLIENTS}\
         a = sqs.get_queue_attributes(QueueUrl=sys.argv[1], AttributeNames=['All'])['Attributes']\n\
         print(int(a['ApproximateNumberOfMessages']) + int(a['ApproximateNumberOfMessagesNotVisible']))"
    );
    py_args(&code, &[queue], env).trim().parse().unwrap()
}

/// An S3 notification as AWS writes it, with a sequencer (moto's have none).
fn notification(key: &str, size: u64, etag: &str, sequencer: &str) -> String {
    json!({ "Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-12-06T12:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": { "s3SchemaVersion": "1.0", "configurationId": "intake",
            "bucket": { "name": "media", "arn": "arn:aws:s3:::media" },
            "object": { "key": key, "size": size, "eTag": etag, "sequencer": sequencer } }
    }]})
    .to_string()
}

fn intake_config(queue: &str) -> String {
    format!(
        "[intake]\nqueue_url = \"{queue}\"\nwait_secs = 1\nvisibility_timeout_secs = 2\n[aws]\nregion = \"us-east-1\"\n"
    )
}

fn metric(control: &Control, outcome: &str) -> f64 {
    control
        .metric(&format!(
            "sunomi_intake_objects_total{{outcome=\"{outcome}\"}}"
        ))
        .unwrap_or(0.0)
}

#[test]
fn an_object_put_under_the_intake_prefix_becomes_one_video_even_when_announced_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (_moto, moto) = start_moto();
    let env = moto_env(&moto);
    let queue = make_bucket_and_queue(&env);

    // Ada has an account (made through a control plane that does not read the queue yet).
    let first = Control::start(Options {
        store: STORE.into(),
        env: env.clone(),
        ..Default::default()
    });
    let ada = signed_up(&first, "Ada");
    let listen = first.base.trim_start_matches("http://").to_string();
    drop(first);

    // Her film goes straight into the bucket; moto announces it on the queue. SQS delivers
    // at least once: the same notification arrives a second time.
    let film = clip(dir.path(), "film.mp4", 2.0);
    let size = std::fs::metadata(&film).unwrap().len();
    put(
        &env,
        &film,
        "intake/ada/Her film.mp4",
        json!({ "owner": "ada@example.org", "title": "Caf%C3%A9 at dawn", "visibility": "public",
                "description": "Shot on a phone" }),
    );
    let announced = py_args(
        &format!(
            "{CLIENTS}\
             ms = sqs.receive_message(QueueUrl=sys.argv[1], MaxNumberOfMessages=10, VisibilityTimeout=0, WaitTimeSeconds=1).get('Messages', [])\n\
             bodies = [m['Body'] for m in ms if 'Records' in json.loads(m['Body'])]\n\
             print(json.dumps(bodies))"
        ),
        &[&queue],
        &env,
    );
    let bodies: Vec<String> = serde_json::from_str(&announced).unwrap();
    assert_eq!(bodies.len(), 1, "moto announced the put once: {bodies:?}");
    let record: Value = serde_json::from_str(&bodies[0]).unwrap();
    // Form-encoded, as S3 sends keys (moto encodes the slashes too).
    let announced_key = record["Records"][0]["s3"]["object"]["key"]
        .as_str()
        .unwrap();
    assert!(announced_key.ends_with("Her+film.mp4"), "{announced_key}");
    send(&env, &queue, &bodies[0]);

    // The control plane reads the queue: one video, Ada's, titled from the metadata.
    let control = Control::start(Options {
        store: STORE.into(),
        env: env.clone(),
        config: intake_config(&queue),
        listen: Some(listen),
        ..Default::default()
    });
    wait_until(Duration::from_secs(60), "both deliveries taken", || {
        metric(&control, "created") + metric(&control, "duplicate") >= 2.0
            && queued(&env, &queue) == 0
    });
    assert_eq!(metric(&control, "created"), 1.0);
    assert_eq!(metric(&control, "duplicate"), 1.0);
    let mine = ada.send("GET", "/api/v1/me/videos", &[], vec![]).json();
    let videos = mine["data"].as_array().unwrap();
    assert_eq!(videos.len(), 1, "{mine}");
    assert_eq!(videos[0]["title"], "Café at dawn");
    assert_eq!(videos[0]["description"], "Shot on a phone");
    assert_eq!(videos[0]["visibility"], "public");
    let id = videos[0]["id"].as_str().unwrap().to_string();
    let ready = wait_ready(&ada, &id);
    assert_eq!(ready["status"], "ready", "{ready}");
    // Its source is a copy in the store, the size announced.
    let head = py_args(
        &format!(
            "{CLIENTS}print(s3.head_object(Bucket='media', Key=sys.argv[1])['ContentLength'])"
        ),
        &[&format!(
            "sunomi/videos/{}/source",
            ready["asset_id"].as_str().unwrap_or(&id)
        )],
        &env,
    );
    assert_eq!(head.trim(), size.to_string());

    // S3's own notifications carry a sequencer (moto's do not): versions of one key are
    // ordered by it. This object is announced by hand (moto announces only `.mp4`).
    let etag = |key: &str| {
        py_args(
            &format!("{CLIENTS}print(s3.head_object(Bucket='media', Key=sys.argv[1])['ETag'].strip('\"'))"),
            &[key],
            &env,
        )
        .trim()
        .to_string()
    };
    let key = "intake/ada/take.mov";
    let take = clip(dir.path(), "take.mp4", 1.0);
    let take_size = std::fs::metadata(&take).unwrap().len();
    put(
        &env,
        &take,
        key,
        json!({ "owner": "ada@example.org", "title": "Take one" }),
    );
    let first_take = notification(key, take_size, &etag(key), "0055AED6DCD90281E5");
    send(&env, &queue, &first_take);
    // An older version's notification, delivered late, and the first one again.
    send(
        &env,
        &queue,
        &notification(key, 10, "0123456789abcdef", "0055AED6DCD90281E4"),
    );
    send(&env, &queue, &first_take);
    wait_until(Duration::from_secs(60), "the sequenced deliveries", || {
        queued(&env, &queue) == 0
            && metric(&control, "created")
                + metric(&control, "stale")
                + metric(&control, "duplicate")
                >= 5.0
    });
    assert_eq!(metric(&control, "created"), 2.0);
    assert_eq!(metric(&control, "stale"), 1.0);
    assert_eq!(metric(&control, "duplicate"), 2.0);
    // The key put again is a new version (a greater sequencer): a second video of it.
    let retake = clip(dir.path(), "retake.mp4", 1.5);
    put(
        &env,
        &retake,
        key,
        json!({ "owner": "ada@example.org", "title": "Take two" }),
    );
    let retake_size = std::fs::metadata(&retake).unwrap().len();
    send(
        &env,
        &queue,
        &notification(key, retake_size, &etag(key), "0055AED6DCD90281E6"),
    );
    wait_until(Duration::from_secs(60), "the retake", || {
        metric(&control, "created") == 3.0 && queued(&env, &queue) == 0
    });
    // A notification of a version the bucket no longer holds makes nothing (its successor's
    // notification decides).
    send(
        &env,
        &queue,
        &notification(
            key,
            take_size,
            "ffffffffffffffffffffffffffffffff",
            "0055AED6DCD90281E7",
        ),
    );
    wait_until(Duration::from_secs(60), "the superseded one", || {
        metric(&control, "superseded") == 1.0 && queued(&env, &queue) == 0
    });
    let mine = ada.send("GET", "/api/v1/me/videos", &[], vec![]).json();
    let mut titles: Vec<(&str, &str)> = mine["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["title"].as_str().unwrap(),
                v["visibility"].as_str().unwrap(),
            )
        })
        .collect();
    titles.sort();
    // Private unless the metadata says otherwise.
    assert_eq!(
        titles,
        [
            ("Café at dawn", "public"),
            ("Take one", "private"),
            ("Take two", "private")
        ]
    );
}

#[test]
fn intake_refuses_objects_without_an_owner_and_leaves_strange_messages_for_the_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let (_moto, moto) = start_moto();
    let env = moto_env(&moto);
    let queue = make_bucket_and_queue(&env);
    let control = Control::start(Options {
        store: STORE.into(),
        env: env.clone(),
        config: intake_config(&queue),
        ..Default::default()
    });
    let file = clip(dir.path(), "nobody.mp4", 1.0);
    // No such account; no title; objects outside the prefix are not announced at all.
    put(
        &env,
        &file,
        "intake/nobody.mp4",
        json!({ "owner": "nobody@example.org", "title": "Lost" }),
    );
    put(
        &env,
        &file,
        "intake/untitled.mp4",
        json!({ "owner": "x@example.org" }),
    );
    put(
        &env,
        &file,
        "elsewhere/film.mp4",
        json!({ "owner": "x@example.org", "title": "t" }),
    );
    wait_until(Duration::from_secs(60), "both refusals", || {
        metric(&control, "refused") == 2.0 && queued(&env, &queue) == 0
    });
    assert_eq!(metric(&control, "created"), 0.0);
    // A refusal is recorded: the same notification again is a duplicate, not a new attempt.
    let etag = py_args(
        &format!("{CLIENTS}print(s3.head_object(Bucket='media', Key='intake/nobody.mp4')['ETag'].strip('\"'))"),
        &[],
        &env,
    );
    let size = std::fs::metadata(&file).unwrap().len();
    let moto_style = json!({ "Records": [{ "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": { "bucket": { "name": "media" },
                "object": { "key": "intake/nobody.mp4", "size": size, "eTag": etag.trim() } } }] });
    send(&env, &queue, &moto_style.to_string());
    wait_until(Duration::from_secs(60), "the repeat", || {
        metric(&control, "duplicate") == 1.0 && queued(&env, &queue) == 0
    });
    // A message that is no S3 notification stays on the queue (for its dead-letter queue).
    send(&env, &queue, "{\"hello\": \"world\"}");
    wait_until(Duration::from_secs(60), "the strange message read", || {
        control
            .metric("sunomi_intake_messages_total{result=\"malformed\"}")
            .unwrap_or(0.0)
            >= 1.0
    });
    assert_eq!(queued(&env, &queue), 1, "left for another delivery");
    assert_eq!(metric(&control, "created"), 0.0);
}

#[test]
fn a_control_plane_killed_mid_intake_makes_the_video_once_after_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (_moto, moto) = start_moto();
    let env = moto_env(&moto);
    let queue = make_bucket_and_queue(&env);
    let mut options = Options {
        store: STORE.into(),
        env: env.clone(),
        config: intake_config(&queue),
        ..Default::default()
    };
    // Killed after the video and its intake record are committed and the source copied,
    // before the upload is finished.
    let mut dying = options.clone();
    dying
        .env
        .push(("SUNOMI_FAILPOINT".into(), "finish.before_commit".into()));
    let mut control = Control::start(dying);
    options.listen = Some(control.base.trim_start_matches("http://").to_string());
    let ada = signed_up(&control, "Ada");
    let film = clip(dir.path(), "film.mp4", 1.0);
    put(
        &env,
        &film,
        "intake/film.mp4",
        json!({ "owner": "ada@example.org", "title": "Interrupted" }),
    );
    wait_until(
        Duration::from_secs(30),
        "the failpoint to kill control",
        || control.process.0.try_wait().ok().flatten().is_some(),
    );
    drop(control);

    // After the restart the upload sweeper finishes the upload, and the notification,
    // delivered again (its message was never deleted), is a duplicate.
    let control = Control::start(options);
    wait_until(Duration::from_secs(60), "the redelivery", || {
        metric(&control, "duplicate") >= 1.0 && queued(&env, &queue) == 0
    });
    assert_eq!(metric(&control, "created"), 0.0);
    let mine = ada.send("GET", "/api/v1/me/videos", &[], vec![]).json();
    let videos = mine["data"].as_array().unwrap();
    assert_eq!(videos.len(), 1, "{mine}");
    let ready = wait_ready(&ada, videos[0]["id"].as_str().unwrap());
    assert_eq!(ready["title"], "Interrupted");
}
