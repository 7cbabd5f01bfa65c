"""System adapters for the reload benchmark: corral, haproxy, nginx."""
