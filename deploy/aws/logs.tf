# CloudWatch log groups: the cluster's control plane, the containers (shipped by the
# CloudWatch agent / Fluent Bit add-on), Redis's slow log and the VPC's rejected flows.
locals {
  log_groups = {
    cluster    = "/aws/eks/${var.name}/cluster"
    containers = "/aws/containerinsights/${var.name}/application"
    redis      = "/sunomi/${var.name}/redis"
    flow       = "/sunomi/${var.name}/vpc-flow"
  }
}

resource "aws_cloudwatch_log_group" "main" {
  for_each          = local.log_groups
  name              = each.value
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.main.arn
}
