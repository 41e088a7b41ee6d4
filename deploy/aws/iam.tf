# The pods' role (IRSA): only the calls Sunomi makes, on the bucket, prefixes and queue it
# uses. Transcribe and Rekognition read the source from S3 with the caller's rights, and
# Transcribe writes its transcript to the store prefix.
data "aws_iam_policy_document" "pods_trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.cluster.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "${replace(aws_iam_openid_connect_provider.cluster.url, "https://", "")}:sub"
      values   = ["system:serviceaccount:${var.namespace}:sunomi"]
    }
    condition {
      test     = "StringEquals"
      variable = "${replace(aws_iam_openid_connect_provider.cluster.url, "https://", "")}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "pods" {
  name               = "${var.name}-pods"
  assume_role_policy = data.aws_iam_policy_document.pods_trust.json
}

data "aws_iam_policy_document" "pods" {
  #checkov:skip=CKV_AWS_356:Rekognition's StartContentModeration and GetContentModeration accept no resource ARN (AWS's service authorization reference); every other statement names its resource.
  statement {
    sid     = "Store"
    actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = [
      "${aws_s3_bucket.media.arn}/${var.store_prefix}/*",
    ]
  }
  # Intake reads the objects (HEAD, the source of a CopyObject); the lifecycle rule deletes them.
  statement {
    sid       = "Intake"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.media.arn}/${var.intake_prefix}*"]
  }
  statement {
    sid       = "List"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.media.arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.store_prefix}/*", var.intake_prefix, "${var.intake_prefix}*"]
    }
  }
  statement {
    sid       = "Keys"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = [aws_kms_key.main.arn]
  }
  statement {
    sid       = "IntakeQueue"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage"]
    resources = [aws_sqs_queue.intake.arn]
  }
  # Rekognition names no resource for these calls (AWS's service authorization
  # reference): "*" is the narrowest there is.
  statement {
    sid       = "Captions"
    actions   = ["transcribe:StartTranscriptionJob", "transcribe:GetTranscriptionJob"]
    resources = ["arn:aws:transcribe:${var.region}:${data.aws_caller_identity.current.account_id}:transcription-job/*"]
  }
  statement {
    sid       = "Moderation"
    actions   = ["rekognition:StartContentModeration", "rekognition:GetContentModeration"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "pods" {
  name   = "sunomi"
  role   = aws_iam_role.pods.id
  policy = data.aws_iam_policy_document.pods.json
}

resource "aws_iam_role" "rds_monitoring" {
  name = "${var.name}-rds-monitoring"
  assume_role_policy = local.service_trust["monitoring.rds"]
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_iam_role" "flow_logs" {
  name = "${var.name}-flow-logs"
  assume_role_policy = local.service_trust["vpc-flow-logs"]
}

resource "aws_iam_role_policy" "flow_logs" {
  name = "flow-logs"
  role = aws_iam_role.flow_logs.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = "${aws_cloudwatch_log_group.main["flow"].arn}:*"
    }]
  })
}
