"""A stand-in for the parts of Amazon Transcribe and Rekognition that moto does not emulate
(moto 5.2.5 has no Rekognition content moderation and writes no Transcribe subtitle files),
speaking the AWS JSON 1.1 protocol over HTTP.

It judges what the control plane sends, independently of the Rust SDK:
- every request's SigV4 signature is recomputed with botocore's signer (the reference Python
  implementation) from the shared test credentials; a bad one gets 403
  InvalidSignatureException;
- every body may only carry the fields the AWS API reference names for the operation;
  anything else gets 400 SerializationException;
and behaves like the service: jobs in progress for a few polls, then done; Transcribe writes
its WebVTT file to the S3 bucket (the test's S3 server) under OutputKey; Rekognition pages
its labels by MaxResults/NextToken.

The scenario (throttle, deny, labels, captions) is read from a JSON file on every request, so
a test can change it between uploads. Every request is appended to a JSON-lines log.

usage: aws_fake.py PORT SCENARIO_JSON LOG_JSONL S3_ENDPOINT
"""
import hmac
import json
import os
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

PORT, SCENARIO, LOG, S3_ENDPOINT = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ACCESS_KEY = os.environ["AWS_ACCESS_KEY_ID"]
SECRET_KEY = os.environ["AWS_SECRET_ACCESS_KEY"]

# Request fields per operation, from the AWS API reference.
FIELDS = {
    "Transcribe.StartTranscriptionJob": {
        "TranscriptionJobName", "LanguageCode", "MediaSampleRateHertz", "MediaFormat",
        "Media", "OutputBucketName", "OutputKey", "OutputEncryptionKMSKeyId",
        "KMSEncryptionContext", "Settings", "ModelSettings", "JobExecutionSettings",
        "ContentRedaction", "IdentifyLanguage", "IdentifyMultipleLanguages",
        "LanguageOptions", "Subtitles", "Tags", "LanguageIdSettings", "ToxicityDetection",
    },
    "Transcribe.GetTranscriptionJob": {"TranscriptionJobName"},
    "RekognitionService.StartContentModeration": {
        "Video", "MinConfidence", "ClientRequestToken", "NotificationChannel", "JobTag",
    },
    "RekognitionService.GetContentModeration": {
        "JobId", "MaxResults", "NextToken", "SortBy", "AggregateBy",
    },
}
REQUIRED = {
    "Transcribe.StartTranscriptionJob": {"TranscriptionJobName", "Media"},
    "Transcribe.GetTranscriptionJob": {"TranscriptionJobName"},
    "RekognitionService.StartContentModeration": {"Video"},
    "RekognitionService.GetContentModeration": {"JobId"},
}
THROTTLE_CODE = {"transcribe": "LimitExceededException", "rekognition": "ThrottlingException"}

lock = threading.Lock()
state = {"jobs": {}, "throttled": {}, "moderation": {}}


def scenario():
    with open(SCENARIO) as f:
        return json.load(f)


def log(entry):
    with lock, open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")


def signature_ok(handler, body):
    auth = handler.headers.get("Authorization", "")
    m = re.match(
        r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
        r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})$",
        auth,
    )
    if not m:
        return False
    key_id, _date, region, service, signed, signature = m.groups()
    if key_id != ACCESS_KEY:
        return False
    headers = {}
    for name in signed.split(";"):
        value = handler.headers.get(name)
        if value is None:
            return False
        headers[name] = value
    request = AWSRequest(
        method=handler.command,
        url=f"http://{handler.headers['host']}{handler.path}",
        data=body,
        headers=headers,
    )
    request.context["timestamp"] = handler.headers.get("x-amz-date", "")
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return hmac.compare_digest(expected, signature)


def s3():
    return boto3.client(
        "s3",
        endpoint_url=S3_ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )


def transcribe(target, body, sc):
    name = body.get("TranscriptionJobName", "")
    if target.endswith("StartTranscriptionJob"):
        if name in state["jobs"]:
            return 400, {"__type": "ConflictException",
                         "Message": "The requested job name already exists. Use a different job name."}
        state["jobs"][name] = {"request": body, "polls": 0}
        return 200, {"TranscriptionJob": {"TranscriptionJobName": name,
                                          "TranscriptionJobStatus": "IN_PROGRESS"}}
    job = state["jobs"].get(name)
    if job is None:
        return 400, {"__type": "BadRequestException",
                     "Message": "The requested job couldn't be found. Check the job name and try your request again."}
    job["polls"] += 1
    request = job["request"]
    out = {"TranscriptionJobName": name, "Media": request["Media"],
           "Subtitles": {"Formats": ["vtt"], "OutputStartIndex": 1}}
    if job["polls"] <= sc.get("polls", 1):
        out["TranscriptionJobStatus"] = "IN_PROGRESS"
        return 200, {"TranscriptionJob": out}
    bucket = request["OutputBucketName"]
    key = re.sub(r"\.json$", "", request["OutputKey"]) + ".vtt"
    if not job.get("written"):
        s3().put_object(Bucket=bucket, Key=key, Body=sc["vtt"].encode(), ContentType="text/vtt")
        job["written"] = True
    out["TranscriptionJobStatus"] = "COMPLETED"
    out["LanguageCode"] = request.get("LanguageCode") or sc.get("language", "en-US")
    out["Subtitles"]["SubtitleFileUris"] = [f"https://s3.us-east-1.amazonaws.com/{bucket}/{key}"]
    return 200, {"TranscriptionJob": out}


def rekognition(target, body, sc):
    if target.endswith("StartContentModeration"):
        token = body.get("ClientRequestToken") or os.urandom(8).hex()
        job = state["moderation"].setdefault(token, {"id": f"job-{token[:16]}", "polls": 0,
                                                      "request": body})
        state["moderation"][job["id"]] = job
        return 200, {"JobId": job["id"]}
    job = state["moderation"].get(body.get("JobId"))
    if job is None:
        return 400, {"__type": "ResourceNotFoundException", "Message": "Job not found"}
    job["polls"] += 1
    if job["polls"] <= sc.get("polls", 1):
        return 200, {"JobStatus": "IN_PROGRESS"}
    floor = job["request"].get("MinConfidence", 50)
    labels = [l for l in sc.get("labels", []) if l["ModerationLabel"]["Confidence"] >= floor]
    labels.sort(key=lambda l: l["Timestamp"])
    size = min(int(body.get("MaxResults", 1000)), 1000)
    start = int(body.get("NextToken") or 0)
    page = {"JobStatus": "SUCCEEDED", "ModerationModelVersion": "7.0",
            "VideoMetadata": {"Codec": "h264", "DurationMillis": 4000, "Format": "QuickTime / MOV",
                              "FrameRate": 30.0, "FrameHeight": 360, "FrameWidth": 640},
            "ModerationLabels": labels[start:start + size]}
    if start + size < len(labels):
        page["NextToken"] = str(start + size)
    return 200, page


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/x-amz-json-1.1")
        self.send_header("x-amzn-requestid", os.urandom(8).hex())
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body_bytes = self.rfile.read(int(self.headers.get("content-length", 0)))
        target = self.headers.get("x-amz-target", "")
        signed = signature_ok(self, body_bytes)
        try:
            body = json.loads(body_bytes or b"{}")
        except ValueError:
            body = None
        entry = {"target": target, "body": body, "signed": signed}
        service = "transcribe" if target.startswith("Transcribe.") else "rekognition"
        sc = scenario().get(service, {})
        with lock:
            if not signed:
                status, out = 403, {"__type": "InvalidSignatureException",
                                    "message": "The request signature we calculated does not match the signature you provided."}
            elif target not in FIELDS or not isinstance(body, dict):
                status, out = 400, {"__type": "UnknownOperationException"}
            elif set(body) - FIELDS[target] or REQUIRED[target] - set(body):
                status, out = 400, {"__type": "SerializationException",
                                    "Message": f"unexpected {sorted(set(body) - FIELDS[target])} "
                                               f"missing {sorted(REQUIRED[target] - set(body))}"}
            elif target.split(".")[1] in sc.get("deny", []):
                status, out = 400, {"__type": "AccessDeniedException",
                                    "Message": f"User: arn:aws:iam::123456789012:user/sunomi-test is not authorized to perform: {service}:{target.split('.')[1]}"}
            elif state["throttled"].get(target, 0) < sc.get("throttle", {}).get(target.split(".")[1], 0):
                state["throttled"][target] = state["throttled"].get(target, 0) + 1
                status, out = 400, {"__type": THROTTLE_CODE[service], "Message": "Rate exceeded"}
            elif service == "transcribe":
                status, out = transcribe(target, body, sc)
            else:
                status, out = rekognition(target, body, sc)
        entry["status"] = status
        entry["error"] = out.get("__type")
        log(entry)
        self.answer(status, out)


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
