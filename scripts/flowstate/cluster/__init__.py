"""The local topology: one module per service (postgres, redis, node, gateway), composed by
topology.Cluster; cli is the command line of scripts/cluster.py. See topology's docstring for the
directory layout and for routes (where a fault proxy goes)."""

from flowstate.cluster.base import Address, ClusterError
from flowstate.cluster.topology import Cluster

__all__ = ["Address", "Cluster", "ClusterError"]
