variable "name" {
  description = "Name of this deployment; prefixes every resource (lower case, digits, hyphens)."
  type        = string
  default     = "sunomi"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name))
    error_message = "name: 2 to 31 lower-case letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  description = "AWS region (Transcribe and Rekognition Video must be offered there)."
  type        = string
  default     = "eu-west-1"
}

variable "vpc_cidr" {
  description = "CIDR of the VPC; split into public and private subnets over availability_zones."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "Availability zones used (at least two: RDS, ElastiCache and EKS need two)."
  type        = list(string)
  default     = ["eu-west-1a", "eu-west-1b"]
}

variable "media_bucket" {
  description = "Name of the S3 bucket for sources, mezzanines and records (globally unique)."
  type        = string
}

variable "store_prefix" {
  description = "Prefix inside the bucket Sunomi's store uses (SUNOMI_STORE = s3://bucket/prefix)."
  type        = string
  default     = "v1"
}

variable "intake_prefix" {
  description = "Prefix under which sources put straight into the bucket become videos (S3 events to SQS)."
  type        = string
  default     = "intake/"
}

variable "upload_origins" {
  description = "Web origins allowed to upload to the bucket from browsers (CORS)."
  type        = list(string)
  default     = ["https://sunomi.example.org"]
}

variable "source_retention_days" {
  description = "Days an intake source is kept after it became a video (its mezzanines stay)."
  type        = number
  default     = 30
}

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL database."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_multi_az" {
  description = "Run the database with a standby in a second zone."
  type        = bool
  default     = true
}

variable "redis_node_type" {
  description = "ElastiCache node type of Redis (jobs, fleet coordination)."
  type        = string
  default     = "cache.t4g.small"
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version."
  type        = string
  default     = "1.33"
}

variable "edge_instance_types" {
  description = "Instance types of the edge node group (network- and CPU-bound)."
  type        = list(string)
  default     = ["c7g.large"]
}

variable "worker_instance_types" {
  description = "Instance types of the worker node group (transcodes: CPU-bound)."
  type        = list(string)
  default     = ["c7g.xlarge"]
}

variable "edge_nodes" {
  description = "Edge node group size: min, desired, max."
  type        = object({ min = number, desired = number, max = number })
  default     = { min = 3, desired = 3, max = 12 }
}

variable "worker_nodes" {
  description = "Worker node group size: min, desired, max (KEDA scales pods; the cluster autoscaler nodes)."
  type        = object({ min = number, desired = number, max = number })
  default     = { min = 1, desired = 1, max = 10 }
}

variable "namespace" {
  description = "Kubernetes namespace the pods run in (the production overlay's)."
  type        = string
  default     = "sunomi"
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the cluster's and the containers' logs (a year: audit trails)."
  type        = number
  default     = 365
}
