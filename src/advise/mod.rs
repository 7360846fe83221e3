//! Advice: the routing that minimises demand-weighted user latency within
//! capacity, failover and change limits, and its translation into what
//! Route 53 and Global Accelerator can express.
