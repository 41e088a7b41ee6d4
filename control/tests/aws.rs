//! The `aws` analysis backends (the official SDK's Transcribe and Rekognition clients) against
//! local stand-ins, with the store on a real S3 API (s3s-fs):
//! - moto (PyPI, an AWS emulator) for what it really implements: Transcribe's
//!   StartTranscriptionJob / GetTranscriptionJob job lifecycle (it writes no subtitle files);
//! - our fake (tests/judges/aws_fake.py) for the rest: Rekognition content moderation, and
//!   Transcribe writing its WebVTT; it checks every SigV4 signature with botocore's signer
//!   and refuses fields the API reference does not name, and can throttle or deny.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const STORE: &str = "s3://media/sunomi";

/// Our fake, on a free port, following `scenario` (a file the test may rewrite) and logging
/// every request to `log`.
fn start_fake(scenario: &Path, log: &Path, s3: &S3Server) -> (Process, String) {
    let port = free_port();
    let child = std::process::Command::new(python())
        .arg(judge("aws_fake.py"))
        .arg(port.to_string())
        .arg(scenario)
        .arg(log)
        .arg(format!("http://127.0.0.1:{}", s3.port))
        .envs(s3.env())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("starting the AWS fake");
    wait_until(Duration::from_secs(30), "the AWS fake", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (Process(child), format!("http://127.0.0.1:{port}"))
}

fn requests(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

fn aws_config(analysis: &str, endpoints: &str) -> String {
    format!(
        "{analysis}\n[aws]\nregion = \"us-east-1\"\npoll_initial_ms = 50\npoll_max_secs = 1\njob_timeout_secs = 60\n{endpoints}"
    )
}

/// An S3 server, our fake following `scenario`, and a control plane whose captions and
/// moderation both use `aws` through the fake (`captions_extra`: more `[captions]` keys).
struct FakeAws {
    s3: S3Server,
    url: String,
    scenario: PathBuf,
    log: PathBuf,
    _fake: Process,
    _control: Control,
    api: Api,
}

fn with_fake_aws(dir: &Path, scenario: Value, captions_extra: &str) -> FakeAws {
    let s3 = S3Server::start(&dir.join("s3"));
    let scenario_file = dir.join("scenario.json");
    let log = dir.join("requests.jsonl");
    std::fs::write(&scenario_file, scenario.to_string()).unwrap();
    let (fake_process, fake) = start_fake(&scenario_file, &log, &s3);
    let control = Control::start(Options {
        store: STORE.into(),
        env: s3.env(),
        config: aws_config(
            &format!(
                "[captions]\nbackend = \"aws\"\n{captions_extra}[moderation]\nbackend = \"aws\""
            ),
            &format!(
                "transcribe_endpoint_url = \"{fake}\"\nrekognition_endpoint_url = \"{fake}\"\n"
            ),
        ),
        ..Default::default()
    });
    let api = control.api(&create_key(STORE, &s3.env()));
    FakeAws {
        s3,
        url: fake,
        scenario: scenario_file,
        log,
        _fake: fake_process,
        _control: control,
        api,
    }
}

#[test]
fn the_transcribe_client_drives_motos_job_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("s3"));
    let (_moto, moto) = start_moto();
    let control = Control::start(Options {
        store: STORE.into(),
        env: s3.env(),
        config: aws_config(
            "[captions]\nbackend = \"aws\"",
            &format!("transcribe_endpoint_url = \"{moto}\"\n"),
        ),
        ..Default::default()
    });
    let key = create_key(STORE, &s3.env());
    let api = control.api(&key);
    let src = clip(dir.path(), "clip.mp4", 3.0);
    let (code, out, err) = upload_cli(&src, &api, true);
    assert_eq!(code, 0, "captions never stop publication: {err}");
    let id = out.lines().next().unwrap().to_string();
    let asset = api.asset(&id);
    let stage = &asset["stages"]["captions"];
    // moto ran the job to COMPLETED but writes no files: the stage says so, precisely.
    assert_eq!(stage["status"], "failed", "{asset}");
    let detail = stage["detail"].as_str().unwrap();
    assert!(
        detail.contains("completed but its subtitles") && detail.contains(".vtt are missing"),
        "{detail}"
    );

    // What moto recorded of our StartTranscriptionJob.
    let job = py(
        &format!(
            "import boto3, json\n\
             c = boto3.client('transcribe', endpoint_url='{moto}', region_name='us-east-1')\n\
             name = c.list_transcription_jobs()['TranscriptionJobSummaries'][0]['TranscriptionJobName']\n\
             print(json.dumps(c.get_transcription_job(TranscriptionJobName=name)['TranscriptionJob'], default=str))"
        ),
        &s3.env(),
    );
    let job: Value = serde_json::from_str(&job).unwrap();
    assert_eq!(job["TranscriptionJobStatus"], "COMPLETED", "{job}");
    let name = job["TranscriptionJobName"].as_str().unwrap();
    assert!(name.starts_with(&format!("sunomi-{id}-")), "{name}");
    assert_eq!(
        job["Media"]["MediaFileUri"],
        format!("s3://media/sunomi/videos/{id}/source")
    );
    assert_eq!(job["Subtitles"]["Formats"], json!(["vtt"]));
    assert_eq!(job["Subtitles"]["OutputStartIndex"], 1);
    assert_eq!(
        job["IdentifyLanguage"], true,
        "no language given: identified"
    );
    assert_eq!(job["LanguageCode"], "en-US");
    assert!(job["Subtitles"]["SubtitleFileUris"][0]
        .as_str()
        .unwrap()
        .ends_with(&format!("/media/sunomi/transcribe/{name}.vtt")));
}

/// Labels Rekognition would find: `n` suggestive ones (50–89 %) spread over the clip and one
/// explicit child label at 99 % at 2.5 s.
fn labels(n: usize) -> Vec<Value> {
    let mut out: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "Timestamp": (i * 3000 / n) as i64,
                "ModerationLabel": {
                    "Confidence": 50.0 + (i % 40) as f64,
                    "Name": "Suggestive",
                    "ParentName": "",
                    "TaxonomyLevel": 1
                }
            })
        })
        .collect();
    out.push(json!({
        "Timestamp": 2500,
        "ModerationLabel": {
            "Confidence": 99.1,
            "Name": "Exposed Female Nipple",
            "ParentName": "Explicit Nudity",
            "TaxonomyLevel": 3
        }
    }));
    out
}

const VTT: &str = "WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.500\nHello from Amazon Transcribe,\n\n2\n00:00:01.500 --> 00:00:03.000\nas the fake tells it.\n";

#[test]
fn transcribe_and_rekognition_through_signed_requests_caption_page_and_block() {
    let dir = tempfile::tempdir().unwrap();
    let aws = with_fake_aws(
        dir.path(),
        json!({
            "transcribe": { "vtt": VTT, "polls": 2 },
            "rekognition": { "labels": labels(2300), "polls": 2 }
        }),
        "language = \"en\"\n",
    );
    let (s3, log, api, fake) = (&aws.s3, &aws.log, &aws.api, &aws.url);
    let src = clip(dir.path(), "clip.mp4", 3.0);
    let (code, out, _) = upload_cli(&src, api, true);
    assert_ne!(code, 0, "a blocked asset is not ready");
    let id = out.lines().next().unwrap().to_string();
    let asset = api.wait_final(&id, Duration::from_secs(60));

    // Moderation: every page read, the policy (explicit >= 95 %, parents count) blocks.
    assert_eq!(asset["status"], "blocked", "{asset}");
    let verdict = &asset["moderation"]["verdict"];
    assert_eq!(verdict["backend"], "aws");
    assert_eq!(verdict["label_count"], 2301, "three pages of labels");
    assert_eq!(
        verdict["labels"].as_array().unwrap().len(),
        500,
        "the most confident kept"
    );
    let reason = verdict["reasons"][0].as_str().unwrap();
    assert!(reason.contains("Exposed Female Nipple 99.1%"), "{reason}");
    // Captions: the fake's WebVTT, reshaped and stored beside the video.
    assert_eq!(asset["captions"][0]["language"], "en");
    assert_eq!(asset["captions"][0]["source"], "generated");
    let vtt = std::fs::read_to_string(
        s3.root
            .join(format!("media/sunomi/videos/{id}/subs/en.vtt")),
    )
    .unwrap();
    assert!(vtt.contains("Hello from Amazon Transcribe,"), "{vtt}");

    // What was sent: signed, with the fields the API reference names and no others.
    let sent = requests(log);
    assert!(sent.iter().all(|r| r["signed"] == true), "{sent:?}");
    assert!(sent.iter().all(|r| r["status"] == 200), "{sent:?}");
    let by =
        |target: &str| -> Vec<&Value> { sent.iter().filter(|r| r["target"] == target).collect() };
    let start = by("Transcribe.StartTranscriptionJob");
    assert_eq!(start.len(), 1);
    assert_eq!(
        keys(&start[0]["body"]),
        [
            "LanguageCode",
            "Media",
            "OutputBucketName",
            "OutputKey",
            "Subtitles",
            "TranscriptionJobName"
        ]
    );
    assert_eq!(start[0]["body"]["LanguageCode"], "en-US");
    assert_eq!(start[0]["body"]["OutputBucketName"], "media");
    assert!(
        by("Transcribe.GetTranscriptionJob").len() >= 3,
        "polled until done"
    );
    let moderation = by("RekognitionService.StartContentModeration");
    assert_eq!(moderation.len(), 1);
    let body = &moderation[0]["body"];
    assert_eq!(
        keys(body),
        ["ClientRequestToken", "JobTag", "MinConfidence", "Video"]
    );
    assert_eq!(body["Video"]["S3Object"]["Bucket"], "media");
    assert_eq!(
        body["Video"]["S3Object"]["Name"],
        format!("sunomi/videos/{id}/source")
    );
    assert_eq!(body["MinConfidence"], 50.0);
    let pages: Vec<&Value> = by("RekognitionService.GetContentModeration");
    let tokens: Vec<Option<&str>> = pages
        .iter()
        .map(|p| p["body"]["NextToken"].as_str())
        .collect();
    assert_eq!(
        tokens[tokens.len() - 3..],
        [None, Some("1000"), Some("2000")],
        "polled, then paged with NextToken"
    );
    assert!(pages
        .iter()
        .all(|p| p["body"]["MaxResults"] == 1000 && p["body"]["SortBy"] == "TIMESTAMP"));

    // The judge can fail: a request signed with another secret is refused.
    let refused = py(
        &format!(
            "import boto3, botocore\n\
             c = boto3.client('rekognition', endpoint_url='{fake}', region_name='us-east-1',\n\
                 aws_access_key_id='{}', aws_secret_access_key='wrong')\n\
             try:\n    c.get_content_moderation(JobId='x')\nexcept botocore.exceptions.ClientError as e:\n    print(e.response['Error']['Code'])",
            S3Server::ACCESS_KEY
        ),
        &[],
    );
    assert_eq!(refused.trim(), "InvalidSignatureException");
}

#[test]
fn throttling_is_retried_and_access_denied_is_reported_with_the_aws_message() {
    let dir = tempfile::tempdir().unwrap();
    let aws = with_fake_aws(
        dir.path(),
        json!({
            "transcribe": { "vtt": VTT, "deny": ["StartTranscriptionJob"] },
            "rekognition": { "labels": [], "throttle": { "StartContentModeration": 4 } }
        }),
        "",
    );
    let (scenario, log, api) = (&aws.scenario, &aws.log, &aws.api);
    let src = clip(dir.path(), "clip.mp4", 3.0);

    // Transcribe denies: captions fail with AWS's words, the video is still published.
    // Rekognition throttles four times: the SDK retries three, the job is retried, it passes.
    let (code, out, err) = upload_cli(&src, api, true);
    assert_eq!(code, 0, "{err}");
    let id = out.lines().next().unwrap().to_string();
    let asset = api.asset(&id);
    assert_eq!(asset["status"], "ready");
    let detail = asset["stages"]["captions"]["detail"].as_str().unwrap();
    assert_eq!(asset["stages"]["captions"]["status"], "failed");
    assert!(
        detail.contains("AccessDeniedException")
            && detail.contains("is not authorized to perform: transcribe:StartTranscriptionJob"),
        "{detail}"
    );
    assert_eq!(asset["moderation"]["verdict"]["decision"], "passed");
    let starts: Vec<Value> = requests(log)
        .into_iter()
        .filter(|r| r["target"] == "RekognitionService.StartContentModeration")
        .collect();
    let throttled = starts
        .iter()
        .filter(|r| r["error"] == "ThrottlingException")
        .count();
    assert_eq!(throttled, 4, "{starts:?}");
    assert_eq!(starts.last().unwrap()["status"], 200);

    // Rekognition denies: nothing unmoderated is published; the asset says why.
    std::fs::write(
        scenario,
        json!({
            "transcribe": { "vtt": VTT },
            "rekognition": { "deny": ["StartContentModeration"] }
        })
        .to_string(),
    )
    .unwrap();
    let other = clip(dir.path(), "other.mp4", 2.0);
    let (code, out, _) = upload_cli(&other, api, true);
    assert_ne!(code, 0);
    let id = out.lines().next().unwrap().to_string();
    let asset = api.wait_final(&id, Duration::from_secs(60));
    assert_eq!(asset["status"], "errored", "{asset}");
    let message = asset["errors"]["message"].as_str().unwrap();
    assert!(
        message.contains("AccessDeniedException")
            && message.contains("rekognition:StartContentModeration"),
        "{message}"
    );
}
