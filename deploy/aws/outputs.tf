output "store" {
  description = "SUNOMI_STORE for every pod."
  value       = "s3://${aws_s3_bucket.media.bucket}/${var.store_prefix}"
}

output "intake_queue_url" {
  description = "The SQS queue of S3 intake events ([intake] queue_url in the control plane's config)."
  value       = aws_sqs_queue.intake.url
}

output "intake_prefix" {
  description = "Where sources put straight into the bucket become videos."
  value       = "s3://${aws_s3_bucket.media.bucket}/${var.intake_prefix}"
}

output "pod_role_arn" {
  description = "The IAM role of the `sunomi` service account (the production overlay's eks.amazonaws.com/role-arn)."
  value       = aws_iam_role.pods.arn
}

output "database_endpoint" {
  description = "host:port of PostgreSQL; the master password is in Secrets Manager (database_secret_arn)."
  value       = aws_db_instance.main.endpoint
}

output "database_secret_arn" {
  description = "Secrets Manager secret holding the database's master credentials."
  value       = aws_db_instance.main.master_user_secret[0].secret_arn
}

output "redis_address" {
  description = "host:port of Redis (TLS; rediss:// with the auth token)."
  value       = "${aws_elasticache_replication_group.main.primary_endpoint_address}:6379"
}

output "redis_auth_token" {
  description = "Redis's auth token (goes into the Secret `sunomi` as part of redis-url)."
  value       = random_password.redis.result
  sensitive   = true
}

output "cluster_name" {
  description = "The EKS cluster (aws eks update-kubeconfig --name …)."
  value       = aws_eks_cluster.main.name
}
