# Sunomi on AWS: S3 for media (with intake notifications to SQS), RDS PostgreSQL,
# ElastiCache Redis, and an EKS cluster the Kubernetes overlay (deploy/k8s/overlays/production)
# runs on, with the pods' IAM role (IRSA) allowed only what Sunomi calls.
terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      project = "sunomi"
      stack   = var.name
    }
  }
}

locals {
  # The trust policy that lets an AWS service assume a role, by service name.
  service_trust = {
    for service in ["eks", "ec2", "monitoring.rds", "vpc-flow-logs"] : service => jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Effect    = "Allow"
        Principal = { Service = "${service}.amazonaws.com" }
        Action    = "sts:AssumeRole"
      }]
    })
  }
}
