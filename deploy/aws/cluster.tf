# EKS: the services run from the Kubernetes overlay (deploy/k8s/overlays/production), so
# their description — probes, the edges' preStop, the PodDisruptionBudget, the HPA and KEDA's
# scaler on the transcode stream — is written once, for every cluster, not again for ECS.
resource "aws_iam_role" "cluster" {
  name = "${var.name}-cluster"
  assume_role_policy = local.service_trust["eks"]
}

resource "aws_iam_role_policy_attachment" "cluster" {
  role       = aws_iam_role.cluster.name
  policy_arn = "arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"
}

resource "aws_eks_cluster" "main" {
  name                      = var.name
  version                   = var.kubernetes_version
  role_arn                  = aws_iam_role.cluster.arn
  enabled_cluster_log_types = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
  vpc_config {
    subnet_ids              = concat(aws_subnet.private[*].id, aws_subnet.public[*].id)
    endpoint_private_access = true
    endpoint_public_access  = false
  }
  encryption_config {
    resources = ["secrets"]
    provider {
      key_arn = aws_kms_key.main.arn
    }
  }
  depends_on = [aws_iam_role_policy_attachment.cluster, aws_cloudwatch_log_group.main["cluster"]]
}

data "tls_certificate" "oidc" {
  url = aws_eks_cluster.main.identity[0].oidc[0].issuer
}

# The cluster's identity provider: pods exchange their service account token for the pod
# role below (IRSA).
resource "aws_iam_openid_connect_provider" "cluster" {
  url             = aws_eks_cluster.main.identity[0].oidc[0].issuer
  client_id_list  = ["sts.amazonaws.com"]
  thumbprint_list = [data.tls_certificate.oidc.certificates[0].sha1_fingerprint]
}

resource "aws_iam_role" "nodes" {
  name = "${var.name}-nodes"
  assume_role_policy = local.service_trust["ec2"]
}

resource "aws_iam_role_policy_attachment" "nodes" {
  for_each = toset([
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
  ])
  role       = aws_iam_role.nodes.name
  policy_arn = each.value
}

# Two node pools: edges (network-bound, sized for the segment cache) and work (the API and
# transcodes: CPU-bound and bursty; KEDA adds pods, the cluster autoscaler nodes).
locals {
  node_pools = {
    edge = { instance_types = var.edge_instance_types, size = var.edge_nodes }
    work = { instance_types = var.worker_instance_types, size = var.worker_nodes }
  }
}

resource "aws_eks_node_group" "pool" {
  for_each        = local.node_pools
  cluster_name    = aws_eks_cluster.main.name
  node_group_name = each.key
  node_role_arn   = aws_iam_role.nodes.arn
  subnet_ids      = aws_subnet.private[*].id
  instance_types  = each.value.instance_types
  ami_type        = "AL2023_ARM_64_STANDARD"
  labels          = { "sunomi.io/pool" = each.key }
  scaling_config {
    min_size     = each.value.size.min
    desired_size = each.value.size.desired
    max_size     = each.value.size.max
  }
  update_config {
    max_unavailable = 1
  }
  depends_on = [aws_iam_role_policy_attachment.nodes]
}
