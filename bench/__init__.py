"""The performance benchmark (`make bench`); see harness.py."""
