"""opp-ci: run OMNeT++ simulation campaigns from CI, on one machine or on AWS ECS."""

__version__ = "0.1.0"
