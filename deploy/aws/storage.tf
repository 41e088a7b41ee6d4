# The media bucket: sources, CMAF mezzanines and the records the edges read, under
# `store_prefix`; sources put straight into `intake_prefix` become videos (S3 events to SQS,
# read by the control plane).
resource "aws_kms_key" "main" {
  description         = "${var.name}: media, queue, database, Redis and logs at rest"
  enable_key_rotation = true
  policy              = data.aws_iam_policy_document.kms.json
}

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:A key policy names the key itself as "*"; the account statement delegates to IAM policies, as AWS's default key policy does.
  #checkov:skip=CKV_AWS_356:A key policy's resource is always "*" (the key it is attached to).
  #checkov:skip=CKV_AWS_109:As above: the account root statement is what lets IAM policies grant use of the key.
  statement {
    sid       = "Account"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid       = "S3Notifications"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
  }
  statement {
    sid       = "Logs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_s3_bucket" "media" {
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles storage; versioning keeps deleted media 30 days. Add a replication rule where a second region is required.
  bucket = var.media_bucket
}

# Neither bucket is ever public (players get media from the edges), and both keep versions.
locals {
  buckets = { media = aws_s3_bucket.media.id, logs = aws_s3_bucket.logs.id }
}

resource "aws_s3_bucket_public_access_block" "all" {
  for_each                = local.buckets
  bucket                  = each.value
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "all" {
  for_each = local.buckets
  bucket   = each.value
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_ownership_controls" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.main.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  # Multipart uploads a client abandoned (browser uploads, large sources) cost storage.
  rule {
    id     = "abort-incomplete-multipart"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }
  # Intake sources are copied into the store when they become videos; the copy in intake
  # goes after `source_retention_days`.
  rule {
    id     = "expire-intake-sources"
    status = "Enabled"
    filter {
      prefix = var.intake_prefix
    }
    expiration {
      days = var.source_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 7
    }
  }
  # Replaced or deleted mezzanines and records: older versions go after 30 days (a deleted
  # video is recoverable for that long).
  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {
      prefix = "${var.store_prefix}/"
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
  }
}

resource "aws_s3_bucket_cors_configuration" "media" {
  bucket = aws_s3_bucket.media.id
  # Browsers upload parts straight to S3 with presigned URLs (direct uploads); they read
  # each part's ETag to complete the upload.
  cors_rule {
    allowed_methods = ["PUT", "POST"]
    allowed_origins = var.upload_origins
    allowed_headers = ["*"]
    expose_headers  = ["ETag"]
    max_age_seconds = 3600
  }
}

resource "aws_s3_bucket_logging" "media" {
  bucket        = aws_s3_bucket.media.id
  target_bucket = aws_s3_bucket.logs.id
  target_prefix = "s3/${var.media_bucket}/"
}

# Access logs of the media bucket.
resource "aws_s3_bucket" "logs" {
  #checkov:skip=CKV_AWS_144:Access logs are not replicated; they expire after 90 days.
  #checkov:skip=CKV_AWS_145:S3 server access logging delivers only to buckets encrypted with SSE-S3, not SSE-KMS.
  #checkov:skip=CKV2_AWS_62:Nothing consumes events of the access-log bucket.
  #checkov:skip=CKV_AWS_18:This is the access-log bucket; logging it to itself would loop.
  bucket = "${var.media_bucket}-logs"
}

resource "aws_s3_bucket_server_side_encryption_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "logs" {
  bucket = aws_s3_bucket.logs.id
  rule {
    id     = "expire"
    status = "Enabled"
    filter {}
    expiration {
      days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# S3 ObjectCreated events under the intake prefix, delivered at least once to this queue;
# the control plane reads it (idempotent per key and sequencer).
resource "aws_sqs_queue" "intake" {
  name                       = "${var.name}-intake"
  visibility_timeout_seconds = 120
  message_retention_seconds  = 1209600
  kms_master_key_id          = aws_kms_key.main.id
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.intake_dead.arn
    maxReceiveCount     = 5
  })
}

resource "aws_sqs_queue" "intake_dead" {
  name                      = "${var.name}-intake-dead"
  message_retention_seconds = 1209600
  kms_master_key_id         = aws_kms_key.main.id
}

data "aws_iam_policy_document" "intake_queue" {
  statement {
    sid       = "S3Events"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.intake.arn]
    principals {
      type        = "Service"
      identifiers = ["s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.media.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_sqs_queue_policy" "intake" {
  queue_url = aws_sqs_queue.intake.id
  policy    = data.aws_iam_policy_document.intake_queue.json
}

resource "aws_s3_bucket_notification" "intake" {
  bucket = aws_s3_bucket.media.id
  queue {
    queue_arn     = aws_sqs_queue.intake.arn
    events        = ["s3:ObjectCreated:*"]
    filter_prefix = var.intake_prefix
  }
  depends_on = [aws_sqs_queue_policy.intake]
}
