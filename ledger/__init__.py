"""The ledger: canonical entries, hash chains, the Merkle log, checkpoints, bundles and their verification."""
