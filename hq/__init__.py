"""Head office: the chain's member registry and its distribution, chain reports, partitions, housekeeping, chain API."""
