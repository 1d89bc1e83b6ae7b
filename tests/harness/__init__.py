"""Test harness helpers (real kube-apiserver + etcd, see kube_cluster.py)."""
